//! `/service/webhooks` over HTTP: registration, update, deletion and listing.

use reqwest::StatusCode;
use serde_json::json;

use crate::flows::new_id;
use crate::harness::{assert_error, expect_json, expect_status, TestServer};
use crate::schema;

#[tokio::test]
async fn webhooks_are_registered_updated_listed_and_deleted_without_leaking_keys() {
    let server = TestServer::start().await;
    let post = schema::example("webhook-post.json");
    let created = expect_json(
        server.post("/service/webhooks", &post).await,
        StatusCode::CREATED,
    )
    .await;
    schema::assert_valid("webhook-get.json", &created);
    assert!(created.get("api_key_value").is_none());
    assert_eq!(created["status"], "created");
    let id = created["id"].as_str().unwrap().to_owned();
    let got = server.get_json(&format!("/service/webhooks/{id}")).await;
    schema::assert_valid("webhook-get.json", &got);
    assert_eq!(got, created);

    let second = json!({"url": "http://127.0.0.1:9/a", "events": ["flows/created"], "tags": {"team": ["x", "y"]}, "status": "disabled"});
    let second = expect_json(
        server.post("/service/webhooks", &second).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(second["status"], "disabled");

    let list = server.get_json("/service/webhooks").await;
    schema::assert_valid_list("webhook-get.json", &list);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["url"], "http://127.0.0.1:9/a", "sorted by url");
    let rev = server
        .get_json("/service/webhooks?reverse_order=true")
        .await;
    assert_eq!(rev[1]["url"], "http://127.0.0.1:9/a");
    assert_eq!(
        server
            .get_json("/service/webhooks?tag.team=y")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        server
            .get_json("/service/webhooks?tag_exists.team=false")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        server
            .get_json("/service/webhooks?limit=1")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let mut put = schema::example("webhook-put.json");
    put["id"] = json!(id);
    put["url"] = json!("https://example.org/hook2");
    put["status"] = json!("disabled");
    let updated = expect_json(
        server.put(&format!("/service/webhooks/{id}"), &put).await,
        StatusCode::CREATED,
    )
    .await;
    schema::assert_valid("webhook-get.json", &updated);
    assert_eq!(updated["status"], "disabled");
    assert_eq!(
        server.get_json(&format!("/service/webhooks/{id}")).await["url"],
        "https://example.org/hook2"
    );
    put["id"] = json!(new_id());
    assert_error(
        server.put(&format!("/service/webhooks/{id}"), &put).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let other = new_id();
    put["id"] = json!(other);
    assert_error(
        server
            .put(&format!("/service/webhooks/{other}"), &put)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    expect_status(
        server.delete(&format!("/service/webhooks/{id}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_error(
        server.get(&format!("/service/webhooks/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.delete(&format!("/service/webhooks/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn bad_registrations_are_refused() {
    let server = TestServer::start().await;
    for bad in [
        json!({"url": "ftp://example.org", "events": ["flows/created"]}),
        json!({"url": "not a url", "events": ["flows/created"]}),
        json!({"url": "http://example.org", "events": ["flows/exploded"]}),
        json!({"events": ["flows/created"]}),
        json!({"url": "http://example.org", "events": ["flows/created"], "status": "started"}),
        json!({"url": "http://example.org", "events": ["flows/created"], "flow_ids": ["nope"]}),
    ] {
        assert_error(
            server.post("/service/webhooks", &bad).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    assert_error(
        server.get("/service/webhooks/xyz").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.get("/service/webhooks?tag_exists.a=2").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(server
        .get_json("/service/webhooks")
        .await
        .as_array()
        .unwrap()
        .is_empty());
}
