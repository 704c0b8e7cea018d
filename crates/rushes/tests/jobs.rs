//! The integration-test binary `jobs`: the jobs API (`/x-rushes/jobs`, docs/JOBS.md) of
//! the real `rushes serve` on loopback, ingesting a live MPEG-TS stream that ffmpeg sends
//! over UDP on loopback: a job started, listed, growing its flows, stopped (flows
//! closed); bad bodies and unknown ids; basic authentication (the job writes with the
//! credentials that started it); a server shutdown that stops its jobs cleanly. Export
//! jobs of media imported with `rushes import`: the cut stored as a new flow whose
//! segment's signed URL downloads a file with the expected frames.
#![allow(clippy::unwrap_used)]

#[path = "api/harness.rs"]
mod harness;
#[path = "media/mod.rs"]
mod media;
#[path = "api/schema.rs"]
mod schema;

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use harness::{assert_error, expect_json, header, TestServer};
use media::{ffprobe, range_start, ts, TestTs};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// How long a job may take to reach a state the test waits for.
const WAIT: Duration = Duration::from_secs(90);

/// ffmpeg sending test video and audio as MPEG-TS over UDP to a loopback port, in real
/// time; killed when dropped.
struct LiveSource {
    _child: Child,
    port: u16,
}

impl LiveSource {
    fn start() -> LiveSource {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
            .args(["-c:a", "aac", "-f", "mpegts"])
            .arg(format!("udp://127.0.0.1:{port}?pkt_size=1316"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("run ffmpeg");
        LiveSource {
            _child: child,
            port,
        }
    }

    /// The input a job reads it from.
    fn input(&self) -> String {
        format!(
            "udp://127.0.0.1:{}?fifo_size=1000000&overrun_nonfatal=1",
            self.port
        )
    }
}

/// A request with `authorization`, if any.
fn request(
    server: &TestServer,
    method: Method,
    path: &str,
    authorization: Option<&str>,
) -> reqwest::RequestBuilder {
    let r = server.request(method, path);
    match authorization {
        Some(a) => r.header("authorization", a),
        None => r,
    }
}

async fn get_json(server: &TestServer, path: &str, authorization: Option<&str>) -> Value {
    let resp = request(server, Method::GET, path, authorization)
        .send()
        .await
        .unwrap();
    expect_json(resp, StatusCode::OK).await
}

/// `POST /x-rushes/jobs` of an ingest of `input`: the 201's job, its `Location` checked.
async fn start_job(server: &TestServer, input: &str, authorization: Option<&str>) -> Value {
    let resp = request(server, Method::POST, "/x-rushes/jobs", authorization)
        .json(
            &json!({"kind": "ingest", "input": input, "label": "jobs test", "segment_duration": 1}),
        )
        .send()
        .await
        .unwrap();
    let location = header(&resp, "location");
    let job = expect_json(resp, StatusCode::CREATED).await;
    let id = job["id"].as_str().unwrap();
    assert_eq!(location.as_deref(), Some(&*format!("/x-rushes/jobs/{id}")));
    assert_eq!(job["kind"], "ingest");
    assert_eq!(job["request"]["input"], input);
    assert_eq!(job["request"]["segment_duration"], 1.0);
    assert_eq!(job["request"]["transcode"], false);
    assert_eq!(job["stop_requested"], false);
    assert!(job["created"].as_str().unwrap().ends_with('Z'), "{job}");
    let state = job["status"]["state"].as_str().unwrap();
    assert!(matches!(state, "starting" | "ingesting"), "{job}");
    job
}

/// Polls the job until `done` holds of it; panics after [`WAIT`].
async fn wait_for_job(
    server: &TestServer,
    id: &str,
    authorization: Option<&str>,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let job = get_json(server, &format!("/x-rushes/jobs/{id}"), authorization).await;
        if done(&job) {
            return job;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "job {id} did not reach {what} in {WAIT:?}: {job}\n--- server log ---\n{}",
                server.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every flow of the job (the mono flows, then the multi-essence one) has at least `n`
/// segments: the status counts them as registered.
fn has_segments(job: &Value, n: u64) -> bool {
    let flows = job["status"]["flows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    !flows.is_empty()
        && flows
            .iter()
            .all(|f| f["segments"].as_u64().unwrap_or(0) >= n)
}

/// The segments of a flow, all of them (the test's flows are short).
async fn segments(server: &TestServer, flow: &str, authorization: Option<&str>) -> Vec<Value> {
    let v = get_json(
        server,
        &format!("/flows/{flow}/segments?limit=1000"),
        authorization,
    )
    .await;
    v.as_array().unwrap().clone()
}

/// The job's flow ids: the multi-essence flow, then one per stream.
fn flow_ids(job: &Value) -> Vec<String> {
    let mut ids = vec![job["status"]["flow_id"].as_str().unwrap().to_owned()];
    for f in job["status"]["flows"].as_array().unwrap() {
        ids.push(f["flow_id"].as_str().unwrap().to_owned());
    }
    ids
}

/// Stops the job with DELETE (202, stop requested) and waits for it to end stopped.
async fn stop_job(server: &TestServer, id: &str, authorization: Option<&str>) -> Value {
    let path = format!("/x-rushes/jobs/{id}");
    let resp = request(server, Method::DELETE, &path, authorization)
        .send()
        .await
        .unwrap();
    let asked = expect_json(resp, StatusCode::ACCEPTED).await;
    assert_eq!(asked["id"], id);
    assert_eq!(asked["stop_requested"], true);
    let job = wait_for_job(server, id, authorization, "an end", |j| {
        matches!(j["status"]["state"].as_str(), Some("stopped" | "failed"))
    })
    .await;
    assert_eq!(job["status"]["state"], "stopped", "{job}");
    assert!(job["status"]["error"].is_null(), "{job}");
    // Stopping an ended job changes nothing: 200 with the job.
    let resp = request(server, Method::DELETE, &path, authorization)
        .send()
        .await
        .unwrap();
    let again = expect_json(resp, StatusCode::OK).await;
    assert_eq!(again["status"]["state"], "stopped");
    job
}

/// The flows of a stopped job are closed, and every flow holds the segments the job
/// counted (the store was empty before).
async fn assert_closed_with_segments(server: &TestServer, job: &Value, auth: Option<&str>) {
    for flow in flow_ids(job) {
        let f = get_json(server, &format!("/flows/{flow}"), auth).await;
        assert_eq!(f["status"], "closed_complete", "{f}");
    }
    for f in job["status"]["flows"].as_array().unwrap() {
        let flow = f["flow_id"].as_str().unwrap();
        let segs = segments(server, flow, auth).await;
        assert_eq!(segs.len() as u64, f["segments"].as_u64().unwrap(), "{flow}");
        assert!(segs.len() >= 2, "{flow}: {segs:?}");
    }
}

#[tokio::test]
async fn a_job_ingests_a_live_input_until_stopped() {
    let server = TestServer::start().await;
    let source = LiveSource::start();
    let job = start_job(&server, &source.input(), None).await;
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["created_by"], "anonymous");

    // Listed while it runs.
    let list = get_json(&server, "/x-rushes/jobs", None).await;
    let listed = list.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["id"], id);
    assert!(
        matches!(
            listed[0]["status"]["state"].as_str(),
            Some("starting" | "ingesting")
        ),
        "{list}"
    );

    // Its flows grow while it records.
    let job = wait_for_job(&server, &id, None, "two segments per flow", |j| {
        j["status"]["state"] == "ingesting" && has_segments(j, 2)
    })
    .await;
    let flows = job["status"]["flows"].as_array().unwrap();
    let roles: Vec<&str> = flows.iter().map(|f| f["role"].as_str().unwrap()).collect();
    assert_eq!(flows.len(), 2, "one video and one audio flow: {job}");
    assert!(roles.iter().any(|r| r.contains("video")), "{roles:?}");
    for f in flows {
        let flow = f["flow_id"].as_str().unwrap();
        let segs = segments(&server, flow, None).await;
        assert!(!segs.is_empty(), "{flow} has no segments yet");
        for s in &segs {
            schema::assert_valid("flow-segment.json", s);
        }
        let meta = get_json(&server, &format!("/flows/{flow}"), None).await;
        assert_eq!(meta["status"], "ingesting", "{meta}");
    }
    // The same input and label again would write the same flows: refused while it runs.
    let resp = server
        .post(
            "/x-rushes/jobs",
            &json!({"kind": "ingest", "input": source.input(), "label": "jobs test"}),
        )
        .await;
    assert_error(resp, StatusCode::CONFLICT).await;

    let job = stop_job(&server, &id, None).await;
    assert_closed_with_segments(&server, &job, None).await;
    // An ended job stays listed.
    let list = get_json(&server, "/x-rushes/jobs", None).await;
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["status"]["state"], "stopped");
}

#[tokio::test]
async fn a_job_whose_input_cannot_be_read_fails_with_the_reason() {
    let server = TestServer::start().await;
    let missing = server.data_dir().join("no-such-file.ts");
    let job = start_job(&server, missing.to_str().unwrap(), None).await;
    let id = job["id"].as_str().unwrap();
    let job = wait_for_job(&server, id, None, "failed", |j| {
        j["status"]["state"] == "failed"
    })
    .await;
    let error = job["status"]["error"].as_str().unwrap();
    assert!(!error.is_empty(), "{job}");
    assert_eq!(job["status"]["flows"], json!([]), "{job}");
}

#[tokio::test]
async fn bad_bodies_are_refused_and_unknown_ids_are_not_found() {
    let server = TestServer::start().await;
    let bad = [
        json!({"kind": "export", "input": "udp://127.0.0.1:9"}),
        json!({"input": "udp://127.0.0.1:9"}),
        json!({"kind": "ingest"}),
        json!({"kind": "ingest", "input": ""}),
        json!({"kind": "ingest", "input": "-f"}),
        json!({"kind": "ingest", "input": "udp://127.0.0.1:9", "segment_duration": 0}),
        json!({"kind": "ingest", "input": "udp://127.0.0.1:9", "segment_duration": 3601}),
        json!({"kind": "ingest", "input": "udp://127.0.0.1:9", "segment_duration": "1"}),
        json!({"kind": "ingest", "input": "udp://127.0.0.1:9", "stall_timeout": -1}),
        json!({"kind": "ingest", "input": "udp://127.0.0.1:9", "transcode": 1}),
        json!({"kind": "ingest", "input": "udp://127.0.0.1:9", "reconnect": false}),
        json!({"kind": "ingest", "input": "udp://127.0.0.1:9", "input_args": ["-i", "/etc/passwd"]}),
        json!({"kind": "ingest", "input": "color", "input_args": ["-f", "lavfi"]}),
        json!(["ingest"]),
        json!({"kind": "export", "timerange": "_"}),
        json!({"kind": "export", "flow_id": "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60"}),
        json!({"kind": "export", "flow_id": "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60",
               "source_id": "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f61", "timerange": "_"}),
        json!({"kind": "export", "flow_id": "not-a-uuid", "timerange": "_"}),
        json!({"kind": "export", "flow_id": "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60",
               "timerange": "[5:0_3:0)"}),
        json!({"kind": "export", "flow_id": "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60",
               "timerange": "ten to twenty"}),
        json!({"kind": "export", "flow_id": "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60",
               "timerange": "_", "format": "mkv"}),
        json!({"kind": "export", "flow_id": "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60",
               "timerange": "_", "format": 4}),
        json!({"kind": "export", "flow_id": "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60",
               "timerange": "_", "label": "a\nb"}),
        json!({"kind": "export", "flow_id": "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60",
               "timerange": "_", "segment_duration": 1}),
    ];
    for body in bad {
        let resp = server.post("/x-rushes/jobs", &body).await;
        let err = assert_error(resp, StatusCode::BAD_REQUEST).await;
        assert!(!err["summary"].as_str().unwrap().is_empty(), "{body}");
    }
    // Not JSON at all.
    let resp = server
        .request(Method::POST, "/x-rushes/jobs")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::BAD_REQUEST).await;
    let resp = server
        .request(Method::POST, "/x-rushes/jobs")
        .body("kind=ingest")
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // Nothing was started.
    assert_eq!(get_json(&server, "/x-rushes/jobs", None).await, json!([]));

    for path in [
        "/x-rushes/jobs/7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60",
        "/x-rushes/jobs/not-an-id",
    ] {
        assert_error(server.get(path).await, StatusCode::NOT_FOUND).await;
        assert_error(server.delete(path).await, StatusCode::NOT_FOUND).await;
    }
    let resp = server.put("/x-rushes/jobs", &json!({})).await;
    assert_error(resp, StatusCode::METHOD_NOT_ALLOWED).await;
}

const EDITOR_PASSWORD: &str = "editor's long passphrase";
const VIEWER_PASSWORD: &str = "viewer's long passphrase";

fn basic(name: &str, password: &str) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
    format!("Basic {enc}")
}

