//! `/flows/{id}/segments`: registration (one, a list, partial failure), overlap rules,
//! listing with every query parameter and paging headers, deletion.
//! Also the helpers the other media tests share (flows, allocation, upload, listing).

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::harness::{assert_error, expect_json, expect_status, header, TestServer};
use crate::schema;

/// Creates a flow (MPEG-TS container) and returns its id.
pub(crate) async fn new_flow(server: &TestServer) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "id": id,
        "source_id": uuid::Uuid::new_v4().to_string(),
        "format": "urn:x-nmos:format:audio",
        "codec": "audio/aac",
        "container": "video/mp2t",
        "essence_parameters": {"sample_rate": 48000, "channels": 2}
    });
    let resp = server.put(&format!("/flows/{id}"), &body).await;
    assert!(resp.status().is_success(), "PUT flow: {}", resp.status());
    id
}

/// Allocates `n` objects for `flow`; returns `(object_id, put_url, content_type)` each.
pub(crate) async fn allocate(
    server: &TestServer,
    flow: &str,
    body: Value,
) -> Vec<(String, String, String)> {
    let resp = server.post(&format!("/flows/{flow}/storage"), &body).await;
    let v = expect_json(resp, StatusCode::CREATED).await;
    schema::assert_valid("flow-storage.json", &v);
    v["media_objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["object_id"].as_str().unwrap().to_owned(),
                o["put_url"]["url"].as_str().unwrap().to_owned(),
                o["put_url"]["content-type"]
                    .as_str()
                    .unwrap_or("video/mp2t")
                    .to_owned(),
            )
        })
        .collect()
}

/// Allocates one object for `flow` and uploads `bytes` to it; returns its id.
pub(crate) async fn upload(server: &TestServer, flow: &str, bytes: &[u8]) -> String {
    let (id, url, ct) = allocate(server, flow, json!({"limit": 1})).await.remove(0);
    put_bytes(server, &url, &ct, bytes).await;
    id
}

/// PUTs `bytes` to a signed upload URL, with no other credentials.
pub(crate) async fn put_bytes(server: &TestServer, url: &str, content_type: &str, bytes: &[u8]) {
    assert!(url.starts_with("http://"), "put_url is absolute: {url}");
    let resp = server
        .client
        .put(url)
        .header("content-type", content_type)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "PUT bytes: {}", resp.status());
}

/// POSTs a segment (or list) to `flow`.
pub(crate) async fn post_segments(server: &TestServer, flow: &str, body: &Value) -> Response {
    server.post(&format!("/flows/{flow}/segments"), body).await
}

/// Registers `body` and asserts 201.
pub(crate) async fn register(server: &TestServer, flow: &str, body: &Value) {
    expect_status(post_segments(server, flow, body).await, StatusCode::CREATED).await;
}

/// GETs `path`, asserts 200 and a valid list of segments; returns the body and the response headers.
pub(crate) async fn list(server: &TestServer, path: &str) -> (Value, reqwest::header::HeaderMap) {
    let resp = expect_status(server.get(path).await, StatusCode::OK).await;
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.unwrap();
    schema::assert_valid_list("flow-segment.json", &body);
    (body, headers)
}

fn timeranges(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|s| s["timerange"].as_str().unwrap().to_owned())
        .collect()
}

fn h(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().unwrap().to_owned())
}

/// `n` one-second segments from `[0:0_1:0)` on, all of `object`, each `ts_offset` so that
/// they use the object's first second.
fn seconds(object: &str, range: std::ops::Range<u32>) -> Value {
    Value::Array(
        range
            .map(|i| json!({"object_id": object, "timerange": format!("[{i}:0_{}:0)", i + 1), "ts_offset": format!("{i}:0")}))
            .collect(),
    )
}

