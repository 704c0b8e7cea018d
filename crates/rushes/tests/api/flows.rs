//! Flows over HTTP: create and replace, every format, properties, read-only, collections,
//! Profiles, listings with filters, sorts and paging, and error answers.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{assert_error, expect_json, expect_status, header, TestServer};
use crate::schema;

pub fn new_id() -> String {
    Uuid::new_v4().to_string()
}

/// A minimal valid video Flow.
pub fn video_flow(id: &str, source_id: &str) -> Value {
    json!({
        "id": id,
        "source_id": source_id,
        "format": "urn:x-nmos:format:video",
        "codec": "video/h264",
        "container": "video/mp2t",
        "label": "camera one",
        "tags": {"genre": "news", "crew": ["a", "b"]},
        "essence_parameters": {"frame_width": 1920, "frame_height": 1080, "frame_rate": {"numerator": 25}}
    })
}

/// A minimal valid audio Flow.
pub fn audio_flow(id: &str, source_id: &str) -> Value {
    let mut f = schema::example("flow-put.json");
    f["id"] = json!(id);
    f["source_id"] = json!(source_id);
    f
}

/// PUTs a new Flow, asserting 201 and a valid body; returns the body.
pub async fn create_flow(server: &TestServer, flow: &Value) -> Value {
    let id = flow["id"].as_str().unwrap();
    let body = expect_json(
        server.put(&format!("/flows/{id}"), flow).await,
        StatusCode::CREATED,
    )
    .await;
    schema::assert_valid("flow-get.json", &body);
    body
}

/// GETs a Flow, asserting 200 and a valid body.
pub async fn get_flow(server: &TestServer, path: &str) -> Value {
    let body = server.get_json(path).await;
    schema::assert_valid("flow-get.json", &body);
    body
}