#[tokio::test]
async fn with_basic_auth_a_job_needs_write_and_writes_as_its_starter() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rushes.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[auth.basic.users]]
name = "editor"
password_hash = "{}"
scopes = ["tams-api/read", "tams-api/write"]

[[auth.basic.users]]
name = "viewer"
password_hash = "{}"
scopes = ["tams-api/read"]
"#,
            harness::hash_password(EDITOR_PASSWORD).await,
            harness::hash_password(VIEWER_PASSWORD).await
        ),
    )
    .unwrap();
    let server = TestServer::start_with(&["--config", config.to_str().unwrap()]).await;
    let editor = basic("editor", EDITOR_PASSWORD);
    let viewer = basic("viewer", VIEWER_PASSWORD);
    let source = LiveSource::start();
    let body = json!({"kind": "ingest", "input": source.input(), "segment_duration": 1});

    // No credentials: 401 with the basic challenge, for reads and writes alike.
    let resp = server.post("/x-rushes/jobs", &body).await;
    let challenge = header(&resp, "www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    assert_error(resp, StatusCode::UNAUTHORIZED).await;
    assert_error(server.get("/x-rushes/jobs").await, StatusCode::UNAUTHORIZED).await;
    let resp = request(
        &server,
        Method::POST,
        "/x-rushes/jobs",
        Some(&basic("editor", "wrong")),
    )
    .json(&body)
    .send()
    .await
    .unwrap();
    assert_error(resp, StatusCode::UNAUTHORIZED).await;
    // Read scope only: may look, may not start.
    let resp = request(&server, Method::POST, "/x-rushes/jobs", Some(&viewer))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::FORBIDDEN).await;
    assert_eq!(
        get_json(&server, "/x-rushes/jobs", Some(&viewer)).await,
        json!([])
    );

    // The editor's job writes with the editor's credentials.
    let job = start_job(&server, &source.input(), Some(&editor)).await;
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["created_by"], "editor");
    let text = job.to_string();
    assert!(
        !text.contains(EDITOR_PASSWORD) && !text.contains(&editor[6..]),
        "{text}"
    );
    let job = wait_for_job(&server, &id, Some(&viewer), "two segments per flow", |j| {
        has_segments(j, 2)
    })
    .await;
    for flow in flow_ids(&job) {
        let f = get_json(&server, &format!("/flows/{flow}"), Some(&viewer)).await;
        assert_eq!(f["created_by"], "editor", "{f}");
    }
    // Stopping needs write too.
    let path = format!("/x-rushes/jobs/{id}");
    let resp = request(&server, Method::DELETE, &path, Some(&viewer))
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::FORBIDDEN).await;
    let resp = server.delete(&path).await;
    assert_error(resp, StatusCode::UNAUTHORIZED).await;

    let job = stop_job(&server, &id, Some(&editor)).await;
    assert_closed_with_segments(&server, &job, Some(&viewer)).await;
}

