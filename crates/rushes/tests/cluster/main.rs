//! Several `rushes serve` nodes on one PostgreSQL database and one S3 bucket behave as
//! one store; PostgreSQL going away and coming back costs 503s, never acknowledged data.
//!
//! Needs the servers the test command starts (scripts/test.sh, or by hand:
//! `source scripts/pg-server.sh; source scripts/s3-server.sh`): `RUSHES_TEST_PG_URL`,
//! `RUSHES_TEST_PG_BIN` and `RUSHES_TEST_S3_URL` with its AWS_* credentials.
#![allow(clippy::unwrap_used)]

#[path = "../api/harness.rs"]
mod harness;
#[path = "../api/schema.rs"]
mod schema;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use harness::{expect_json, expect_status, TestServer};

fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: the cluster tests need the PostgreSQL and S3-compatible servers \
             that scripts/test.sh starts (or run `source scripts/pg-server.sh; source \
             scripts/s3-server.sh` in this shell first)"
        )
    })
}

/// `--database-url` of a fresh database and `--object-store-url` of a fresh prefix, for
/// the nodes of one test.
async fn shared_engines() -> Vec<String> {
    let db = harness::fresh_database(&required("RUSHES_TEST_PG_URL")).await;
    let mut s3 = url::Url::parse(&required("RUSHES_TEST_S3_URL")).expect("an S3 URL");
    let path = format!(
        "{}/cluster-{}",
        s3.path().trim_end_matches('/'),
        Uuid::new_v4().simple()
    );
    s3.set_path(&path);
    vec![
        "--database-url".into(),
        db,
        "--object-store-url".into(),
        s3.to_string(),
    ]
}

async fn node(engines: &[String], extra: &[&str]) -> TestServer {
    let mut args: Vec<&str> = engines.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    TestServer::start_with(&args).await
}

fn video_flow(id: &str, source_id: &str) -> Value {
    json!({
        "id": id,
        "source_id": source_id,
        "format": "urn:x-nmos:format:video",
        "codec": "video/h264",
        "container": "video/mp2t",
        "essence_parameters": {"frame_width": 1920, "frame_height": 1080,
                               "frame_rate": {"numerator": 25}}
    })
}

async fn create_flow(server: &TestServer) -> String {
    let (id, source) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    let body = expect_json(
        server
            .put(&format!("/flows/{id}"), &video_flow(&id, &source))
            .await,
        StatusCode::CREATED,
    )
    .await;
    schema::assert_valid("flow-get.json", &body);
    id
}

