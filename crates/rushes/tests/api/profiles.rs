//! `/service/profiles` over HTTP: create once, read, list with filters.

use reqwest::StatusCode;
use serde_json::json;

use crate::flows::new_id;
use crate::harness::{assert_error, expect_json, TestServer};
use crate::schema;

#[tokio::test]
async fn profiles_are_created_once_read_and_listed() {
    let server = TestServer::start().await;
    let mut video = schema::example("profile-put.json");
    let vid = new_id();
    video["id"] = json!(vid);
    let created = expect_json(
        server
            .post(&format!("/service/profiles/{vid}"), &video)
            .await,
        StatusCode::CREATED,
    )
    .await;
    schema::assert_valid("profile.json", &created);
    assert!(created["created"].is_string());
    let got = server.get_json(&format!("/service/profiles/{vid}")).await;
    schema::assert_valid("profile.json", &got);
    assert_eq!(got["flow_metadata"], video["flow_metadata"]);

    // A profile never changes: a second POST is refused.
    let mut changed = video.clone();
    changed["label"] = json!("other");
    assert_error(
        server
            .post(&format!("/service/profiles/{vid}"), &changed)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        server.get_json(&format!("/service/profiles/{vid}")).await["label"],
        video["label"]
    );

    let mut image = schema::example("profile-get-200-image.json");
    let iid = new_id();
    image["id"] = json!(iid);
    expect_json(
        server
            .post(&format!("/service/profiles/{iid}"), &image)
            .await,
        StatusCode::CREATED,
    )
    .await;

    let all = server.get_json("/service/profiles").await;
    schema::assert_valid_inline(
        &json!({"type": "array", "items": {"$ref": "profile.json"}}),
        &all,
    );
    assert_eq!(all.as_array().unwrap().len(), 2);
    let videos = server
        .get_json("/service/profiles?format=urn:x-nmos:format:video")
        .await;
    assert_eq!(videos.as_array().unwrap().len(), 1);
    assert_eq!(videos[0]["id"], json!(vid));
    assert_eq!(
        server
            .get_json("/service/profiles?codec=video/h264")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let label = video["label"].as_str().unwrap().replace(' ', "%20");
    assert_eq!(
        server
            .get_json(&format!("/service/profiles?label={label}"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let page = server.get_json("/service/profiles?limit=1").await;
    assert_eq!(page.as_array().unwrap().len(), 1);

    assert_error(
        server.get(&format!("/service/profiles/{}", new_id())).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.get("/service/profiles/nope").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server
            .post(&format!("/service/profiles/{}", new_id()), &video)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let mut multi = video.clone();
    let mid = new_id();
    multi["id"] = json!(mid);
    multi["flow_metadata"] = json!({"format": "urn:x-nmos:format:multi"});
    assert_error(
        server
            .post(&format!("/service/profiles/{mid}"), &multi)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        server.get("/service/profiles?format=video").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