#[tokio::test]
async fn a_server_shutdown_stops_its_jobs_and_closes_their_flows() {
    let mut server = TestServer::start().await;
    let source = LiveSource::start();
    let job = start_job(&server, &source.input(), None).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let job = wait_for_job(&server, &id, None, "a segment per flow", |j| {
        has_segments(j, 1)
    })
    .await;
    // SIGTERM, a clean exit, and the same data directory served again.
    server.restart().await;
    // Jobs live in memory: gone after the restart.
    assert_eq!(get_json(&server, "/x-rushes/jobs", None).await, json!([]));
    for flow in flow_ids(&job) {
        let f = get_json(&server, &format!("/flows/{flow}"), None).await;
        assert_eq!(f["status"], "closed_complete", "{f}");
    }
    for f in job["status"]["flows"].as_array().unwrap() {
        let flow = f["flow_id"].as_str().unwrap();
        let segs = segments(&server, flow, None).await;
        assert!(
            segs.len() as u64 >= f["segments"].as_u64().unwrap(),
            "{flow}: {} segments, the job had counted {}",
            segs.len(),
            f["segments"]
        );
    }
}

// ---------------------------------------------------------------------------------------
// Export jobs

/// 100 frames (4 s) of testsrc2 at 25 fps, H.264 with a key frame every 25 frames, and a
/// 48 kHz stereo sine in AAC, as MPEG-TS.
fn make_ts(path: &std::path::Path) {
    TestTs {
        audio_seconds: 5,
        shortest: true,
        ..TestTs::new(100, 25)
    }
    .write(path);
}

