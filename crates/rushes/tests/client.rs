//! The integration-test binary `client`: `rushes-client` against the real `rushes serve`
//! on loopback (flows, storage, uploads, segments one by one and in bulk, paging, errors,
//! credentials), and its retry rules against a loopback server that answers 503.
#![allow(clippy::unwrap_used)]

#[path = "api/harness.rs"]
mod harness;
#[path = "api/schema.rs"]
mod schema;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use harness::TestServer;
use rushes_client::model::{
    Flow, FlowId, FlowPut, FlowStatus, FlowStoragePost, MediaObjectUpload, SegmentPost, SourceId,
    TimeRange, TimeRangeText, Timestamp,
};
use rushes_client::{Auth, Client, Error, Query, StatusCode, UploadBody};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn video_flow(id: FlowId, source_id: SourceId) -> FlowPut {
    serde_json::from_value(json!({
        "id": id.to_string(),
        "source_id": source_id.to_string(),
        "format": "urn:x-nmos:format:video",
        "codec": "video/h264",
        "container": "video/mp2t",
        "label": "client test",
        "essence_parameters": {"frame_width": 1920, "frame_height": 1080, "frame_rate": {"numerator": 25}}
    }))
    .unwrap()
}

/// `[i s, i+1 s)`.
fn second(i: i64) -> TimeRangeText {
    TimeRangeText::from(TimeRange::half_open(
        Timestamp::from_secs(i).unwrap(),
        Timestamp::from_secs(i + 1).unwrap(),
    ))
}

fn payload(i: usize) -> Vec<u8> {
    format!("segment {i} ").repeat(10 + i).into_bytes()
}

/// Allocates `n` objects on `flow`, asking again while the store gives fewer.
async fn allocate(client: &Client, flow: FlowId, n: usize) -> Vec<MediaObjectUpload> {
    let mut all = Vec::new();
    while all.len() < n {
        let request = FlowStoragePost {
            limit: Some((n - all.len()) as u64),
            ..FlowStoragePost::default()
        };
        let got = client.allocate_storage(flow, &request).await.unwrap();
        assert!(!got.is_empty(), "the store allocated nothing");
        all.extend(got);
    }
    assert_eq!(all.len(), n);
    all
}

