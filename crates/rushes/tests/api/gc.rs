//! Garbage collection of media: unregistered objects after their timeout and unreferenced
//! ones after the grace period lose their bytes; referenced objects keep them.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{expect_status, TestServer};
use crate::segments::{allocate, list, new_flow, put_bytes, register};

/// Whether a file named `id` exists under `dir`.
fn has_file(dir: &Path, id: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            has_file(&p, id)
        } else {
            p.file_name().is_some_and(|n| n == id)
        }
    })
}

/// Whether the bytes of `id` are stored: a file under the data dir's `media/` on local
/// disk, or the object in the server's S3 bucket and prefix (read with the `AWS_*`
/// credentials the suite runs with).
async fn has_bytes(server: &TestServer, id: &str) -> bool {
    match server.object_store_url() {
        None => has_file(&server.data_dir().join("media"), id),
        Some(s3) => {
            let base = url::Url::parse(&server.base_url).unwrap();
            let store = rushes_objects::MediaStore::open_url(s3, base)
                .await
                .unwrap();
            store.exists(id).await.unwrap()
        }
    }
}

async fn status_of(url: &str) -> StatusCode {
    reqwest::Client::new()
        .get(url)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn unreferenced_and_unregistered_objects_lose_their_bytes_referenced_ones_keep_them() {
    let server = TestServer::start_with(&[
        "--gc-grace",
        "1",
        "--object-timeout",
        "2",
        "--worker-interval",
        "1",
    ])
    .await;
    let flow = new_flow(&server).await;
    let objs = allocate(&server, &flow, json!({"limit": 3})).await;
    for (_, url, ct) in &objs {
        put_bytes(&server, url, ct, b"media bytes").await;
    }
    let (kept, dropped, never) = (&objs[0].0, &objs[1].0, &objs[2].0);
    register(
        &server,
        &flow,
        &json!([
            {"object_id": kept, "timerange": "[0:0_1:0)"},
            {"object_id": dropped, "timerange": "[1:0_2:0)", "ts_offset": "1:0"},
        ]),
    )
    .await;
    let (segs, _) = list(&server, &format!("/flows/{flow}/segments")).await;
    let kept_url = segs[0]["get_urls"][0]["url"].as_str().unwrap().to_owned();
    let dropped_url = segs[1]["get_urls"][0]["url"].as_str().unwrap().to_owned();
    expect_status(
        server
            .delete(&format!("/flows/{flow}/segments?timerange=[1:0_2:0)"))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert!(has_bytes(&server, never).await, "uploaded bytes are stored");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dropped_gone = status_of(&dropped_url).await == StatusCode::NOT_FOUND;
        let never_gone = !has_bytes(&server, never).await;
        if dropped_gone && never_gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "objects not collected in time: dropped gone {dropped_gone}, never gone {never_gone}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The referenced object is untouched, well past its own allocation timeout.
    assert_eq!(status_of(&kept_url).await, StatusCode::OK);
    assert!(has_bytes(&server, kept).await);
    assert!(!has_bytes(&server, dropped).await);
    assert_eq!(
        server.get(&format!("/objects/{dropped}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let o = server.get_json(&format!("/objects/{kept}")).await;
    crate::schema::assert_valid("object.json", &o);
    // A collected object can no longer be registered.
    let resp = server
        .post(
            &format!("/flows/{flow}/segments"),
            &json!({"object_id": never, "timerange": "[5:0_6:0)"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
