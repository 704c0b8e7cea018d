//! Sources over HTTP: created with their Flows, read, listed, and their properties edited.

use reqwest::StatusCode;
use serde_json::json;

use crate::flows::{audio_flow, create_flow, new_id, video_flow};
use crate::harness::{assert_error, expect_status, TestServer};
use crate::schema;

#[tokio::test]
async fn a_source_is_created_by_its_first_flow_and_takes_its_label() {
    let server = TestServer::start().await;
    let sid = new_id();
    create_flow(&server, &video_flow(&new_id(), &sid)).await;
    let source = server.get_json(&format!("/sources/{sid}")).await;
    schema::assert_valid("source.json", &source);
    assert_eq!(source["id"], json!(sid));
    assert_eq!(source["format"], "urn:x-nmos:format:video");
    assert_eq!(source["label"], "camera one");
    assert!(source["created"].is_string() && source["updated"].is_string());
    assert_error(
        server.get(&format!("/sources/{}", new_id())).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(server.get("/sources/1234").await, StatusCode::NOT_FOUND).await;
    let head = expect_status(
        server.head(&format!("/sources/{sid}")).await,
        StatusCode::OK,
    )
    .await;
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn source_properties_can_be_read_set_and_deleted() {
    let server = TestServer::start().await;
    let sid = new_id();
    create_flow(&server, &video_flow(&new_id(), &sid)).await;
    let p = |s: &str| format!("/sources/{sid}/{s}");

    let tags = server.get_json(&p("tags")).await;
    schema::assert_valid("tags.json", &tags);
    assert_eq!(tags, json!({}));
    expect_status(
        server.put(&p("tags/owner"), &json!("news desk")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        server.put(&p("tags/list"), &json!(["a", "b"])).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(server.get_json(&p("tags/owner")).await, json!("news desk"));
    assert_eq!(
        server.get_json(&p("tags")).await,
        json!({"owner": "news desk", "list": ["a", "b"]})
    );
    expect_status(
        server.delete(&p("tags/owner")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_error(server.get(&p("tags/owner")).await, StatusCode::NOT_FOUND).await;
    assert_error(server.delete(&p("tags/owner")).await, StatusCode::NOT_FOUND).await;
    assert_error(
        server.put(&p("tags/x"), &json!({"a": 1})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    expect_status(
        server.put(&p("label"), &json!("studio")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(server.get_json(&p("label")).await, json!("studio"));
    expect_status(server.delete(&p("label")).await, StatusCode::NO_CONTENT).await;
    assert_error(server.get(&p("label")).await, StatusCode::NOT_FOUND).await;
    expect_status(
        server
            .put(&p("description"), &json!("the studio feed"))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        server.get_json(&p("description")).await,
        json!("the studio feed")
    );
    expect_status(
        server.delete(&p("description")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_error(server.get(&p("description")).await, StatusCode::NOT_FOUND).await;
    assert_error(
        server.put(&p("label"), &json!(false)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let source = server.get_json(&format!("/sources/{sid}")).await;
    schema::assert_valid("source.json", &source);
    assert_eq!(source["tags"], json!({"list": ["a", "b"]}));
    assert!(source.get("label").is_none() && source.get("description").is_none());

    let unknown = new_id();
    assert_error(
        server
            .put(&format!("/sources/{unknown}/label"), &json!("x"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.get(&format!("/sources/{unknown}/tags")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.put("/sources/zzz/label", &json!("x")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn sources_list_with_filters_sorts_and_pages() {
    let server = TestServer::start().await;
    let mut sids = Vec::new();
    for i in 0..4 {
        let sid = new_id();
        let mut f = video_flow(&new_id(), &sid);
        f["label"] = json!(format!("s{i}"));
        create_flow(&server, &f).await;
        sids.push(sid);
    }
    let audio_sid = new_id();
    create_flow(&server, &audio_flow(&new_id(), &audio_sid)).await;
    expect_status(
        server
            .put(&format!("/sources/{}/tags/k", sids[1]), &json!(["x", "y"]))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        server.delete(&format!("/sources/{}/label", sids[2])).await,
        StatusCode::NO_CONTENT,
    )
    .await;

    let count = |v: &serde_json::Value| v.as_array().unwrap().len();
    let all = server.get_json("/sources").await;
    schema::assert_valid_list("source.json", &all);
    assert_eq!(count(&all), 5);
    assert_eq!(
        all[0]["id"],
        json!(audio_sid),
        "most recently created first"
    );
    assert_eq!(
        count(
            &server
                .get_json("/sources?format=urn:x-nmos:format:audio")
                .await
        ),
        1
    );
    assert_eq!(count(&server.get_json("/sources?label=s3").await), 1);
    assert_eq!(count(&server.get_json("/sources?tag.k=y").await), 1);
    assert_eq!(
        count(&server.get_json("/sources?tag_exists.k=false").await),
        4
    );
    let updated = server.get_json("/sources?sort_by=updated").await;
    assert_eq!(updated[0]["id"], json!(sids[2]));
    let by_label = server.get_json("/sources?sort_by=label").await;
    let labels: Vec<_> = by_label
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].clone())
        .collect();
    assert_eq!(
        labels,
        [
            json!("capture_1"),
            json!("s0"),
            json!("s1"),
            json!("s3"),
            serde_json::Value::Null
        ]
    );
    let rev = server
        .get_json("/sources?sort_by=label&reverse_order=true")
        .await;
    assert_eq!(
        rev[0]["id"],
        json!(sids[2]),
        "unlabelled first when reversed"
    );

    let mut seen = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let path = match &page {
            None => "/sources?limit=2".to_owned(),
            Some(k) => format!("/sources?limit=2&page={k}"),
        };
        let resp = expect_status(server.get(&path).await, StatusCode::OK).await;
        let key = crate::harness::header(&resp, "x-paging-nextkey");
        assert!(crate::harness::header(&resp, "x-paging-count").is_some());
        let body = crate::harness::json(resp).await;
        schema::assert_valid_list("source.json", &body);
        seen.extend(
            body.as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned()),
        );
        match key {
            Some(k) => page = Some(k),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);

    for bad in [
        "/sources?sort_by=name",
        "/sources?reverse_order=maybe",
        "/sources?tag.k=",
        "/sources?format=x",
        "/sources?tag_exists.k=",
    ] {
        let resp = server.get(bad).await;
        if bad == "/sources?tag.k=" {
            // An empty value list is allowed by the spec's pattern and matches nothing.
            assert_eq!(
                count(&crate::harness::expect_json(resp, StatusCode::OK).await),
                0
            );
        } else {
            assert_error(resp, StatusCode::BAD_REQUEST).await;
        }
    }
}
