//! Webhook delivery over real HTTP: receivers are small axum servers on 127.0.0.1 that
//! record what the store POSTs (or fail, or never answer, as a test asks).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::Router;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::flows::{create_flow, new_id, video_flow};
use crate::harness::{assert_error, expect_json, expect_status, TestServer};
use crate::schema;

/// One POST a receiver accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct ReceiverState {
    accepted: Mutex<Vec<Received>>,
    attempts: AtomicUsize,
    /// Answer 500 to this many requests first.
    fail_first: AtomicUsize,
    /// Answer 503 to everything while set.
    failing: AtomicBool,
    /// Never answer.
    hang: AtomicBool,
}

/// A webhook receiver on 127.0.0.1.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

async fn hook(State(st): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    st.attempts.fetch_add(1, Ordering::SeqCst);
    if st.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    if st.failing.load(Ordering::SeqCst) {
        return AxumStatus::SERVICE_UNAVAILABLE;
    }
    if st
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return AxumStatus::INTERNAL_SERVER_ERROR;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    st.accepted.lock().unwrap().push(Received { headers, body });
    AxumStatus::OK
}

impl Receiver {
    /// A receiver that accepts everything.
    pub async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    pub fn fail_first(&self, n: usize) {
        self.state.fail_first.store(n, Ordering::SeqCst);
    }

    pub fn set_failing(&self, on: bool) {
        self.state.failing.store(on, Ordering::SeqCst);
    }

