//! `/service` and `/service/storage-backends` over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{assert_error, expect_json, TestServer};
use crate::schema;

#[tokio::test]
async fn post_service_sets_name_and_description_and_they_persist() {
    let mut server = TestServer::start().await;
    let before = server.get_json("/service").await;
    schema::assert_valid("service.json", &before);
    assert!(before.get("name").is_none());
    assert!(before["event_stream_mechanisms"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "webhooks"));

    let body = expect_json(
        server
            .post("/service", &schema::example("service-post.json"))
            .await,
        StatusCode::OK,
    )
    .await;
    schema::assert_valid("service.json", &body);
    let want = schema::example("service-post.json");
    assert_eq!(body["name"], want["name"]);
    expect_json(
        server
            .post("/service", &json!({"description": "second"}))
            .await,
        StatusCode::OK,
    )
    .await;

    server.restart().await;
    let after = server.get_json("/service").await;
    schema::assert_valid("service.json", &after);
    assert_eq!(after["name"], want["name"]);
    assert_eq!(after["description"], "second");

    assert_error(
        server.post("/service", &json!({"name": 5})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let resp = server
        .request(Method::POST, "/service")
        .body("{}")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let resp = server
        .request(Method::POST, "/service")
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn storage_backends_list_the_default_backend_and_filter_by_tags() {
    let server = TestServer::start().await;
    let list = server.get_json("/service/storage-backends").await;
    schema::assert_valid("storage-backends-list.json", &list);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["default_storage"], true);
    assert_eq!(list[0]["store_type"], "http_object_store");
    let rev = server
        .get_json("/service/storage-backends?reverse_order=true")
        .await;
    assert_eq!(rev, list);
    let none = server
        .get_json("/service/storage-backends?tag_exists.region=true")
        .await;
    schema::assert_valid("storage-backends-list.json", &none);
    assert!(none.as_array().unwrap().is_empty());
    let all = server
        .get_json("/service/storage-backends?tag_exists.region=false")
        .await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert!(server
        .get_json("/service/storage-backends?tag.tier=gold")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    assert_error(
        server
            .get("/service/storage-backends?tag_exists.region=1")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        server
            .get("/service/storage-backends?reverse_order=no")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
