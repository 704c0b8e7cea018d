//! The end-to-end path of media: create a flow, allocate storage, upload bytes to the
//! signed URL, register segments, list them and read every URL back: the same bytes.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{expect_status, media_on_s3, TestServer};
use crate::segments::{allocate, list, new_flow, put_bytes, register};

#[tokio::test]
async fn bytes_written_through_signed_urls_come_back_through_get_urls() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let objects = allocate(&server, &flow, json!({"limit": 3})).await;
    assert_eq!(objects.len(), 3);
    let payloads: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            (0..10_000u32)
                .map(|b| (b as u8).wrapping_mul(i + 1))
                .collect()
        })
        .collect();
    for ((id, url, ct), bytes) in objects.iter().zip(&payloads) {
        assert_eq!(ct, "video/mp2t");
        server.assert_signed_media_url(url, id);
        put_bytes(&server, url, ct, bytes).await;
        let again = server
            .client
            .put(url)
            .header("content-type", ct)
            .body(b"other".to_vec())
            .send()
            .await
            .unwrap();
        if media_on_s3() {
            // S3 cannot refuse a second upload to a presigned PUT URL: it replaces the
            // object (docs/STORAGE.md, "Presigned URLs"). Upload the payload again so the
            // reads below check the bytes written last.
            assert!(
                again.status().is_success(),
                "second PUT of {id} on S3: {}",
                again.status()
            );
            put_bytes(&server, url, ct, bytes).await;
        } else {
            // The media endpoint's upload URL writes once: a second PUT does not replace
            // the object.
            assert!(
                !again.status().is_success(),
                "second PUT of {id}: {}",
                again.status()
            );
        }
    }
    let segments: Vec<_> = objects
        .iter()
        .enumerate()
        .map(|(i, (id, _, _))| json!({"object_id": id, "timerange": format!("[{i}:0_{}:0)", i + 1), "ts_offset": format!("{i}:0")}))
        .collect();
    register(&server, &flow, &json!(segments)).await;

    let (body, _) = list(
        &server,
        &format!("/flows/{flow}/segments?timerange=[0:0_3:0)"),
    )
    .await;
    let listed = body.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for (seg, ((id, _, _), bytes)) in listed.iter().zip(objects.iter().zip(&payloads)) {
        assert_eq!(seg["object_id"], id.as_str());
        let urls = seg["get_urls"].as_array().unwrap();
        assert!(!urls.is_empty());
        for u in urls {
            let url = u["url"].as_str().unwrap();
            assert!(url.starts_with("http://"), "absolute URL {url}");
            // No credentials beyond the URL itself.
            let resp = reqwest::Client::new().get(url).send().await.unwrap();
            let resp = expect_status(resp, StatusCode::OK).await;
            assert_eq!(resp.headers()["content-type"], "video/mp2t");
            assert_eq!(
                resp.bytes().await.unwrap().as_ref(),
                bytes.as_slice(),
                "bytes of {id}"
            );
        }
    }
    // A tampered URL is refused.
    let url = listed[0]["get_urls"][0]["url"].as_str().unwrap();
    let tampered = url.replace(objects[0].0.as_str(), objects[1].0.as_str());
    let resp = reqwest::Client::new().get(&tampered).send().await.unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    if media_on_s3() {
        // The S3 server's signature check: the signed key no longer matches.
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
}