/// `rushes import FILE --segment-duration 1` into the server; the summary.
async fn import(server: &TestServer, file: &std::path::Path, work: &std::path::Path) -> Value {
    let args = ["--segment-duration", "1"];
    media::import(&server.base_url, file, work, &args)
        .await
        .summary()
}

/// `(video frames, audio streams)` of a file, as ffprobe counts them.
fn probe_file(path: &std::path::Path) -> (u64, usize) {
    let args = [
        "-count_frames",
        "-show_entries",
        "stream=codec_type,nb_read_frames",
    ];
    let streams = ffprobe(path, &args, "stream");
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .map(|s| s["nb_read_frames"].parse().unwrap())
        .unwrap_or(0);
    let audio = streams
        .iter()
        .filter(|s| s["codec_type"] == "audio")
        .count();
    (video, audio)
}

/// POST an export job; the 201's job.
async fn start_export(server: &TestServer, body: Value) -> Value {
    let resp = server.post("/x-rushes/jobs", &body).await;
    let job = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(job["kind"], "export", "{job}");
    assert_eq!(job["request"]["kind"], "export", "{job}");
    let state = job["status"]["state"].as_str().unwrap();
    assert!(matches!(state, "starting" | "exporting"), "{job}");
    job
}

async fn wait_for_end(server: &TestServer, id: &str) -> Value {
    wait_for_job(server, id, None, "an end", |j| {
        matches!(
            j["status"]["state"].as_str(),
            Some("done" | "failed" | "stopped")
        )
    })
    .await
}