#[tokio::test]
async fn put_creates_with_201_then_replaces_with_204_and_creates_the_source() {
    let server = TestServer::start().await;
    let (fid, sid) = (new_id(), new_id());
    let flow = audio_flow(&fid, &sid);
    let created = create_flow(&server, &flow).await;
    assert_eq!(created["id"], json!(fid));
    assert_eq!(created["codec"], "audio/aac");
    assert!(created["created"].is_string() && created["metadata_updated"].is_string());

    let got = get_flow(&server, &format!("/flows/{fid}")).await;
    assert_eq!(got["label"], "capture_1");
    assert_eq!(got["essence_parameters"]["sample_rate"], 48000);

    let source = server.get_json(&format!("/sources/{sid}")).await;
    schema::assert_valid("source.json", &source);
    assert_eq!(source["format"], "urn:x-nmos:format:audio");

    let mut changed = flow.clone();
    changed["label"] = json!("renamed");
    changed["timerange"] = json!("[0:0_10:0)"); // store-managed: ignored
    expect_status(
        server.put(&format!("/flows/{fid}"), &changed).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let got = get_flow(&server, &format!("/flows/{fid}")).await;
    assert_eq!(got["label"], "renamed");
    assert_eq!(
        got["created"], created["created"],
        "created is kept on replace"
    );
    assert_ne!(got["metadata_version"], created["metadata_version"]);
    assert!(got.get("timerange").is_none());

    // HEAD answers like GET, without a body.
    let head = expect_status(server.head(&format!("/flows/{fid}")).await, StatusCode::OK).await;
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn every_format_of_the_spec_examples_is_accepted() {
    let server = TestServer::start().await;
    for example in [
        "flow-get-200-video-h264.json",
        "flow-get-200-video-raw.json",
        "flow-get-200-video-h264-vfr.json",
        "flow-get-200-video-jpeg-mxf.json",
        "flow-get-200-audio-aac.json",
        "flow-get-200-audio-wav.json",
        "flow-get-200-image-jpeg.json",
        "flow-get-200-data-ttml.json",
    ] {
        let mut flow = schema::example(example);
        let fid = new_id();
        flow["id"] = json!(fid);
        flow["source_id"] = json!(new_id());
        flow.as_object_mut().unwrap().remove("flow_collection");
        let created = create_flow(&server, &flow).await;
        assert_eq!(created["format"], flow["format"], "{example}");
        let got = get_flow(&server, &format!("/flows/{fid}")).await;
        assert_eq!(
            got["essence_parameters"], flow["essence_parameters"],
            "{example}"
        );
    }
}

#[tokio::test]
async fn a_flow_cannot_join_a_source_of_another_format_nor_mismatch_its_path() {
    let server = TestServer::start().await;
    let sid = new_id();
    create_flow(&server, &video_flow(&new_id(), &sid)).await;
    let fid = new_id();
    assert_error(
        server
            .put(&format!("/flows/{fid}"), &audio_flow(&fid, &sid))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        server
            .put(
                &format!("/flows/{}", new_id()),
                &audio_flow(&fid, &new_id()),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        server.get(&format!("/flows/{fid}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn properties_can_be_read_set_and_deleted() {
    let server = TestServer::start().await;
    let fid = new_id();
    create_flow(&server, &video_flow(&fid, &new_id())).await;
    let p = |s: &str| format!("/flows/{fid}/{s}");

    // tags
    let tags = server.get_json(&p("tags")).await;
    schema::assert_valid("tags.json", &tags);
    assert_eq!(tags, json!({"genre": "news", "crew": ["a", "b"]}));
    expect_status(
        server
            .put(&p("tags/mood%20x"), &json!(["calm", "dark"]))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        server.get_json(&p("tags/mood%20x")).await,
        json!(["calm", "dark"])
    );
    expect_status(
        server.delete(&p("tags/genre")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_error(server.get(&p("tags/genre")).await, StatusCode::NOT_FOUND).await;
    assert_error(server.delete(&p("tags/genre")).await, StatusCode::NOT_FOUND).await;
    assert_error(
        server.put(&p("tags/x"), &json!(5)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // label and description
    assert_eq!(server.get_json(&p("label")).await, json!("camera one"));
    expect_status(
        server.put(&p("label"), &json!("cam 2")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(server.get_json(&p("label")).await, json!("cam 2"));
    expect_status(server.delete(&p("label")).await, StatusCode::NO_CONTENT).await;
    assert_error(server.get(&p("label")).await, StatusCode::NOT_FOUND).await;
    assert_error(server.get(&p("description")).await, StatusCode::NOT_FOUND).await;
    expect_status(
        server.put(&p("description"), &json!("long text")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(server.get_json(&p("description")).await, json!("long text"));
    expect_status(
        server.delete(&p("description")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_error(
        server.put(&p("label"), &json!(3)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // bit rates
    assert_error(server.get(&p("max_bit_rate")).await, StatusCode::NOT_FOUND).await;
    expect_status(
        server.put(&p("max_bit_rate"), &json!(5000)).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(server.get_json(&p("max_bit_rate")).await, json!(5000));
    expect_status(
        server.put(&p("avg_bit_rate"), &json!(3000)).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(server.get_json(&p("avg_bit_rate")).await, json!(3000));
    assert_error(
        server.put(&p("avg_bit_rate"), &json!(-1)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_status(
        server.delete(&p("max_bit_rate")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_error(server.get(&p("max_bit_rate")).await, StatusCode::NOT_FOUND).await;

    let flow = get_flow(&server, &format!("/flows/{fid}")).await;
    assert_eq!(flow["avg_bit_rate"], 3000);
    assert!(flow.get("label").is_none() && flow.get("max_bit_rate").is_none());
    assert_eq!(flow["tags"]["mood x"], json!(["calm", "dark"]));
}

#[tokio::test]
async fn a_read_only_flow_refuses_changes_but_can_be_made_writable() {
    let server = TestServer::start().await;
    let fid = new_id();
    let flow = video_flow(&fid, &new_id());
    create_flow(&server, &flow).await;
    let p = |s: &str| format!("/flows/{fid}/{s}");
    assert_eq!(server.get_json(&p("read_only")).await, json!(false));
    assert_error(
        server.put(&p("read_only"), &json!("yes")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_status(
        server.put(&p("read_only"), &json!(true)).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(server.get_json(&p("read_only")).await, json!(true));

    assert_error(
        server.put(&format!("/flows/{fid}"), &flow).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        server.put(&p("label"), &json!("x")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        server.put(&p("tags/a"), &json!("x")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        server.delete(&p("description")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        server.delete(&format!("/flows/{fid}")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        get_flow(&server, &format!("/flows/{fid}")).await["label"],
        "camera one"
    );

    expect_status(
        server.put(&p("read_only"), &json!(false)).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        server.put(&p("label"), &json!("x")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
}

#[tokio::test]
async fn collections_derive_collected_by_and_source_collections() {
    let server = TestServer::start().await;
    let (video, audio, multi) = (new_id(), new_id(), new_id());
    let (vs, aus, ms) = (new_id(), new_id(), new_id());
    create_flow(&server, &video_flow(&video, &vs)).await;
    create_flow(&server, &audio_flow(&audio, &aus)).await;
    let multi_flow = json!({
        "id": multi, "source_id": ms, "format": "urn:x-nmos:format:multi", "container": "video/mp2t",
        "flow_collection": [{"id": video, "role": "video"}, {"id": audio, "role": "audio"}]
    });
    create_flow(&server, &multi_flow).await;

    let coll = server
        .get_json(&format!("/flows/{multi}/flow_collection"))
        .await;
    schema::assert_valid("flow-collection.json", &coll);
    assert_eq!(coll[0]["id"], json!(video));
    let v = get_flow(&server, &format!("/flows/{video}")).await;
    assert_eq!(v["collected_by"], json!([multi]));

    let msrc = server.get_json(&format!("/sources/{ms}")).await;
    schema::assert_valid("source.json", &msrc);
    assert_eq!(msrc["format"], "urn:x-nmos:format:multi");
    assert_eq!(
        msrc["source_collection"],
        json!([{"id": vs, "role": "video"}, {"id": aus, "role": "audio"}])
    );
    let vsrc = server.get_json(&format!("/sources/{vs}")).await;
    assert_eq!(vsrc["collected_by"], json!([ms]));

    // Filters on collections.
    let collected = server
        .get_json(&format!("/flows?collected_by_ids={multi}"))
        .await;
    schema::assert_valid_list("flow-get.json", &collected);
    let mut ids: Vec<&str> = collected
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![video.as_str(), audio.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let top = server.get_json("/flows?collected_by_ids=").await;
    assert_eq!(top.as_array().unwrap().len(), 1);
    assert_eq!(top[0]["id"], json!(multi));
    let top_sources = server.get_json("/sources?collected_by_ids=").await;
    schema::assert_valid_list("source.json", &top_sources);
    assert_eq!(top_sources.as_array().unwrap().len(), 1);
    let members = server
        .get_json(&format!("/sources?collected_by_ids={ms}"))
        .await;
    assert_eq!(members.as_array().unwrap().len(), 2);
    assert_error(
        server.get("/flows?collected_by_ids=nope").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Bad collections: unknown member, self, repeats.
    let p = format!("/flows/{multi}/flow_collection");
    assert_error(
        server.put(&p, &json!([{"id": new_id()}])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        server.put(&p, &json!([{"id": multi}])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        server.put(&p, &json!([{"id": video}, {"id": video}])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_status(
        server.put(&p, &json!([{"id": video, "role": "v"}])).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert!(get_flow(&server, &format!("/flows/{audio}"))
        .await
        .get("collected_by")
        .is_none());
    expect_status(server.delete(&p).await, StatusCode::NO_CONTENT).await;
    assert_error(server.get(&p).await, StatusCode::NOT_FOUND).await;
    assert!(get_flow(&server, &format!("/flows/{video}"))
        .await
        .get("collected_by")
        .is_none());
}

#[tokio::test]
async fn flows_created_from_a_profile_take_its_technical_metadata() {
    let server = TestServer::start().await;
    let mut profile = schema::example("profile-put.json");
    let pid = new_id();
    profile["id"] = json!(pid);
    expect_json(
        server
            .post(&format!("/service/profiles/{pid}"), &profile)
            .await,
        StatusCode::CREATED,
    )
    .await;
    let fid = new_id();
    let flow =
        json!({"id": fid, "source_id": new_id(), "label": "from profile", "profile_id": pid});
    let created = create_flow(&server, &flow).await;
    assert_eq!(created["codec"], "video/h264");
    assert_eq!(created["profile_id"], json!(pid));
    assert_eq!(created["essence_parameters"]["frame_width"], 1280);

    // Technical metadata with a profile_id is refused; the inherited avg_bit_rate cannot change.
    let mut both = flow.clone();
    both["codec"] = json!("video/h264");
    assert_error(
        server.put(&format!("/flows/{fid}"), &both).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        server
            .put(&format!("/flows/{fid}/avg_bit_rate"), &json!(1))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // An unknown profile is a bad request.
    let other = new_id();
    let bad = json!({"id": other, "source_id": new_id(), "profile_id": new_id()});
    assert_error(
        server.put(&format!("/flows/{other}"), &bad).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let listed = server.get_json(&format!("/flows?profile_id={pid}")).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Unlinking with "profile_id": "" allows new technical metadata.
    let mut unlinked = video_flow(&fid, created["source_id"].as_str().unwrap());
    unlinked["profile_id"] = json!("");
    expect_status(
        server.put(&format!("/flows/{fid}"), &unlinked).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let got = get_flow(&server, &format!("/flows/{fid}")).await;
    assert!(got.get("profile_id").is_none());
    assert_eq!(got["essence_parameters"]["frame_width"], 1920);
    assert!(server
        .get_json(&format!("/flows?profile_id={pid}"))
        .await
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn listings_filter_sort_and_page() {
    let server = TestServer::start().await;
    let sid = new_id();
    let mut ids = Vec::new();
    for i in 0..5 {
        let fid = new_id();
        let mut f = video_flow(&fid, &sid);
        f["label"] = json!(format!("label {i}"));
        if i % 2 == 0 {
            f["tags"] = json!({"genre": ["news", "sport"]});
        } else {
            f["tags"] = json!({"genre": "drama"});
        }
        if i == 4 {
            f["essence_parameters"]["frame_width"] = json!(1280);
            f["essence_parameters"]["frame_height"] = json!(720);
            f["status"] = json!("ingesting");
        }
        create_flow(&server, &f).await;
        ids.push(fid);
    }
    let audio = new_id();
    create_flow(&server, &audio_flow(&audio, &new_id())).await;

    let count = |v: &Value| v.as_array().unwrap().len();
    let all = server.get_json("/flows").await;
    schema::assert_valid_list("flow-get.json", &all);
    assert_eq!(count(&all), 6);
    // Default sort: most recently created first.
    assert_eq!(all[0]["id"], json!(audio));
    assert_eq!(
        count(
            &server
                .get_json("/flows?format=urn:x-nmos:format:audio")
                .await
        ),
        1
    );
    assert_eq!(count(&server.get_json("/flows?codec=video/h264").await), 5);
    assert_eq!(
        count(&server.get_json(&format!("/flows?source_id={sid}")).await),
        5
    );
    assert_eq!(count(&server.get_json("/flows?label=label%203").await), 1);
    assert_eq!(count(&server.get_json("/flows?tag.genre=sport").await), 3);
    assert_eq!(
        count(&server.get_json("/flows?tag.genre=drama,sport").await),
        5
    );
    assert_eq!(count(&server.get_json("/flows?tag.genre=spo").await), 0);
    assert_eq!(
        count(&server.get_json("/flows?tag_exists.genre=false").await),
        1
    );
    assert_eq!(
        count(
            &server
                .get_json("/flows?tag_exists.input_quality=true")
                .await
        ),
        1
    );
    assert_eq!(
        count(
            &server
                .get_json("/flows?frame_width=1280&frame_height=720")
                .await
        ),
        1
    );
    assert_eq!(count(&server.get_json("/flows?status=ingesting").await), 1);
    assert_eq!(
        count(&server.get_json("/flows?init_segments=false").await),
        6
    );
    // No flow has segments: an empty timerange selects all, any other none.
    assert_eq!(count(&server.get_json("/flows?timerange=()").await), 6);
    assert_eq!(
        count(&server.get_json("/flows?timerange=[0:0_10:0)").await),
        0
    );

    let by_label = server.get_json("/flows?sort_by=label").await;
    assert_eq!(by_label[0]["label"], "capture_1");
    assert_eq!(by_label[1]["label"], "label 0");
    let rev = server
        .get_json("/flows?sort_by=label&reverse_order=true")
        .await;
    assert_eq!(rev[0]["label"], "label 4");

    // Keyset paging: follow Link and X-Paging-NextKey through every page.
    let mut seen = Vec::new();
    let mut next = Some(server.url("/flows?sort_by=label&limit=2"));
    while let Some(url) = next {
        let resp = expect_status(server.get(&url).await, StatusCode::OK).await;
        assert_eq!(header(&resp, "x-paging-limit").as_deref(), Some("2"));
        let link = header(&resp, "link");
        let key = header(&resp, "x-paging-nextkey");
        assert_eq!(link.is_some(), key.is_some());
        let page = crate::harness::json(resp).await;
        schema::assert_valid_list("flow-get.json", &page);
        seen.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|f| f["label"].as_str().unwrap().to_owned()),
        );
        next = link.map(|l| {
            l.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
    }
    assert_eq!(
        seen,
        [
            "capture_1",
            "label 0",
            "label 1",
            "label 2",
            "label 3",
            "label 4"
        ]
    );

    for bad in [
        "/flows?tag.genre=a,,b",
        "/flows?tag_exists.genre=maybe",
        "/flows?reverse_order=1",
        "/flows?init_segments=yes",
        "/flows?sort_by=size",
        "/flows?format=video",
        "/flows?source_id=not-a-uuid",
        "/flows?timerange=yesterday",
        "/flows?limit=0",
        "/flows?page=garbage",
        "/flows?frame_width=wide",
    ] {
        assert_error(server.get(bad).await, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn include_timerange_reports_an_empty_flow_as_empty() {
    let server = TestServer::start().await;
    let fid = new_id();
    create_flow(&server, &video_flow(&fid, &new_id())).await;
    let got = get_flow(&server, &format!("/flows/{fid}?include_timerange=true")).await;
    assert_eq!(got["timerange"], "()");
    let got = get_flow(&server, &format!("/flows/{fid}?timerange=[0:0_5:0)")).await;
    assert_eq!(got["timerange"], "()");
    assert_error(
        server
            .get(&format!("/flows/{fid}?include_timerange=1"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        server.get(&format!("/flows/{fid}?timerange=[x")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn malformed_requests_get_clear_errors() {
    let server = TestServer::start_with(&["--max-body", "2048"]).await;
    let fid = new_id();
    assert_error(server.get("/flows/not-a-uuid").await, StatusCode::NOT_FOUND).await;
    assert_error(
        server.get("/flows/not-a-uuid/tags").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.get("/flows/not-a-uuid/tags/x").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.put("/flows/not-a-uuid/label", &json!("x")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    for sub in [
        "",
        "/tags",
        "/tags/x",
        "/label",
        "/description",
        "/read_only",
        "/flow_collection",
        "/max_bit_rate",
        "/avg_bit_rate",
    ] {
        assert_error(
            server.get(&format!("/flows/{fid}{sub}")).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    assert_error(
        server
            .put(&format!("/flows/{fid}/label"), &json!("x"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.delete(&format!("/flows/{fid}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let raw = |body: &'static str, ct: Option<&'static str>| {
        let mut r = server
            .request(Method::PUT, &format!("/flows/{fid}"))
            .body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.send()
    };
    assert_error(
        raw("{not json", Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        raw("{}", Some("text/plain")).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert_error(
        raw("{}", None).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert_error(
        raw("{}", Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let mut big = video_flow(&fid, &new_id());
    big["description"] = json!("x".repeat(4096));
    assert_error(
        server.put(&format!("/flows/{fid}"), &big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    // Nothing was created by the failed requests.
    assert_error(
        server.get(&format!("/flows/{fid}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(server
        .get_json("/sources")
        .await
        .as_array()
        .unwrap()
        .is_empty());
}
