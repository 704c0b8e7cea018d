//! The Server-Sent Events stream `/x-rushes/events`: live events, filters, heartbeats and
//! resumption with `Last-Event-ID` without gaps.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::events::{add_segment, assert_payload_valid, server_with};
use crate::flows::{create_flow, new_id, video_flow};
use crate::harness::{assert_error, expect_status, TestServer};

/// One message of an event stream.
#[derive(Debug, Clone, Default)]
struct Message {
    id: Option<String>,
    event: Option<String>,
    data: String,
    comment: bool,
}

/// An open event stream, read message by message.
struct EventStream {
    bytes: futures::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

impl EventStream {
    async fn open(server: &TestServer, query: &str, last_event_id: Option<&str>) -> EventStream {
        EventStream::open_as(server, query, last_event_id, None).await
    }

    /// [`EventStream::open`] with an `Authorization` header.
    async fn open_as(
        server: &TestServer,
        query: &str,
        last_event_id: Option<&str>,
        authorization: Option<&str>,
    ) -> EventStream {
        let mut req = server.request(reqwest::Method::GET, &format!("/x-rushes/events{query}"));
        if let Some(a) = authorization {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = expect_status(req.send().await.unwrap(), StatusCode::OK).await;
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        EventStream {
            bytes: resp.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next message (comments included), within 20 s.
    async fn next(&mut self) -> Message {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut m = Message::default();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        m.comment = true;
                        data.push(c.trim().to_owned());
                    } else if let Some((k, v)) = line.split_once(':') {
                        let v = v.strip_prefix(' ').unwrap_or(v);
                        match k {
                            "id" => m.id = Some(v.to_owned()),
                            "event" => m.event = Some(v.to_owned()),
                            "data" => data.push(v.to_owned()),
                            _ => {}
                        }
                    }
                }
                m.data = data.join("\n");
                return m;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.bytes.next())
                .await
                .expect("no message within 20 s")
                .expect("the stream ended")
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event (comments skipped): its seq and body.
    async fn next_event(&mut self) -> (i64, Value) {
        loop {
            let m = self.next().await;
            if m.comment {
                continue;
            }
            assert_eq!(m.event, None, "unexpected message {m:?}");
            let seq = m.id.expect("every event has an id").parse().unwrap();
            return (seq, serde_json::from_str(&m.data).unwrap());
        }
    }
}

#[tokio::test]
async fn the_stream_sends_live_events_and_resumes_from_last_event_id_without_gaps() {
    let (_cfg, server) = server_with("").await;
    let mut stream = EventStream::open(&server, "", None).await;
    let (fid, sid) = (new_id(), new_id());
    create_flow(&server, &video_flow(&fid, &sid)).await;
    for s in 0..3 {
        add_segment(&server, &fid, s).await;
    }
    // flows/created, sources/created (either order), then 3 segments_added.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let (seq, body) = stream.next_event().await;
        assert_payload_valid(&body);
        seen.push((seq, body["event_type"].as_str().unwrap().to_owned()));
    }
    let seqs: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(
        seen[2..]
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>(),
        ["flows/segments_added"; 3]
    );
    drop(stream);