#[tokio::test]
async fn media_round_trip_through_the_client() {
    let server = TestServer::start().await;
    let client = Client::new(&server.base_url, Auth::None).unwrap();

    let service = client.get_service().await.unwrap();
    assert_eq!(service.api_version, "8.2");

    let flow_id = FlowId::new_random();
    let source_id = SourceId::new_random();
    let mut put = video_flow(flow_id, source_id);
    client.put_flow(&put).await.unwrap();
    let flow: Flow = client.get_flow(flow_id).await.unwrap();
    assert_eq!(flow.common.id, flow_id);
    assert_eq!(flow.common.source_id, source_id);
    assert_eq!(flow.common.label.as_deref(), Some("client test"));
    // The Source came with the Flow.
    let source = client.get_source(source_id).await.unwrap();
    assert_eq!(source.id, source_id);

    // Replacing the metadata is a PUT too.
    put.common.status = Some(FlowStatus::Ingesting);
    client.put_flow(&put).await.unwrap();
    let flow = client.get_flow(flow_id).await.unwrap();
    assert_eq!(flow.common.status, Some(FlowStatus::Ingesting));

    // Three objects, uploaded and registered one by one.
    let first = allocate(&client, flow_id, 3).await;
    for (i, obj) in first.iter().enumerate() {
        server.assert_signed_media_url(&obj.put_url.url, obj.object_id.as_str());
        client
            .upload(&obj.put_url, UploadBody::from(payload(i)))
            .await
            .unwrap();
        let failed = client
            .post_segment(
                flow_id,
                &SegmentPost::new(obj.object_id.clone(), second(i as i64)),
            )
            .await
            .unwrap();
        assert!(failed.is_empty(), "{failed:?}");
    }

    // A hundred more, registered as one list; one of them from a file on disk.
    let more = allocate(&client, flow_id, 100).await;
    let dir = tempfile::tempdir().unwrap();
    let mut posts = Vec::new();
    for (k, obj) in more.iter().enumerate() {
        let i = k + 3;
        let body = if k == 0 {
            let path = dir.path().join("segment.ts");
            std::fs::write(&path, payload(i)).unwrap();
            UploadBody::File(path)
        } else {
            UploadBody::from(payload(i))
        };
        client.upload(&obj.put_url, body).await.unwrap();
        posts.push(SegmentPost::new(obj.object_id.clone(), second(i as i64)));
    }
    let failed = client.post_segments(flow_id, &posts).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");

    // Listed back across pages of 7: every timerange, in order, once.
    let mut pages = client.list_segments(flow_id, &Query::new().limit(7));
    let mut segments = Vec::new();
    let mut page_count = 0;
    while let Some(page) = pages.next_page().await.unwrap() {
        assert!(page.len() <= 7);
        page_count += 1;
        segments.extend(page);
    }
    assert_eq!(page_count, 103usize.div_ceil(7));
    assert_eq!(segments.len(), 103);
    let objects: Vec<_> = first.iter().chain(&more).collect();
    for (i, seg) in segments.iter().enumerate() {
        assert_eq!(seg.timerange, second(i as i64), "segment {i}");
        assert_eq!(seg.object_id, objects[i].object_id, "segment {i}");
        // The bytes read back through the store's get_urls are the bytes uploaded.
        let urls = seg.get_urls.as_deref().unwrap_or_default();
        assert!(!urls.is_empty(), "segment {i} has no get_urls");
        let bytes = client.download(&urls[0].url).await.unwrap();
        assert_eq!(&bytes[..], &payload(i)[..], "segment {i}");
    }

    // A timerange selects; the stream of items follows the pages too.
    let window = TimeRange::half_open(
        Timestamp::from_secs(10).unwrap(),
        Timestamp::from_secs(30).unwrap(),
    );
    let in_window: Vec<_> = client
        .list_segments(flow_id, &Query::new().timerange(window).limit(3))
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    let got: Vec<_> = in_window.iter().map(|s| s.timerange.clone()).collect();
    let want: Vec<_> = (10..30).map(second).collect();
    assert_eq!(got, want);

    // The flow's timerange covers every segment.
    let flow: Flow = client
        .get(
            &["flows", &flow_id.to_string()],
            &Query::new().param("include_timerange", "true"),
        )
        .await
        .unwrap();
    assert_eq!(
        flow.common.timerange.unwrap(),
        TimeRange::half_open(Timestamp::ZERO, Timestamp::from_secs(103).unwrap())
    );

    // Objects know their flow.
    let object = client
        .get_object(first[1].object_id.as_str())
        .await
        .unwrap();
    assert_eq!(object.referenced_by_flows, vec![flow_id]);

    // Flows page too, and the generic calls read what the typed ones do.
    for _ in 0..4 {
        client
            .put_flow(&video_flow(FlowId::new_random(), source_id))
            .await
            .unwrap();
    }
    let flows = client
        .list_flows(
            &Query::new()
                .param("source_id", source_id.to_string())
                .limit(2),
        )
        .all()
        .await
        .unwrap();
    assert_eq!(flows.len(), 5);
    assert!(flows.iter().any(|f| f.common.id == flow_id));
    let raw = client
        .get_json(&["flows", &flow_id.to_string()], &Query::new())
        .await
        .unwrap();
    assert_eq!(raw["id"], json!(flow_id.to_string()));

    // A list where one segment overlaps: the store registers the other and says which
    // failed, in its flow-segment-bulk-failure answer.
    let extra = allocate(&client, flow_id, 1).await.remove(0);
    client
        .upload(&extra.put_url, UploadBody::from(payload(103)))
        .await
        .unwrap();
    let failed = client
        .post_segments(
            flow_id,
            &[
                posts[0].clone(),
                SegmentPost::new(extra.object_id.clone(), second(103)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].object_id, posts[0].object_id);
    assert_eq!(failed[0].timerange.as_ref(), Some(&posts[0].timerange));
    let why = failed[0].error.as_ref().expect("the failure says why");
    assert!(!why.summary.is_empty());
    let last = client
        .list_segments(flow_id, &Query::new().timerange(second(103).range()))
        .all()
        .await
        .unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].object_id, extra.object_id);

    // read_only: a later registration is refused with the spec's error body.
    client.set_read_only(flow_id, true).await.unwrap();
    assert!(client.get_flow(flow_id).await.unwrap().read_only());
    let err = client
        .post_segment(
            flow_id,
            &SegmentPost::new(first[0].object_id.clone(), second(500)),
        )
        .await
        .unwrap_err();
    assert!(err.status().unwrap().is_client_error(), "{err}");
    assert!(err.error_body().is_some(), "{err}");
    client.set_read_only(flow_id, false).await.unwrap();
    assert!(!client.get_flow(flow_id).await.unwrap().read_only());
}

#[tokio::test]
async fn errors_keep_the_status_and_the_spec_error_body() {
    let server = TestServer::start().await;
    let client = Client::new(&server.base_url, Auth::None).unwrap();

    let missing = FlowId::new_random();
    let err = client.get_flow(missing).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let body = err
        .error_body()
        .expect("the store sent the spec's error body");
    assert!(!body.error_type.is_empty());
    assert!(!body.summary.is_empty());
    assert!(!body.time.is_empty());
    assert!(err.to_string().contains("404"), "{err}");

    // A POST to a missing flow is not retried and fails the same way.
    let err = client
        .allocate_storage(missing, &FlowStoragePost::default())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.error_body().is_some());

    // A bad body is a 400 with the error body.
    let err = client
        .put_json(&["flows", &missing.to_string()], &json!({"id": "nope"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST), "{err}");
    assert!(err.error_body().is_some());

    // Nothing listens: a transport error.
    let closed = Client::builder("http://127.0.0.1:9", Auth::None)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = closed.get_service().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert_eq!(err.status(), None);

    for bad in ["", "ftp://host/", "http://h/?a=b", "not a url"] {
        assert!(
            matches!(Client::new(bad, Auth::None), Err(Error::InvalidUrl { .. })),
            "{bad:?}"
        );
    }
}