    pub fn hang(&self) {
        self.state.hang.store(true, Ordering::SeqCst);
    }

    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.state.accepted.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until `done` holds for what was accepted; returns it.
    pub async fn wait(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.accepted();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "receiver {}: {what} not reached in 20 s; got {} events: {:#?}",
                self.url,
                got.len(),
                got.iter()
                    .map(|r| &r.body["event_type"])
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until at least `n` events were accepted.
    pub async fn wait_count(&self, n: usize) -> Vec<Received> {
        self.wait(&format!("{n} events"), |g| g.len() >= n).await
    }
}

/// Writes a configuration file with `[events]` settings small enough for tests; returns
/// its directory (kept alive by the caller) and path.
pub fn config(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rushes.toml");
    let text = format!(
        "[server]\nworker_interval = 1\n\n[events]\nretry_initial_ms = 20\nretry_max_ms = 200\n\
         poll_interval_ms = 200\nrequest_timeout_ms = 1000\nconnect_timeout_ms = 500\nheartbeat = 1\n{extra}\n"
    );
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A server started with `config(extra)`.
pub async fn server_with(extra: &str) -> (tempfile::TempDir, TestServer) {
    let (dir, path) = config(extra);
    let server = TestServer::start_with(&["--config", path.to_str().unwrap()]).await;
    (dir, server)
}

/// The spec's payload schema of `event_type` (the `webhooks:` section of the OpenAPI
/// document, written out with the same `$ref`s).
pub fn payload_schema(event_type: &str) -> Value {
    let event = match event_type {
        "flows/created" | "flows/updated" => {
            json!({"type": "object", "required": ["flow"], "properties": {"flow": {"$ref": "flow-get.json"}}})
        }
        "flows/deleted" => {
            json!({"type": "object", "required": ["flow_id"], "properties": {"flow_id": {"$ref": "uuid.json"}}})
        }
        "flows/segments_added" => json!({"type": "object", "required": ["flow_id", "segments"],
            "properties": {"flow_id": {"$ref": "uuid.json"},
                           "segments": {"type": "array", "items": {"$ref": "flow-segment.json"}}}}),
        "flows/segments_deleted" => json!({"type": "object", "required": ["flow_id", "timerange"],
            "properties": {"flow_id": {"$ref": "uuid.json"}, "timerange": {"$ref": "timerange.json"}}}),
        "sources/created" | "sources/updated" => {
            json!({"type": "object", "required": ["source"], "properties": {"source": {"$ref": "source.json"}}})
        }
        "sources/deleted" => {
            json!({"type": "object", "required": ["source_id"], "properties": {"source_id": {"$ref": "uuid.json"}}})
        }
        other => panic!("no payload schema for {other}"),
    };
    json!({
        "type": "object",
        "required": ["event_timestamp", "event_type", "event"],
        "properties": {
            "event_timestamp": {"type": "string", "format": "date-time"},
            "event_type": {"type": "string", "const": event_type},
            "event": event
        }
    })
}

pub fn assert_payload_valid(body: &Value) {
    let t = body["event_type"].as_str().expect("event_type");
    schema::assert_valid_inline(&payload_schema(t), body);
}

/// The webhook `hook` once its status is `started`, waiting up to 10 s: the worker
/// commits `created -> started` after the receiver answered, so the status can trail the
/// last event the receiver saw. Any status but `created` on the way fails at once.
pub async fn wait_until_started(server: &TestServer, hook: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shown = server.get_json(&format!("/service/webhooks/{hook}")).await;
        if shown["status"] == "started" {
            return shown;
        }
        assert_eq!(shown["status"], "created", "{shown}");
        assert!(
            Instant::now() < deadline,
            "webhook never went to started after delivery: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Registers a webhook; returns its id.
pub async fn register_webhook(server: &TestServer, body: Value) -> String {
    let created = expect_json(
        server.post("/service/webhooks", &body).await,
        StatusCode::CREATED,
    )
    .await;
    schema::assert_valid("webhook-get.json", &created);
    created["id"].as_str().unwrap().to_owned()
}

pub const ALL_EVENTS: [&str; 8] = [
    "flows/created",
    "flows/updated",
    "flows/deleted",
    "flows/segments_added",
    "flows/segments_deleted",
    "sources/created",
    "sources/updated",
    "sources/deleted",
];

/// Allocates one object on `flow` and registers a segment of it at `[s, s+1)` seconds.
pub async fn add_segment(server: &TestServer, flow: &str, s: u32) {
    let v = expect_json(
        server
            .post(&format!("/flows/{flow}/storage"), &json!({"limit": 1}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let object = v["media_objects"][0]["object_id"].as_str().unwrap();
    let body = json!({"object_id": object, "timerange": format!("[{s}:0_{}:0)", s + 1)});
    expect_status(
        server.post(&format!("/flows/{flow}/segments"), &body).await,
        StatusCode::CREATED,
    )
    .await;
}

fn types(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.body["event_type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn seq(r: &Received) -> i64 {
    r.headers["x-rushes-event-seq"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Drops repeated deliveries (same event id), keeping the first.
fn unique(got: &[Received]) -> Vec<Received> {
    let mut seen = std::collections::HashSet::new();
    got.iter()
        .filter(|r| seen.insert(r.headers["x-rushes-event-id"].to_str().unwrap().to_owned()))
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_event_type_is_delivered_with_the_spec_payload_ids_and_api_key() {
    let (_cfg, server) = server_with("").await;
    let rx = Receiver::start().await;
    let hook = register_webhook(
        &server,
        json!({"url": rx.url, "events": ALL_EVENTS, "api_key_name": "X-Api-Key",
               "api_key_value": "s3cret-value", "include_object_timerange": true}),
    )
    .await;

    let (fid, sid) = (new_id(), new_id());
    create_flow(&server, &video_flow(&fid, &sid)).await;
    expect_status(
        server
            .put(&format!("/flows/{fid}/label"), &json!("renamed"))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        server
            .put(&format!("/sources/{sid}/label"), &json!("source label"))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    add_segment(&server, &fid, 0).await;
    expect_status(
        server
            .delete(&format!("/flows/{fid}/segments?timerange=[0:0_1:0)"))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let resp = server.delete(&format!("/flows/{fid}")).await;
    assert!(resp.status().is_success(), "{}", resp.status());

    let got = rx
        .wait("every event type", |g| {
            ALL_EVENTS.iter().all(|t| types(g).iter().any(|x| x == t))
        })
        .await;
    let got = unique(&got);
    let mut last = 0;
    for r in &got {
        assert_payload_valid(&r.body);
        let id = r.headers["x-rushes-event-id"].to_str().unwrap();
        uuid::Uuid::parse_str(id).expect("event id is a UUID");
        assert!(seq(r) > last, "seqs increase: {} after {last}", seq(r));
        last = seq(r);
        assert_eq!(r.headers["x-api-key"], "s3cret-value");
        assert_eq!(r.headers["x-rushes-webhook-id"], hook.as_str());
        assert_eq!(r.headers["content-type"], "application/json");
    }
    let by_type = |t: &str| {
        got.iter()
            .find(|r| r.body["event_type"] == t)
            .unwrap()
            .body
            .clone()
    };
    assert_eq!(
        by_type("flows/created")["event"]["flow"]["id"],
        fid.as_str()
    );
    assert_eq!(
        by_type("flows/updated")["event"]["flow"]["label"],
        "renamed"
    );
    assert_eq!(
        by_type("sources/updated")["event"]["source"]["label"],
        "source label"
    );
    let added = by_type("flows/segments_added");
    assert_eq!(added["event"]["flow_id"], fid.as_str());
    let seg = &added["event"]["segments"][0];
    assert_eq!(seg["timerange"], "[0:0_1:0)");
    assert!(seg.get("object_timerange").is_some(), "{seg}");
    let url = seg["get_urls"][0]["url"]
        .as_str()
        .expect("a signed get_url");
    server.assert_signed_media_url(url, seg["object_id"].as_str().unwrap());
    assert_eq!(
        by_type("flows/segments_deleted")["event"]["timerange"],
        "[0:0_1:0)"
    );
    assert_eq!(by_type("flows/deleted")["event"]["flow_id"], fid.as_str());
    assert_eq!(
        by_type("sources/deleted")["event"]["source_id"],
        sid.as_str()
    );
    // Order per flow: created before updated before segments before deleted.
    let order = types(&got);
    let pos = |t: &str| order.iter().position(|x| x == t).unwrap();
    assert!(pos("flows/created") < pos("flows/updated"));
    assert!(pos("flows/segments_added") < pos("flows/segments_deleted"));
    assert!(pos("flows/segments_deleted") < pos("flows/deleted"));

    let shown = wait_until_started(&server, &hook).await;
    assert!(shown.get("api_key_value").is_none());
    assert!(
        !server.log().contains("s3cret-value"),
        "the api key was logged"
    );
}

#[tokio::test]
async fn registration_options_filter_and_shape_events() {
    let (_cfg, server) = server_with("").await;
    let (fa, sa, fb, sb, coll, csrc) = (new_id(), new_id(), new_id(), new_id(), new_id(), new_id());
    create_flow(&server, &video_flow(&fa, &sa)).await;
    create_flow(&server, &video_flow(&fb, &sb)).await;
    // A collection flow holding flow a (and so source csrc collects source sa).
    let mut c = video_flow(&coll, &csrc);
    c["flow_collection"] = json!([{"id": fa, "role": "video"}]);
    create_flow(&server, &c).await;

    let by_flow = Receiver::start().await;
    let by_source = Receiver::start().await;
    let only_segments = Receiver::start().await;
    let collected = Receiver::start().await;
    let uncollected = Receiver::start().await;
    let source_collected = Receiver::start().await;
    let no_urls = Receiver::start().await;
    let verbose = Receiver::start().await;
    let not_presigned = Receiver::start().await;
    let all = Receiver::start().await;
    let everything = json!(ALL_EVENTS);
    for (rx, extra) in [
        (&by_flow, json!({"flow_ids": [fa]})),
        (&by_source, json!({"source_ids": [sb]})),
        (&only_segments, json!({"events": ["flows/segments_added"]})),
        (&collected, json!({"flow_collected_by_ids": [coll]})),
        (&uncollected, json!({"flow_collected_by_ids": []})),
        (
            &source_collected,
            json!({"source_collected_by_ids": [csrc]}),
        ),
        (
            &no_urls,
            json!({"events": ["flows/segments_added"], "accept_get_urls": []}),
        ),
        (
            &verbose,
            json!({"events": ["flows/segments_added"], "verbose_storage": true}),
        ),
        (
            &not_presigned,
            json!({"events": ["flows/segments_added"], "presigned": false}),
        ),
        (&all, json!({})),
    ] {
        let mut body = json!({"url": rx.url, "events": everything});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        register_webhook(&server, body).await;
    }

    add_segment(&server, &fa, 0).await;
    add_segment(&server, &fb, 0).await;
    expect_status(
        server
            .put(&format!("/sources/{sb}/label"), &json!("b"))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    // A last event every webhook but the segment-only ones selects marks the end.
    let (fz, sz) = (new_id(), new_id());
    create_flow(&server, &video_flow(&fz, &sz)).await;
    add_segment(&server, &fz, 0).await;

    // `all` sees 2 segments_added + sources/updated + flows/created + sources/created +
    // segments_added of fz = 6.
    all.wait_count(6).await;
    let flow_of = |r: &Received| {
        r.body["event"]["flow_id"]
            .as_str()
            .or(r.body["event"]["flow"]["id"].as_str())
            .map(str::to_owned)
    };
    let done = |rx: &Receiver| rx.accepted();
    // Waiting for `all` is not enough for the others: wait for their own last event.
    for rx in [&only_segments, &no_urls, &verbose, &not_presigned] {
        rx.wait_count(3).await;
    }
    uncollected.wait_count(5).await;
    by_source.wait_count(2).await;
    by_flow.wait_count(3).await;
    collected.wait_count(3).await;
    source_collected.wait_count(1).await;

    let a = done(&by_flow);
    assert!(
        a.iter()
            .all(|r| flow_of(r).is_none() || flow_of(r).as_deref() == Some(fa.as_str())),
        "flow_ids: {:?}",
        types(&a)
    );
    // flow_ids limits flow events only: the source events still come.
    assert!(types(&a).contains(&"sources/updated".to_owned()));
    let b = done(&by_source);
    assert_eq!(
        types(&b),
        ["flows/segments_added", "sources/updated"],
        "source_ids"
    );
    assert!(done(&only_segments)
        .iter()
        .all(|r| r.body["event_type"] == "flows/segments_added"));
    // flow_collected_by_ids limits flow and segment events; source events still come.
    let c = done(&collected);
    assert_eq!(
        types(&c),
        ["flows/segments_added", "sources/updated", "sources/created"]
    );
    assert_eq!(flow_of(&c[0]).as_deref(), Some(fa.as_str()));
    let u = done(&uncollected);
    assert!(
        u.iter().all(|r| flow_of(r).as_deref() != Some(fa.as_str())),
        "flow a is collected"
    );
    let sc = done(&source_collected);
    assert_eq!(types(&sc), ["flows/segments_added"]);
    assert_eq!(flow_of(&sc[0]).as_deref(), Some(fa.as_str()));

    for r in done(&no_urls) {
        assert_payload_valid(&r.body);
        let seg = &r.body["event"]["segments"][0];
        assert!(seg.get("get_urls").is_none(), "accept_get_urls=[]: {seg}");
        assert!(
            seg.get("object_timerange").is_none(),
            "object_timerange only when asked: {seg}"
        );
    }
    for r in done(&verbose) {
        let url = &r.body["event"]["segments"][0]["get_urls"][0];
        assert!(url.get("storage_id").is_some(), "verbose_storage: {url}");
        assert_eq!(url["presigned"], true);
    }
    for r in done(&not_presigned) {
        let urls = &r.body["event"]["segments"][0]["get_urls"];
        assert_eq!(urls, &json!([]), "presigned=false drops signed URLs");
    }
    for r in done(&all) {
        assert_payload_valid(&r.body);
        let url = &r.body["event"]["segments"][0]["get_urls"][0];
        if !url.is_null() {
            assert!(url.get("storage_id").is_none(), "not verbose: {url}");
        }
    }
}

#[tokio::test]
async fn a_receiver_that_fails_then_recovers_gets_every_event_in_order() {
    let (_cfg, server) = server_with("").await;
    let flaky = Receiver::start().await;
    flaky.fail_first(5);
    let healthy = Receiver::start().await;
    let dead = Receiver::start().await;
    dead.hang();
    for rx in [&flaky, &healthy, &dead] {
        register_webhook(
            &server,
            json!({"url": rx.url, "events": ["flows/segments_added"]}),
        )
        .await;
    }
    let (fid, sid) = (new_id(), new_id());
    create_flow(&server, &video_flow(&fid, &sid)).await;
    for s in 0..12 {
        add_segment(&server, &fid, s).await;
    }
    // The healthy receiver is not held up by the dead one.
    healthy.wait_count(12).await;
    let got = flaky
        .wait("12 distinct events", |g| unique(g).len() >= 12)
        .await;
    assert!(flaky.attempts() >= 17, "5 failures were retried");
    let got = unique(&got);
    let ranges: Vec<String> = got
        .iter()
        .map(|r| {
            r.body["event"]["segments"][0]["timerange"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..12).map(|s| format!("[{s}:0_{}:0)", s + 1)).collect();
    assert_eq!(ranges, expected, "every event, in order");
    assert!(dead.attempts() >= 1);
}

#[tokio::test]
async fn events_committed_before_a_kill_are_delivered_after_restart() {
    let (_cfg, mut server) = server_with("").await;
    let rx = Receiver::start().await;
    rx.set_failing(true);
    let hook = register_webhook(
        &server,
        json!({"url": rx.url, "events": ["flows/created", "flows/segments_added"]}),
    )
    .await;
    let (fid, sid) = (new_id(), new_id());
    create_flow(&server, &video_flow(&fid, &sid)).await;
    for s in 0..5 {
        add_segment(&server, &fid, s).await;
    }
    // Delivery was attempted and refused: the events are committed, not delivered.
    let deadline = Instant::now() + Duration::from_secs(20);
    while rx.attempts() == 0 {
        assert!(Instant::now() < deadline, "no delivery attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rx.accepted().is_empty());
    let shown = server.get_json(&format!("/service/webhooks/{hook}")).await;
    assert_eq!(shown["status"], "created", "nothing delivered yet: {shown}");
    server.crash_and_restart().await;
    rx.set_failing(false);
    let got = rx.wait("6 distinct events", |g| unique(g).len() >= 6).await;
    let got = unique(&got);
    assert_eq!(
        types(&got),
        [
            "flows/created",
            "flows/segments_added",
            "flows/segments_added",
            "flows/segments_added",
            "flows/segments_added",
            "flows/segments_added"
        ]
    );
    wait_until_started(&server, &hook).await;
}

#[tokio::test]
async fn a_clean_stop_writes_the_cursors_so_nothing_delivered_is_sent_again() {
    let (_cfg, mut server) = server_with("").await;
    let rx = Receiver::start().await;
    register_webhook(
        &server,
        json!({"url": rx.url, "events": ["flows/segments_added"]}),
    )
    .await;
    let (fid, sid) = (new_id(), new_id());
    create_flow(&server, &video_flow(&fid, &sid)).await;
    for s in 0..5 {
        add_segment(&server, &fid, s).await;
    }
    rx.wait_count(5).await;
    // Let the last answer reach the store, then stop it cleanly before its next
    // periodic cursor write is due.
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.restart().await;
    add_segment(&server, &fid, 5).await;
    let got = rx.wait_count(6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = if rx.accepted().len() > got.len() {
        rx.accepted()
    } else {
        got
    };
    let seqs: Vec<i64> = got.iter().map(seq).collect();
    assert_eq!(got.len(), 6, "an event was sent again: seqs {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[tokio::test]
async fn a_dead_webhook_goes_to_error_after_the_retry_time_and_can_be_restarted() {
    let (_cfg, server) = server_with("give_up_after = 1").await;
    let rx = Receiver::start().await;
    rx.set_failing(true);
    let healthy = Receiver::start().await;
    let hook = register_webhook(&server, json!({"url": rx.url, "events": ["flows/created"]})).await;
    register_webhook(
        &server,
        json!({"url": healthy.url, "events": ["flows/created"]}),
    )
    .await;
    let (fid, sid) = (new_id(), new_id());
    create_flow(&server, &video_flow(&fid, &sid)).await;
    healthy.wait_count(1).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let shown = loop {
        let shown = server.get_json(&format!("/service/webhooks/{hook}")).await;
        if shown["status"] == "error" {
            break shown;
        }
        assert!(
            Instant::now() < deadline,
            "webhook never went to error: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    schema::assert_valid("webhook-get.json", &shown);
    let summary = shown["error"]["summary"].as_str().unwrap();
    assert!(summary.contains("503"), "{summary}");
    let attempts = rx.attempts();
    assert!(attempts >= 2, "retried before giving up ({attempts})");
    let listed = server.get_json("/service/webhooks").await;
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == hook.as_str())
        .unwrap();
    assert_eq!(entry["error"]["summary"], summary);

    // The spec: a client's move from `error` to `disabled` is rejected; nothing changes.
    let mut disable = shown.clone();
    disable.as_object_mut().unwrap().remove("error");
    disable["status"] = json!("disabled");
    let body = assert_error(
        server
            .put(&format!("/service/webhooks/{hook}"), &disable)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        body["summary"].as_str().unwrap().contains("created"),
        "{body}"
    );
    let still = server.get_json(&format!("/service/webhooks/{hook}")).await;
    assert_eq!(still["status"], "error", "{still}");
    assert_eq!(still["error"]["summary"], summary);

    // Re-enabled by a client: the error goes, the event still waiting is delivered.
    rx.set_failing(false);
    let mut put = shown.clone();
    put.as_object_mut().unwrap().remove("error");
    put["status"] = json!("created");
    expect_json(
        server.put(&format!("/service/webhooks/{hook}"), &put).await,
        StatusCode::CREATED,
    )
    .await;
    let got = rx.wait_count(1).await;
    assert_eq!(got[0].body["event"]["flow"]["id"], fid.as_str());
    let shown = server.get_json(&format!("/service/webhooks/{hook}")).await;
    assert!(shown.get("error").is_none(), "{shown}");
}

#[tokio::test]
async fn webhook_targets_are_checked_at_registration() {
    let (_cfg, server) =
        server_with("deny_targets = [\"127.0.0.2\", \"blocked.example\", \"10.0.0.0/8\"]").await;
    for url in [
        "ftp://127.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::ffff:169.254.169.254]/",
        "http://127.0.0.2:8080/hook",
        "http://10.1.2.3/hook",
        "https://blocked.example/hook",
        "http://user:pass@127.0.0.1/hook",
        "not a url",
    ] {
        let body = assert_error(
            server
                .post(
                    "/service/webhooks",
                    &json!({"url": url, "events": ["flows/created"]}),
                )
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            body["summary"].as_str().unwrap().contains("url"),
            "{url}: {body}"
        );
    }
    // Loopback is allowed by default.
    let rx = Receiver::start().await;
    register_webhook(&server, json!({"url": rx.url, "events": ["flows/created"]})).await;
    // A PUT is checked too.
    let id = register_webhook(
        &server,
        json!({"url": "http://127.0.0.1:9/x", "events": ["flows/created"]}),
    )
    .await;
    assert_error(
        server
            .put(
                &format!("/service/webhooks/{id}"),
                &json!({"id": id, "url": "http://169.254.169.254/", "events": ["flows/created"], "status": "created"}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // An allow list admits only what it names.
    let (_cfg2, strict) = server_with("allow_targets = [\"10.0.0.0/8\"]").await;
    assert_error(
        strict
            .post(
                "/service/webhooks",
                &json!({"url": rx.url, "events": ["flows/created"]}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn service_lists_webhooks_and_the_event_stream() {
    let server = TestServer::start().await;
    let service = server.get_json("/service").await;
    schema::assert_valid("service.json", &service);
    let names: Vec<&str> = service["event_stream_mechanisms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["webhooks", "urn:x-rushes:event-stream:sse"]);
    assert_eq!(
        service["event_stream_mechanisms"][1]["config"]["path"],
        "/x-rushes/events"
    );
}

#[tokio::test]
async fn a_webhook_with_auth_classes_receives_only_events_it_may_read() {
    let (_cfg, server) = server_with("").await;
    let news = Receiver::start().await;
    let all = Receiver::start().await;
    register_webhook(
        &server,
        json!({"url": news.url, "events": ["flows/created"], "tags": {"auth_classes": ["news"]}}),
    )
    .await;
    register_webhook(
        &server,
        json!({"url": all.url, "events": ["flows/created"]}),
    )
    .await;
    let mut ids = Vec::new();
    for classes in [json!(["sport"]), json!(["news"]), Value::Null] {
        let (fid, sid) = (new_id(), new_id());
        let mut flow = video_flow(&fid, &sid);
        if !classes.is_null() {
            flow["tags"]["auth_classes"] = classes;
        }
        create_flow(&server, &flow).await;
        ids.push(fid);
    }
    all.wait_count(3).await;
    let got = news.wait_count(2).await;
    let flows: Vec<&str> = got
        .iter()
        .map(|r| r.body["event"]["flow"]["id"].as_str().unwrap())
        .collect();
    // The sport flow is withheld; the news flow and the unclassified one come.
    assert_eq!(flows, [ids[1].as_str(), ids[2].as_str()]);
}

#[tokio::test]
async fn a_webhook_wakes_for_its_own_events_and_a_changed_registration_not_a_poll() {
    // A poll and a lease so long that only a commit's wake-up can deliver within the
    // receiver's wait.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rushes.toml");
    std::fs::write(
        &path,
        "[server]\nworker_interval = 1\n\n[events]\npoll_interval_ms = 120000\nlease = 600\n",
    )
    .unwrap();
    let server = TestServer::start_with(&["--config", path.to_str().unwrap()]).await;
    let (fa, sa, fb, sb) = (new_id(), new_id(), new_id(), new_id());
    create_flow(&server, &video_flow(&fa, &sa)).await;
    create_flow(&server, &video_flow(&fb, &sb)).await;
    let rx = Receiver::start().await;
    let id = register_webhook(
        &server,
        json!({"url": rx.url, "events": ["flows/segments_added"], "flow_ids": [fa]}),
    )
    .await;
    for s in 0..3 {
        add_segment(&server, &fb, s).await;
    }
    add_segment(&server, &fa, 0).await;
    let got = rx.wait_count(1).await;
    assert_eq!(got[0].body["event"]["flow_id"], json!(fa));

    // Now subscribed to flow b: its next segment is delivered, the earlier ones (passed
    // over under the old registration) are not.
    let put = json!({"id": id, "url": rx.url, "events": ["flows/segments_added"],
        "flow_ids": [fb], "status": "created"});
    let resp = server.put(&format!("/service/webhooks/{id}"), &put).await;
    let status = resp.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        resp.text().await.unwrap()
    );
    // A round may use the webhooks' state as read up to 25 ms before it began.
    tokio::time::sleep(Duration::from_millis(100)).await;
    add_segment(&server, &fb, 3).await;
    let got = rx.wait_count(2).await;
    assert_eq!(got[1].body["event"]["flow_id"], json!(fb));
    assert_eq!(
        got[1].body["event"]["segments"][0]["timerange"],
        json!("[3:0_4:0)")
    );
    assert!(seq(&got[0]) < seq(&got[1]));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.accepted().len(), 2, "{:#?}", types(&rx.accepted()));
}