    // Resume after the second event while more events are committed.
    let resume = seqs[1];
    for s in 3..6 {
        add_segment(&server, &fid, s).await;
    }
    let mut stream = EventStream::open(&server, "", Some(&resume.to_string())).await;
    let mut got = Vec::new();
    for _ in 0..6 {
        let (seq, body) = stream.next_event().await;
        assert_payload_valid(&body);
        got.push((seq, body));
    }
    let expected: Vec<i64> = (resume + 1..=resume + 6).collect();
    assert_eq!(
        got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        expected,
        "no gap, no repeat"
    );
    assert_eq!(
        got.last().unwrap().1["event"]["segments"][0]["timerange"],
        "[5:0_6:0)"
    );
    // Then live again.
    add_segment(&server, &fid, 6).await;
    let (seq, body) = stream.next_event().await;
    assert_eq!(seq, resume + 7);
    assert_eq!(body["event"]["segments"][0]["timerange"], "[6:0_7:0)");
}

#[tokio::test]
async fn the_stream_applies_filters_and_sends_heartbeats() {
    let (_cfg, server) = server_with("").await;
    let (fa, sa, fb, sb) = (new_id(), new_id(), new_id(), new_id());
    create_flow(&server, &video_flow(&fa, &sa)).await;
    create_flow(&server, &video_flow(&fb, &sb)).await;
    let query =
        format!("?event_types=flows/segments_added,flows/updated&flow_ids={fb}&accept_get_urls=");
    let mut stream = EventStream::open(&server, &query, None).await;
    add_segment(&server, &fa, 0).await;
    add_segment(&server, &fb, 0).await;
    expect_status(
        server.put(&format!("/flows/{fb}/label"), &json!("b")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (_, first) = stream.next_event().await;
    assert_eq!(first["event_type"], "flows/segments_added");
    assert_eq!(first["event"]["flow_id"], fb.as_str());
    assert!(first["event"]["segments"][0].get("get_urls").is_none());
    let (_, second) = stream.next_event().await;
    assert_eq!(second["event_type"], "flows/updated");
    // Idle: a heartbeat comment within the configured second.
    let m = stream.next().await;
    assert!(m.comment, "{m:?}");
}

#[tokio::test]
async fn bad_stream_parameters_are_400() {
    let server = TestServer::start().await;
    for query in [
        "?event_types=flows/nothing",
        "?flow_ids=not-a-uuid",
        "?presigned=maybe",
        "?last_event_id=-4",
    ] {
        assert_error(
            server.get(&format!("/x-rushes/events{query}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let resp = server
        .request(reqwest::Method::GET, "/x-rushes/events")
        .header("Last-Event-ID", "abc")
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::BAD_REQUEST).await;
}

const AUDIENCE: &str = "rushes-sse-test";
const ISSUER: &str = "https://idp.sse.test";
const SECRET: &str = "sse-classes-test-secret-only-for-tests";

/// An `Authorization` header with an HS256 token for `scope`, limited to `classes`.
fn bearer(scope: &str, classes: Option<&[&str]>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "sse-test",
        "iat": now, "exp": now + 3600, "scope": scope});
    if let Some(c) = classes {
        claims["auth_classes"] = json!(c);
    }
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some("hs".to_owned());
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&h, &claims, &key).unwrap()
    )
}

#[tokio::test]
async fn a_class_limited_caller_streams_only_events_it_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rushes.toml");
    std::fs::write(
        &path,
        format!(
            "[auth.jwt]\naudience = [\"{AUDIENCE}\"]\nissuer = \"{ISSUER}\"\n\
             auth_classes_claim = \"auth_classes\"\n\n[[auth.jwt.keys]]\nkid = \"hs\"\n\
             alg = \"HS256\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let server = TestServer::start_with(&["--config", path.to_str().unwrap()]).await;
    let admin = bearer(
        "tams-api/read tams-api/write tams-api/delete",
        Some(&["sport", "news"]),
    );
    let news = bearer("tams-api/read", Some(&["news"]));
    let query = "?event_types=flows/created";
    let mut limited = EventStream::open_as(&server, query, None, Some(&news)).await;
    let mut unlimited = EventStream::open_as(&server, query, None, Some(&admin)).await;

    let mut ids = Vec::new();
    for classes in [json!(["sport"]), json!(["news"]), Value::Null] {
        let (fid, sid) = (new_id(), new_id());
        let mut flow = video_flow(&fid, &sid);
        if !classes.is_null() {
            flow["tags"]["auth_classes"] = classes;
        }
        let resp = server
            .request(reqwest::Method::PUT, &format!("/flows/{fid}"))
            .header(reqwest::header::AUTHORIZATION, &admin)
            .json(&flow)
            .send()
            .await
            .unwrap();
        expect_status(resp, StatusCode::CREATED).await;
        ids.push(fid);
    }
    let mut all = Vec::new();
    for _ in 0..3 {
        let (_, ev) = unlimited.next_event().await;
        all.push(ev["event"]["flow"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(all, ids);
    // The sport flow (committed first) is withheld; the news flow and the unclassified
    // one come, in order.
    let (_, first) = limited.next_event().await;
    let (_, second) = limited.next_event().await;
    assert_eq!(first["event"]["flow"]["id"], ids[1].as_str());
    assert_eq!(second["event"]["flow"]["id"], ids[2].as_str());
}