/// Allocates one object on `server`, uploads `bytes` through its signed PUT URL and
/// returns the object id.
async fn upload(server: &TestServer, flow: &str, bytes: &[u8]) -> String {
    let storage = expect_json(
        server
            .post(&format!("/flows/{flow}/storage"), &json!({"limit": 1}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    schema::assert_valid("flow-storage.json", &storage);
    let object = &storage["media_objects"][0];
    let put = object["put_url"]["url"].as_str().expect("a put URL");
    let content_type = object["put_url"]["content-type"]
        .as_str()
        .unwrap_or("video/mp2t");
    let resp = server
        .client
        .put(put)
        .header("content-type", content_type)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("upload");
    assert!(
        resp.status().is_success(),
        "upload to {put}: {}",
        resp.status()
    );
    object["object_id"].as_str().expect("object id").to_owned()
}

/// Registers `[second:0_second+1:0)` on `object` (shared by every segment: `ts_offset`
/// maps each onto the object's own `[0:0_1:0)`).
async fn register(server: &TestServer, flow: &str, object: &str, second: u32) {
    let body = json!({"object_id": object, "ts_offset": format!("{second}:0"),
                      "timerange": format!("[{second}:0_{}:0)", second + 1)});
    expect_status(
        server.post(&format!("/flows/{flow}/segments"), &body).await,
        StatusCode::CREATED,
    )
    .await;
}

async fn segment_starts(server: &TestServer, flow: &str) -> Vec<String> {
    let list = server
        .get_json(&format!("/flows/{flow}/segments?limit=1000"))
        .await;
    schema::assert_valid_list("flow-segment.json", &list);
    list.as_array()
        .expect("a list")
        .iter()
        .map(|s| s["timerange"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_one_node_are_read_through_the_other_at_once() {
    let engines = shared_engines().await;
    let a = node(&engines, &[]).await;
    let b = node(&engines, &[]).await;

    let flow = create_flow(&a).await;
    let seen = b.get_json(&format!("/flows/{flow}")).await;
    schema::assert_valid("flow-get.json", &seen);
    assert_eq!(seen["id"], flow.as_str());

    // Media uploaded through a presigned URL of node A is read back through node B's.
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let object = upload(&a, &flow, &bytes).await;
    register(&a, &flow, &object, 0).await;
    let list = b
        .get_json(&format!("/flows/{flow}/segments?presigned=true"))
        .await;
    schema::assert_valid_list("flow-segment.json", &list);
    let url = list[0]["get_urls"][0]["url"]
        .as_str()
        .expect("a get URL")
        .to_owned();
    assert!(
        !url.contains(&a.base_url) && !url.contains(&b.base_url),
        "media is read from the bucket, not through a node: {url}"
    );
    let got = b.client.get(&url).send().await.expect("download");
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.expect("body").as_ref(), bytes.as_slice());

    // Read-your-writes across nodes, alternating the node written to.
    for s in 1..21u32 {
        let (w, r) = if s % 2 == 0 { (&a, &b) } else { (&b, &a) };
        register(w, &flow, &object, s).await;
        let starts = segment_starts(r, &flow).await;
        assert_eq!(
            starts.len(),
            s as usize + 1,
            "after segment {s}: {starts:?}"
        );
        assert_eq!(
            starts.last().map(String::as_str),
            Some(format!("[{s}:0_{}:0)", s + 1).as_str())
        );
    }
    // The object's reference count is shared too: B sees A's registrations of it.
    let obj = b.get_json(&format!("/objects/{object}")).await;
    schema::assert_valid("object.json", &obj);
    assert_eq!(obj["referenced_by_flows"], json!([flow]));
}

/// A webhook receiver that records each event and how many requests were in flight at
/// once; each request takes 20 ms, to widen any window for concurrent delivery.
#[derive(Default)]
struct Receiver {
    bodies: Mutex<Vec<Value>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

async fn start_receiver() -> (Arc<Receiver>, String) {
    let rx = Arc::new(Receiver::default());
    let state = rx.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::Json<Value>| {
            let rx = state.clone();
            async move {
                let now = rx.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                rx.most_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                rx.bodies.lock().expect("lock").push(body.0);
                rx.in_flight.fetch_sub(1, Ordering::SeqCst);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (rx, format!("http://{addr}/hook"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_on_one_node_carries_events_raised_through_the_other() {
    use futures::StreamExt;
    let engines = shared_engines().await;
    let a = node(&engines, &[]).await;
    let b = node(&engines, &[]).await;
    let flow = create_flow(&a).await;
    let object = upload(&a, &flow, b"segment").await;
    let resp = expect_status(
        b.get(&format!("/x-rushes/events?flow_ids={flow}")).await,
        StatusCode::OK,
    )
    .await;
    let mut stream = resp.bytes_stream();
    register(&a, &flow, &object, 7).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    while !(text.contains("flows/segments_added") && text.contains("[7:0_8:0)")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!(
                "node B's stream never carried node A's event ({}): {text}",
                match other {
                    Err(_) => "timed out".to_owned(),
                    Ok(None) => "stream ended".to_owned(),
                    Ok(Some(Err(e))) => e.to_string(),
                    Ok(Some(Ok(_))) => unreachable!(),
                }
            ),
        }
    }
    // The event's data line is the spec's payload.
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| d.contains("segments_added"))
        .expect("a data line");
    let payload: Value = serde_json::from_str(data).expect("JSON data");
    assert_eq!(payload["event"]["flow_id"], flow.as_str(), "{payload}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_is_delivered_at_least_once_and_never_twice_at_once() {
    let engines = shared_engines().await;
    let a = node(&engines, &[]).await;
    let b = node(&engines, &[]).await;
    let (rx, hook) = start_receiver().await;
    // Registered through B; events are raised through both nodes.
    let created = expect_json(
        b.post(
            "/service/webhooks",
            &json!({"url": hook, "events": ["flows/segments_added"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    schema::assert_valid("webhook-get.json", &created);

    let flow = create_flow(&a).await;
    let object = upload(&a, &flow, b"segment").await;
    const N: u32 = 40;
    for s in 0..N {
        let node = if s % 2 == 0 { &a } else { &b };
        register(node, &flow, &object, s).await;
    }
    let want: BTreeSet<String> = (0..N).map(|s| format!("[{s}:0_{}:0)", s + 1)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: BTreeSet<String> = rx
            .bodies
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|b| {
                b["event"]["segments"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|s| s["timerange"].as_str().map(str::to_owned))
            .collect();
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events delivered so far cover {} of {N} segments: missing {:?}",
            got.len(),
            want.difference(&got).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for body in rx.bodies.lock().expect("lock").iter() {
        assert_eq!(body["event_type"], "flows/segments_added", "{body}");
        assert_eq!(body["event"]["flow_id"], flow.as_str(), "{body}");
    }
    assert_eq!(
        rx.most_in_flight.load(Ordering::SeqCst),
        1,
        "two deliveries to one webhook were in flight at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_deletion_leaves_no_work_undone() {
    let engines = shared_engines().await;
    let quick = ["--work-lease", "3", "--worker-interval", "1"];
    let mut a = node(&engines, &quick).await;
    let flow = create_flow(&a).await;
    let object = upload(&a, &flow, b"segment").await;
    // 30,000 segments: the deletion takes 30 steps of 1,000.
    const N: u32 = 30_000;
    for chunk in 0..N / 1000 {
        let list: Vec<Value> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|s| {
                json!({"object_id": object, "ts_offset": format!("{s}:0"),
                       "timerange": format!("[{s}:0_{}:0)", s + 1)})
            })
            .collect();
        let resp = a
            .post(&format!("/flows/{flow}/segments"), &Value::Array(list))
            .await;
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    let resp = a.delete(&format!("/flows/{flow}")).await;
    let request = expect_json(resp, StatusCode::ACCEPTED).await;
    schema::assert_valid("deletion-request.json", &request);
    let request_id = request["id"].as_str().expect("request id").to_owned();

    // Kill node A once it has started on the request.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = a
            .get_json(&format!("/flow-delete-requests/{request_id}"))
            .await;
        if r["status"] == "started" {
            break;
        }
        assert!(
            r["status"] != "done",
            "the deletion finished before the node could be killed"
        );
        assert!(Instant::now() < deadline, "the deletion never started: {r}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.kill().await;

    // Node B takes the request over once A's lease has run out, and completes it.
    let b = node(&engines, &quick).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let r = b
            .get_json(&format!("/flow-delete-requests/{request_id}"))
            .await;
        schema::assert_valid("deletion-request.json", &r);
        if r["status"] == "done" {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the deletion was never completed: {r}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["timerange_remaining"], "()");
    expect_status(
        b.get(&format!("/flows/{flow}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let obj = b.get(&format!("/objects/{object}")).await;
    if obj.status() == StatusCode::OK {
        let obj: Value = obj.json().await.expect("json");
        assert_eq!(obj["referenced_by_flows"], json!([]), "{obj}");
    } else {
        assert_eq!(obj.status(), StatusCode::NOT_FOUND);
    }
}

/// A PostgreSQL server of a test's own, which the test may stop and start.
struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl OwnPostgres {
    /// `program` of the PostgreSQL binaries, as the `postgres` user when the tests run as
    /// root (the server refuses to run as root).
    fn command(&self, program: &str) -> std::process::Command {
        let exe = self.bin.join(program);
        let root = std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false);
        if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .expect("run a PostgreSQL program");
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn start() -> OwnPostgres {
        let bin = PathBuf::from(required("RUSHES_TEST_PG_BIN"));
        let dir = tempfile::Builder::new()
            .prefix("rushes-own-pg-")
            .tempdir()
            .expect("a directory");
        let _ = std::process::Command::new("chmod")
            .arg("777")
            .arg(dir.path())
            .status();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = OwnPostgres { dir, bin, port };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-U",
                "rushes",
                "-A",
                "trust",
                "--locale=C.UTF-8",
                "-E",
                "UTF8",
            ],
        );
        pg.up();
        pg
    }

    fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-w",
                "-t",
                "60",
                "-l",
                &log,
                "-o",
                &opts,
                "start",
            ],
        );
    }

    fn down(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://rushes@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_answers_503_then_recovers_without_losing_acknowledged_segments() {
    let pg = OwnPostgres::start();
    let server = TestServer::start_with(&["--database-url", &pg.url()]).await;
    let flow = create_flow(&server).await;
    let storage = expect_json(
        server
            .post(&format!("/flows/{flow}/storage"), &json!({"limit": 1}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let object = storage["media_objects"][0]["object_id"]
        .as_str()
        .expect("object")
        .to_owned();

    let mut acknowledged: Vec<u32> = Vec::new();
    let mut unavailable = 0usize;
    let mut s = 0u32;
    // Phase: before (1 s), during (PostgreSQL stopped for 3 s), after (until 30 more acks).
    let started = Instant::now();
    let mut stopped_at: Option<Instant> = None;
    let mut restarted = false;
    let mut acks_after = 0usize;
    let deadline = started + Duration::from_secs(90);
    while acks_after < 30 {
        assert!(Instant::now() < deadline, "the store never recovered");
        if stopped_at.is_none() && started.elapsed() > Duration::from_secs(1) {
            pg.down();
            stopped_at = Some(Instant::now());
        }
        if let Some(at) = stopped_at {
            if !restarted && at.elapsed() > Duration::from_secs(3) {
                pg.up();
                restarted = true;
            }
        }
        let body = json!({"object_id": object, "ts_offset": format!("{s}:0"),
                          "timerange": format!("[{s}:0_{}:0)", s + 1)});
        let resp = server.post(&format!("/flows/{flow}/segments"), &body).await;
        match resp.status() {
            StatusCode::CREATED => {
                acknowledged.push(s);
                if restarted {
                    acks_after += 1;
                }
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(
                    resp.headers().contains_key("retry-after"),
                    "a 503 carries Retry-After"
                );
                let err: Value = resp.json().await.expect("an error body");
                schema::assert_valid("error.json", &err);
                unavailable += 1;
                // Reads fail the same way while the database is away.
                if !restarted {
                    let r = server.get(&format!("/flows/{flow}")).await;
                    assert!(
                        r.status() == StatusCode::SERVICE_UNAVAILABLE
                            || r.status() == StatusCode::OK,
                        "a read during the outage: {}",
                        r.status()
                    );
                }
            }
            other => panic!(
                "segment {s}: {other} {}",
                resp.text().await.unwrap_or_default()
            ),
        }
        s += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(unavailable > 0, "no request met the outage");
    assert!(
        acknowledged.len() > 30,
        "acknowledged before and after the outage: {}",
        acknowledged.len()
    );
    // Every acknowledged segment is stored (a write whose answer was lost with the
    // connection may be stored too: the client retries it and gets a conflict).
    let stored: BTreeSet<String> = segment_starts(&server, &flow).await.into_iter().collect();
    let want: BTreeSet<String> = acknowledged
        .iter()
        .map(|s| format!("[{s}:0_{}:0)", s + 1))
        .collect();
    let missing: Vec<_> = want.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
}