const AUDIENCE: &str = "rushes-client-test";
const ISSUER: &str = "rushes-client-test-issuer";
const HS_SECRET: &str = "static-hs256-secret-for-client-tests";
const PASSWORD: &str = "correct horse battery staple";

fn token(scope: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "client-test",
        "iat": now, "nbf": now - 10, "exp": now + 3600, "scope": scope,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("hs-1".to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn bearer_and_basic_credentials_are_sent() {
    let hash = harness::hash_password(PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rushes.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[auth.jwt]
audience = ["{AUDIENCE}"]
issuer = "{ISSUER}"

[[auth.jwt.keys]]
kid = "hs-1"
alg = "HS256"
secret = "{HS_SECRET}"

[[auth.basic.users]]
name = "editor"
password_hash = "{hash}"
scopes = ["tams-api/read", "tams-api/write"]
"#
        ),
    )
    .unwrap();
    let server = TestServer::start_with(&["--config", config.to_str().unwrap()]).await;
    let url = server.base_url.as_str();

    let anonymous = Client::new(url, Auth::None).unwrap();
    let err = anonymous.get_service().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");
    assert!(err.error_body().is_some());

    let wrong = Client::new(
        url,
        Auth::Basic {
            user: "editor".to_owned(),
            password: "wrong".to_owned(),
        },
    )
    .unwrap();
    let err = wrong.get_service().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");

    let basic = Client::new(
        url,
        Auth::Basic {
            user: "editor".to_owned(),
            password: PASSWORD.to_owned(),
        },
    )
    .unwrap();
    basic.get_service().await.unwrap();
    let flow_id = FlowId::new_random();
    basic
        .put_flow(&video_flow(flow_id, SourceId::new_random()))
        .await
        .unwrap();
    // The put URL is its own credential: the upload carries none and succeeds.
    let obj = allocate(&basic, flow_id, 1).await.remove(0);
    basic
        .upload(&obj.put_url, UploadBody::from(payload(0)))
        .await
        .unwrap();

    let bearer = Client::new(url, Auth::Bearer(token("tams-api/read"))).unwrap();
    let flow = bearer.get_flow(flow_id).await.unwrap();
    assert_eq!(flow.common.id, flow_id);
    // Read scope only: a write is 403, so the token was read and judged.
    let err = bearer
        .put_flow(&video_flow(FlowId::new_random(), SourceId::new_random()))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN), "{err}");

    let forged = Client::new(url, Auth::Bearer("not-a-jwt".to_owned())).unwrap();
    let err = forged.get_flow(flow_id).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");
    // Credentials never reach Debug output.
    assert!(!format!("{forged:?}").contains("not-a-jwt"));
}

/// A loopback HTTP server that answers `503` with `Retry-After: 0` to the first
/// `failures` requests, then `200` with a service document; it counts requests.
async fn flaky_server(failures: u32) -> (String, Arc<AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU32::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut got = Vec::new();
                // Read the request head (these requests have small bodies or none).
                loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let resp = if n < failures {
                    let body = r#"{"type":"Unavailable","summary":"try later","time":"2026-01-01T00:00:00Z"}"#;
                    format!(
                        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    let body = r#"{"type":"urn:x-tams:service.example","api_version":"8.2","min_object_timeout":"600:0"}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), count)
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_only_for_repeatable_requests() {
    let fast = |url: &str, retries: u32| {
        Client::builder(url, Auth::None)
            .max_retries(retries)
            .backoff(Duration::from_millis(1), Duration::from_millis(20))
            .build()
            .unwrap()
    };

    // GET: two 503s, then the answer.
    let (url, count) = flaky_server(2).await;
    let service = fast(&url, 4).get_service().await.unwrap();
    assert_eq!(service.api_version, "8.2");
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // The bound: after max_retries the 503 is the answer, with its error body.
    let (url, count) = flaky_server(10).await;
    let err = fast(&url, 2).get_service().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.error_body().unwrap().summary, "try later");
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // POST (segments, storage) is sent once.
    let (url, count) = flaky_server(1).await;
    let client = fast(&url, 4);
    let flow = FlowId::new_random();
    let err = client
        .post_segments(
            flow,
            &[SegmentPost::new(
                rushes_client::model::ObjectId::parse("abc").unwrap(),
                second(0),
            )],
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}