#[tokio::test]
async fn an_export_job_stores_the_cut_as_a_new_flow_with_a_signed_url() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("source.ts");
    make_ts(&file);
    let summary = import(&server, &file, &dir.path().join("work")).await;
    let multi = summary["flow_id"].as_str().unwrap().to_owned();
    let video = summary["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == "video")
        .unwrap()["flow_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let flow = server
        .get_json(&format!("/flows/{video}?include_timerange=true"))
        .await;
    let start = range_start(flow["timerange"].as_str().unwrap());
    // Seconds 1 to 3: frames 25..75, whole GOPs.
    let tr = format!(
        "[{}_{})",
        ts(start + 1_000_000_000),
        ts(start + 3_000_000_000)
    );

    // The multi-essence flow (video and audio) to MP4, and the video flow alone to MPEG-TS.
    for (target, format, multiplexed) in [(&multi, "mp4", true), (&video, "ts", false)] {
        let job = start_export(
            &server,
            json!({"kind": "export", "flow_id": target, "timerange": tr, "format": format}),
        )
        .await;
        assert_eq!(job["request"]["format"], format, "{job}");
        let id = job["id"].as_str().unwrap().to_owned();
        let job = wait_for_end(&server, &id).await;
        assert_eq!(job["status"]["state"], "done", "{job}\n{}", server.log());
        assert!(job["status"]["error"].is_null(), "{job}");
        let result = &job["status"]["result"];
        assert_eq!(result["frames"], 50, "{job}");
        assert_eq!(result["timerange"], tr.as_str(), "{job}");
        assert_eq!(result["duration"], "2:0", "{job}");
        assert_eq!(result["format"], format, "{job}");
        assert!(result["bytes"].as_u64().unwrap() > 1000, "{job}");

        // The URL downloads the file, as stored, without credentials.
        let url = result["url"].as_str().unwrap();
        let object_id = result["object_id"].as_str().unwrap();
        server.assert_signed_media_url(url, object_id);
        let resp = reqwest::get(url).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, result["bytes"].as_u64().unwrap());
        let out = dir.path().join(format!("export.{format}"));
        std::fs::write(&out, &bytes).unwrap();
        let (frames, audio) = probe_file(&out);
        assert_eq!(frames, 50, "{}", out.display());
        assert_eq!(audio, usize::from(multiplexed), "{}", out.display());

        // The new flow: listed, tagged, one segment over the range holding the object.
        let new = result["flow_id"].as_str().unwrap();
        let f = server
            .get_json(&format!("/flows/{new}?include_timerange=true"))
            .await;
        schema::assert_valid("flow-get.json", &f);
        let (fmt, container) = if multiplexed {
            ("urn:x-nmos:format:multi", "video/mp4")
        } else {
            ("urn:x-nmos:format:video", "video/mp2t")
        };
        assert_eq!(f["format"], fmt, "{f}");
        assert_eq!(f["container"], container, "{f}");
        assert_eq!(f["source_id"], result["source_id"], "{f}");
        if !multiplexed {
            assert_eq!(f["codec"], "video/h264", "{f}");
            assert_eq!(f["essence_parameters"]["frame_width"], 320, "{f}");
        }
        assert_eq!(f["tags"]["rushes.export.of"], target.as_str(), "{f}");
        assert_eq!(f["tags"]["rushes.export.timerange"], tr.as_str(), "{f}");
        assert!(
            f["label"].as_str().unwrap().starts_with("export of "),
            "{f}"
        );
        let all = server.get_json("/flows").await;
        assert!(
            all.as_array().unwrap().iter().any(|x| x["id"] == new),
            "{all}"
        );
        let segs = server.get_json(&format!("/flows/{new}/segments")).await;
        schema::assert_valid_list("flow-segment.json", &segs);
        let segs = segs.as_array().unwrap();
        assert_eq!(segs.len(), 1, "{segs:?}");
        assert_eq!(segs[0]["object_id"], object_id);
        assert_eq!(f["timerange"], tr.as_str(), "{f}");

        // The job's files are gone; stopping the finished job changes nothing.
        assert!(!server.data_dir().join("jobs").join(&id).exists());
        let resp = server.delete(&format!("/x-rushes/jobs/{id}")).await;
        let again = expect_json(resp, StatusCode::OK).await;
        assert_eq!(again["status"]["state"], "done");
        assert_eq!(again["status"]["result"], *result);
    }

    // A DELETE while it runs stops it: no flow left, no files left.
    let before = server.get_json("/flows").await.as_array().unwrap().len();
    let job = start_export(
        &server,
        json!({"kind": "export", "flow_id": multi, "timerange": "_", "format": "mov"}),
    )
    .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let resp = server.delete(&format!("/x-rushes/jobs/{id}")).await;
    let asked = expect_json(resp, StatusCode::ACCEPTED).await;
    assert_eq!(asked["stop_requested"], true);
    let job = wait_for_end(&server, &id).await;
    assert_eq!(job["status"]["state"], "stopped", "{job}");
    assert!(
        job["status"]["result"].is_null() && job["status"]["flow_id"].is_null(),
        "{job}"
    );
    assert!(!server.data_dir().join("jobs").join(&id).exists());
    assert_eq!(
        server.get_json("/flows").await.as_array().unwrap().len(),
        before
    );

    // A flow that does not exist: the job fails, saying so, and makes no flow.
    let job = start_export(
        &server,
        json!({"kind": "export", "flow_id": "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60", "timerange": tr}),
    )
    .await;
    let job = wait_for_end(&server, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"]["state"], "failed", "{job}");
    assert!(job["status"]["result"].is_null(), "{job}");
    let error = job["status"]["error"].as_str().unwrap();
    assert!(
        error.contains("7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60"),
        "{error}"
    );
    assert_eq!(
        server.get_json("/flows").await.as_array().unwrap().len(),
        before
    );
}
