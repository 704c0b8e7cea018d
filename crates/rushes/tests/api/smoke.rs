//! Smoke tests: the server starts, answers `/` and `/service` per the spec, and stops cleanly.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{expect_json, expect_status, header, TestServer};
use crate::schema;

#[tokio::test]
async fn root_lists_the_top_level_paths() {
    let server = TestServer::start().await;
    let body = expect_json(server.get("/").await, StatusCode::OK).await;
    schema::assert_valid_inline(
        &json!({"type": "array", "items": {"type": "string"}}),
        &body,
    );
    let paths: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for expected in ["service", "flows", "sources", "flow-delete-requests"] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
}

#[tokio::test]
async fn head_root_has_no_body() {
    let server = TestServer::start().await;
    let resp = expect_status(server.head("/").await, StatusCode::OK).await;
    assert!(resp.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn service_is_valid_and_declares_api_version_8_2() {
    let server = TestServer::start().await;
    let body = expect_json(server.get("/service").await, StatusCode::OK).await;
    schema::assert_valid("service.json", &body);
    assert_eq!(body["api_version"], "8.2");
    let service_type = body["type"].as_str().unwrap();
    assert!(
        service_type.starts_with("urn:x-tams:service"),
        "service type {service_type:?}"
    );
}

#[tokio::test]
async fn head_service_matches_get_without_a_body() {
    let server = TestServer::start().await;
    let get = expect_status(server.get("/service").await, StatusCode::OK).await;
    let head = expect_status(server.head("/service").await, StatusCode::OK).await;
    assert_eq!(header(&head, "content-type"), header(&get, "content-type"));
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_path_is_not_found() {
    let server = TestServer::start().await;
    let resp = server.get("/no-such-endpoint").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly_and_it_restarts_on_the_same_data_dir() {
    let mut server = TestServer::start().await;
    let data_dir = server.data_dir().to_path_buf();
    server.restart().await; // asserts a successful exit on SIGTERM
    assert_eq!(server.data_dir(), data_dir);
    let body = server.get_json("/service").await;
    schema::assert_valid("service.json", &body);
    let status = server.stop().await;
    assert!(status.success(), "exit status {status}");
}