#[tokio::test]
async fn pages_follow_link_headers_in_timeline_order_and_reversed() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let obj = upload(&server, &flow, b"one second").await;
    register(
        &server,
        &flow,
        &json!({"object_id": obj, "timerange": "[0:0_1:0)"}),
    )
    .await;
    register(&server, &flow, &seconds(&obj, 1..25)).await;

    for reverse in [false, true] {
        let mut path = format!("/flows/{flow}/segments?limit=10&reverse_order={reverse}");
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let (body, headers) = list(&server, &path).await;
            pages += 1;
            let n = body.as_array().unwrap().len();
            assert_eq!(h(&headers, "x-paging-limit").as_deref(), Some("10"));
            assert_eq!(h(&headers, "x-paging-count"), Some(n.to_string()));
            assert_eq!(
                h(&headers, "x-paging-reverse-order").as_deref(),
                Some(if reverse { "true" } else { "false" })
            );
            let trs = timeranges(&body);
            // The page's timerange spans its segments.
            let (first, last) = if reverse {
                (trs.last(), trs.first())
            } else {
                (trs.first(), trs.last())
            };
            let start = first
                .unwrap()
                .trim_start_matches('[')
                .split('_')
                .next()
                .unwrap()
                .to_owned();
            let end = last
                .unwrap()
                .trim_end_matches(')')
                .split('_')
                .nth(1)
                .unwrap()
                .to_owned();
            assert_eq!(
                h(&headers, "x-paging-timerange"),
                Some(format!("[{start}_{end})"))
            );
            seen.extend(trs);
            match h(&headers, "link") {
                Some(link) => {
                    assert!(h(&headers, "x-paging-nextkey").is_some());
                    let url = link
                        .trim_start_matches('<')
                        .split(">;")
                        .next()
                        .unwrap()
                        .to_owned();
                    assert!(link.ends_with("rel=\"next\""), "{link}");
                    assert!(url.starts_with(&server.base_url), "absolute link {url}");
                    path = url;
                }
                None => {
                    assert!(h(&headers, "x-paging-nextkey").is_none());
                    break;
                }
            }
        }
        assert_eq!(pages, 3);
        let mut expected: Vec<String> = (0..25).map(|i| format!("[{i}:0_{}:0)", i + 1)).collect();
        if reverse {
            expected.reverse();
        }
        assert_eq!(seen, expected);
    }

    // HEAD answers the same headers without a body.
    let resp = expect_status(
        server
            .head(&format!("/flows/{flow}/segments?limit=10"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(header(&resp, "x-paging-count").as_deref(), Some("10"));
    assert!(header(&resp, "link").is_some());
    assert!(resp.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn every_query_parameter_filters_as_the_spec_says() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let a = upload(&server, &flow, b"aaaa").await;
    let b = upload(&server, &flow, b"bbbb").await;
    register(
        &server,
        &flow,
        &json!([
            {"object_id": a, "timerange": "[0:0_2:0)"},
            {"object_id": b, "timerange": "[2:0_4:0)"},
            {"object_id": a, "timerange": "[4:0_5:0)", "ts_offset": "4:0"},
        ]),
    )
    .await;
    let base = format!("/flows/{flow}/segments");

    // timerange: overlap, with clusivity.
    let (body, headers) = list(&server, &format!("{base}?timerange=[1:0_3:0)")).await;
    assert_eq!(timeranges(&body), ["[0:0_2:0)", "[2:0_4:0)"]);
    assert_eq!(
        h(&headers, "x-paging-timerange").as_deref(),
        Some("[0:0_4:0)")
    );
    let (body, _) = list(&server, &format!("{base}?timerange=[2:0_4:0)")).await;
    assert_eq!(timeranges(&body), ["[2:0_4:0)"]);
    let (body, _) = list(&server, &format!("{base}?timerange=(2:0_4:0]")).await;
    assert_eq!(timeranges(&body), ["[2:0_4:0)", "[4:0_5:0)"]);
    let (body, _) = list(&server, &format!("{base}?timerange=[4:0_")).await;
    assert_eq!(timeranges(&body), ["[4:0_5:0)"]);
    let (body, _) = list(&server, &format!("{base}?timerange=()")).await;
    assert_eq!(timeranges(&body), Vec::<String>::new());
    let (body, _) = list(&server, &format!("{base}?timerange=[9:0_10:0)")).await;
    assert!(body.as_array().unwrap().is_empty());

    // object_id.
    let (body, _) = list(&server, &format!("{base}?object_id={a}")).await;
    assert_eq!(timeranges(&body), ["[0:0_2:0)", "[4:0_5:0)"]);

    // include_object_timerange: the object's own timerange, fixed at first registration.
    let (body, _) = list(&server, &base).await;
    assert!(body[0].get("object_timerange").is_none());
    let (body, _) = list(&server, &format!("{base}?include_object_timerange=true")).await;
    assert_eq!(body[0]["object_timerange"], "[0:0_2:0)");
    assert_eq!(body[2]["object_timerange"], "[0:0_2:0)");
    assert_eq!(body[2]["ts_offset"], "4:0");

    // get_urls: by default one presigned URL with a label and only url/presigned/label.
    let (body, _) = list(&server, &base).await;
    let url = &body[0]["get_urls"][0];
    assert_eq!(url["presigned"], true);
    let label = url["label"].as_str().unwrap().to_owned();
    let keys: Vec<&String> = url.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{url}");
    // verbose_storage adds the backend's metadata.
    let (body, _) = list(&server, &format!("{base}?verbose_storage=true")).await;
    let url = &body[0]["get_urls"][0];
    let storage_id = url["storage_id"].as_str().unwrap().to_owned();
    assert_eq!(url["controlled"], true);
    assert_eq!(url["store_type"], "http_object_store");
    // The storage id is the one the service advertises.
    let backends = server.get_json("/service/storage-backends").await;
    assert!(
        backends
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == storage_id.as_str()),
        "{backends}"
    );

    let count_urls = |body: &Value| {
        body.as_array()
            .unwrap()
            .iter()
            .map(|s| s["get_urls"].as_array().map_or(0, Vec::len))
            .sum::<usize>()
    };
    let cases = [
        (format!("accept_get_urls={label}"), 3),
        ("accept_get_urls=elsewhere".to_owned(), 0),
        ("accept_get_urls=".to_owned(), 0),
        (format!("accept_storage_ids={storage_id}"), 3),
        (format!("accept_storage_ids={}", uuid::Uuid::new_v4()), 0),
        ("presigned=true".to_owned(), 3),
        ("presigned=false".to_owned(), 0),
        ("storage_backend_tag.site=here".to_owned(), 0),
        ("storage_backend_tag_exists.site=false".to_owned(), 3),
        ("storage_backend_tag_exists.site=true".to_owned(), 0),
    ];
    for (query, n) in cases {
        let (body, _) = list(&server, &format!("{base}?{query}")).await;
        assert_eq!(body.as_array().unwrap().len(), 3, "{query}");
        assert_eq!(count_urls(&body), n, "{query}: {body}");
    }
    // An empty accept_get_urls omits get_urls altogether.
    let (body, _) = list(&server, &format!("{base}?accept_get_urls=")).await;
    assert!(body[0].get("get_urls").is_none());

    // Bad values are 400s in the spec's error shape.
    for query in [
        "timerange=nonsense",
        "object_id=a/b",
        "reverse_order=yes",
        "verbose_storage=1",
        "presigned=maybe",
        "include_object_timerange=no",
        "accept_storage_ids=not-a-uuid",
        "storage_backend_tag_exists.x=perhaps",
        "limit=0",
        "limit=many",
        "page=garbage",
    ] {
        assert_error(
            server.get(&format!("{base}?{query}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

#[tokio::test]
async fn overlaps_are_refused_touching_and_instantaneous_segments_are_not() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let obj = upload(&server, &flow, b"media").await;
    let seg =
        |tr: &str| json!({"object_id": obj, "timerange": tr, "object_timerange": "[0:0_10:0)"});
    register(&server, &flow, &seg("[0:0_1:0)")).await;
    // Overlapping: refused, nothing changes.
    for tr in [
        "[0:500000000_2:0)",
        "[0:0_1:0)",
        "(0:999999998_1:0)",
        "[0:0]",
    ] {
        assert_error(
            post_segments(&server, &flow, &seg(tr)).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    // Touching [0_1) then [1_2): allowed.
    register(&server, &flow, &seg("[1:0_2:0)")).await;
    // An instantaneous segment, then one touching it with an exclusive start.
    register(&server, &flow, &seg("[2:0]")).await;
    assert_error(
        post_segments(&server, &flow, &seg("[2:0_3:0)")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    register(&server, &flow, &seg("(2:0_3:0)")).await;

    let (body, _) = list(&server, &format!("/flows/{flow}/segments")).await;
    // Timeranges come back in the form they were registered.
    assert_eq!(
        timeranges(&body),
        ["[0:0_1:0)", "[1:0_2:0)", "[2:0]", "(2:0_3:0)"]
    );
    let (body, _) = list(&server, &format!("/flows/{flow}/segments?timerange=[2:0]")).await;
    assert_eq!(timeranges(&body), ["[2:0]"]);

    // A segment's timerange must be bounded and not empty.
    for tr in ["_", "[5:0_", "_5:0)", "()", "[6:0_5:0)"] {
        assert_error(
            post_segments(&server, &flow, &seg(tr)).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    // The flow's timerange follows its segments.
    let f = server
        .get_json(&format!("/flows/{flow}?include_timerange=true"))
        .await;
    schema::assert_valid("flow-get.json", &f);
    assert_eq!(f["timerange"], "[0:0_3:0)");
}

#[tokio::test]
async fn a_list_with_bad_segments_registers_the_good_ones_and_reports_the_rest() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let obj = upload(&server, &flow, b"media").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let body = json!([
        {"object_id": obj, "timerange": "[0:0_1:0)"},
        {"object_id": obj, "timerange": "[0:500000000_1:500000000)", "object_timerange": "[0:0_1:0)"},
        {"object_id": unknown, "timerange": "[5:0_6:0)"},
    ]);
    let resp = post_segments(&server, &flow, &body).await;
    let v = expect_json(resp, StatusCode::OK).await;
    schema::assert_valid("flow-segment-bulk-failure.json", &v);
    let failed = v["failed_segments"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{v}");
    assert_eq!(failed[0]["timerange"], "[0:500000000_1:500000000)");
    assert_eq!(failed[1]["object_id"], unknown.as_str());
    assert_eq!(failed[1]["error"]["type"], "BadRequest");
    let (listed, _) = list(&server, &format!("/flows/{flow}/segments")).await;
    assert_eq!(timeranges(&listed), ["[0:0_1:0)"]);

    // A single segment that fails is a 400; malformed bodies are 400s too.
    assert_error(
        post_segments(
            &server,
            &flow,
            &json!({"object_id": unknown, "timerange": "[7:0_8:0)"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    for bad in [
        json!({"timerange": "[0:0_1:0)"}),
        json!([]),
        json!(3),
        json!({"object_id": obj, "timerange": "soon"}),
    ] {
        assert_error(
            post_segments(&server, &flow, &bad).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

#[tokio::test]
async fn read_only_flows_refuse_unknown_flows_are_404_and_empty() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let obj = upload(&server, &flow, b"media").await;
    register(
        &server,
        &flow,
        &json!({"object_id": obj, "timerange": "[0:0_1:0)"}),
    )
    .await;
    let resp = server
        .put(&format!("/flows/{flow}/read_only"), &json!(true))
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let seg = json!({"object_id": obj, "timerange": "[1:0_2:0)", "object_timerange": "[0:0_1:0)", "ts_offset": "1:0"});
    assert_error(
        post_segments(&server, &flow, &seg).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        server.delete(&format!("/flows/{flow}/segments")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        server
            .post(&format!("/flows/{flow}/storage"), &json!({"limit": 1}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let (body, _) = list(&server, &format!("/flows/{flow}/segments")).await;
    assert_eq!(body.as_array().unwrap().len(), 1);

    let unknown = uuid::Uuid::new_v4();
    assert_error(
        post_segments(&server, &unknown.to_string(), &seg).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.delete(&format!("/flows/{unknown}/segments")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // The spec: segments of a flow that does not exist are an empty list.
    let (body, _) = list(&server, &format!("/flows/{unknown}/segments")).await;
    assert!(body.as_array().unwrap().is_empty());
    assert_error(
        server.get("/flows/not-a-uuid/segments").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn delete_removes_covered_segments_or_those_of_an_object() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let a = upload(&server, &flow, b"a").await;
    let b = upload(&server, &flow, b"b").await;
    register(
        &server,
        &flow,
        &json!([
            {"object_id": a, "timerange": "[0:0_1:0)"},
            {"object_id": b, "timerange": "[1:0_2:0)"},
            {"object_id": a, "timerange": "[2:0_3:0)", "ts_offset": "2:0"},
            {"object_id": b, "timerange": "[3:0_4:0)", "ts_offset": "2:0"},
        ]),
    )
    .await;
    let base = format!("/flows/{flow}/segments");
    // Only segments entirely inside the range go: [0:500000000_2:0) covers [1_2) only.
    expect_status(
        server
            .delete(&format!("{base}?timerange=[0:500000000_2:0)"))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (body, _) = list(&server, &base).await;
    assert_eq!(timeranges(&body), ["[0:0_1:0)", "[2:0_3:0)", "[3:0_4:0)"]);
    expect_status(
        server.delete(&format!("{base}?object_id={a}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (body, _) = list(&server, &base).await;
    assert_eq!(timeranges(&body), ["[3:0_4:0)"]);
    assert_error(
        server.delete(&format!("{base}?timerange=bad")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_status(server.delete(&base).await, StatusCode::NO_CONTENT).await;
    let (body, _) = list(&server, &base).await;
    assert!(body.as_array().unwrap().is_empty());
    // The object of deleted segments is still there for its grace period.
    let obj = server.get_json(&format!("/objects/{b}")).await;
    schema::assert_valid("object.json", &obj);
    assert_eq!(obj["referenced_by_flows"], json!([]));
}

#[tokio::test]
async fn objects_held_elsewhere_are_registered_with_their_urls() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let ext = "external-object-1";
    let urls = json!([{"url": "https://archive.example.com/o/1", "label": "archive"}]);
    let body = json!([
        {"object_id": ext, "timerange": "[0:0_1:0)", "object_timerange": "[0:0_2:0)", "get_urls": urls},
        {"object_id": ext, "timerange": "[1:0_2:0)", "object_timerange": "[0:0_2:0)", "get_urls": urls},
    ]);
    for item in body.as_array().unwrap() {
        schema::assert_valid("flow-segment-post.json", item);
    }
    register(&server, &flow, &body).await;
    let (listed, _) = list(
        &server,
        &format!("/flows/{flow}/segments?verbose_storage=true"),
    )
    .await;
    for s in listed.as_array().unwrap() {
        assert_eq!(
            s["get_urls"],
            json!([{"url": "https://archive.example.com/o/1", "label": "archive", "controlled": false}])
        );
    }
    let o = server.get_json(&format!("/objects/{ext}")).await;
    schema::assert_valid("object.json", &o);
    assert_eq!(o["timerange"], "[0:0_2:0)");
    // An unknown object without URLs is refused.
    let resp = post_segments(
        &server,
        &flow,
        &json!({"object_id": "external-object-2", "timerange": "[3:0_4:0)"}),
    )
    .await;
    assert_error(resp, StatusCode::BAD_REQUEST).await;
}
