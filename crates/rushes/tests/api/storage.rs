//! `/flows/{id}/storage`: allocation by count or by id, content types, and the rules
//! around objects allocated but not yet registered.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{assert_error, expect_json, TestServer};
use crate::schema;
use crate::segments::{allocate, new_flow, post_segments, put_bytes, register};

#[tokio::test]
async fn allocation_by_limit_or_ids_gives_absolute_signed_put_urls() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let objs = allocate(&server, &flow, json!({"limit": 5})).await;
    assert_eq!(objs.len(), 5);
    for (id, url, ct) in &objs {
        // The server's own media endpoint on local disk, the S3 server's presigned URL on S3.
        server.assert_signed_media_url(url, id);
        assert_eq!(ct, "video/mp2t");
    }
    let mut ids: Vec<&String> = objs.iter().map(|o| &o.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5);

    // Client-chosen ids.
    let chosen = ["clip-0001.ts", "clip-0002.ts"];
    let objs = allocate(&server, &flow, json!({"object_ids": chosen})).await;
    assert_eq!(
        objs.iter().map(|o| o.0.as_str()).collect::<Vec<_>>(),
        chosen
    );
    // ... which must be new.
    assert_error(
        server
            .post(
                &format!("/flows/{flow}/storage"),
                &json!({"object_ids": ["clip-0002.ts", "clip-0003.ts"]}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Nothing of a refused request is kept: clip-0003.ts is still free.
    allocate(&server, &flow, json!({"object_ids": ["clip-0003.ts"]})).await;

    // The storage backend advertised by the service is accepted; another is not.
    let backends = server.get_json("/service/storage-backends").await;
    let sid = backends[0]["id"].as_str().unwrap();
    allocate(&server, &flow, json!({"limit": 1, "storage_id": sid})).await;
    assert_error(
        server
            .post(
                &format!("/flows/{flow}/storage"),
                &json!({"storage_id": uuid::Uuid::new_v4().to_string()}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // An init segment content type is carried by the URL.
    let objs = allocate(
        &server,
        &flow,
        json!({"limit": 1, "content_type": "video/mp4"}),
    )
    .await;
    assert_eq!(objs[0].2, "video/mp4");
    let v = expect_json(
        server
            .post(&format!("/flows/{flow}/storage"), &json!({}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    schema::assert_valid("flow-storage.json", &v);
    assert!(!v["media_objects"].as_array().unwrap().is_empty());

    for bad in [
        json!({"limit": 1, "object_ids": ["x"]}),
        json!({"limit": "many"}),
        json!({"object_ids": ["a/b"]}),
        json!({"limit": 0}),
        json!([]),
    ] {
        assert_error(
            server.post(&format!("/flows/{flow}/storage"), &bad).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let unknown = uuid::Uuid::new_v4();
    assert_error(
        server
            .post(&format!("/flows/{unknown}/storage"), &json!({"limit": 1}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn allocated_objects_are_invisible_until_registered_and_belong_to_their_flow() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let other = new_flow(&server).await;
    let (id, url, ct) = allocate(&server, &flow, json!({"limit": 1}))
        .await
        .remove(0);
    put_bytes(&server, &url, &ct, b"bytes").await;
    // Allocated, not registered: 404 (the spec's MUST).
    assert_error(
        server.get(&format!("/objects/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Another flow may not take an object allocated for this one before it is registered.
    let seg = json!({"object_id": id, "timerange": "[0:0_1:0)"});
    assert_error(
        post_segments(&server, &other, &seg).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    register(&server, &flow, &seg).await;
    let obj = server.get_json(&format!("/objects/{id}")).await;
    schema::assert_valid("object.json", &obj);
    // Once registered, any flow may reuse it (edit by reference).
    register(
        &server,
        &other,
        &json!({"object_id": id, "timerange": "[10:0_11:0)", "ts_offset": "10:0"}),
    )
    .await;
}
