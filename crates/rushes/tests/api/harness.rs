//! `TestServer`: the real `rushes serve` on a random loopback port with a temporary data dir.
//!
//! ```ignore
//! let server = TestServer::start().await;
//! let resp = server.get("/service").await;
//! let body = expect_json(resp, StatusCode::OK).await;
//! schema::assert_valid("service.json", &body);
//! ```
#![allow(dead_code)]

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::schema;

/// How long the server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// The line prefix the server prints once it accepts connections.
const LISTENING_PREFIX: &str = "rushes listening on ";

/// A running `rushes serve`; killed when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:PORT` (no trailing slash). Changes on `restart()`.
    pub base_url: String,
    /// A client with a 30 s request timeout.
    pub client: reqwest::Client,
    data_dir: TempDir,
    extra_args: Vec<String>,
    /// `--database-url` / `--object-store-url` of the engines under test (none: SQLite
    /// and local disk under the data dir), fixed for the server's life.
    engine_args: Vec<String>,
    child: Option<Child>,
    /// Everything the server wrote to stderr (and stdout after the listening line).
    log: Arc<Mutex<String>>,
}

impl TestServer {
    /// Starts `rushes serve --listen 127.0.0.1:0 --data-dir <fresh temp dir>`.
    pub async fn start() -> TestServer {
        TestServer::start_with(&[]).await
    }

    /// Like `start`, with extra command-line flags after `serve ...`.
    pub async fn start_with(args: &[&str]) -> TestServer {
        let data_dir = tempfile::Builder::new()
            .prefix("rushes-test-")
            .tempdir()
            .expect("create a temporary data dir");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build the HTTP client");
        let mut server = TestServer {
            base_url: String::new(),
            client,
            data_dir,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            engine_args: engine_args().await,
            child: None,
            log: Arc::new(Mutex::new(String::new())),
        };
        server.spawn().await;
        server
    }

    /// The data directory (kept across `restart()`).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The `--database-url` / `--object-store-url` flags the server runs with (empty on
    /// SQLite and local disk), for other commands on the same store.
    pub fn engine_args(&self) -> &[String] {
        &self.engine_args
    }

    /// The `--object-store-url` the server runs with (the S3 bucket and prefix of its own),
    /// or `None` on local disk (media under `data_dir()/media`).
    pub fn object_store_url(&self) -> Option<&str> {
        self.engine_args
            .iter()
            .position(|a| a == "--object-store-url")
            .and_then(|i| self.engine_args.get(i + 1))
            .map(String::as_str)
    }

    /// Where the signed media URLs of this server point, ending in `/`: its own media
    /// endpoint `{base_url}/media/` on local disk, or `{endpoint}/{bucket}/{prefix}/` of
    /// its S3 backend (path-style presigned URLs, see docs/STORAGE.md).
    pub fn media_url_prefix(&self) -> String {
        match self.object_store_url() {
            None => format!("{}/media/", self.base_url),
            Some(s3) => {
                let url = url::Url::parse(s3).expect("the object store URL is a URL");
                let endpoint = url
                    .query_pairs()
                    .find(|(k, _)| k == "endpoint")
                    .map(|(_, v)| v.trim_end_matches('/').to_owned())
                    .expect("the suite's S3 URL names an endpoint");
                let bucket = url.host_str().expect("the S3 URL names a bucket");
                format!("{endpoint}/{bucket}/{}/", url.path().trim_matches('/'))
            }
        }
    }

    /// Asserts `url` is a signed media URL of this server for `object_id`: under
    /// `media_url_prefix()`, naming the object and carrying a signature (`sig` on local
    /// disk, SigV4's `X-Amz-Signature` on S3).
    pub fn assert_signed_media_url(&self, url: &str, object_id: &str) {
        let prefix = self.media_url_prefix();
        assert!(url.starts_with(&prefix), "{url} is not under {prefix}");
        assert!(url.contains(object_id), "{url} does not name {object_id}");
        let parsed = url::Url::parse(url).expect("a signed URL is a URL");
        let signature = if media_on_s3() {
            "X-Amz-Signature"
        } else {
            "sig"
        };
        assert!(
            parsed
                .query_pairs()
                .any(|(k, v)| k == signature && !v.is_empty()),
            "{url} carries no {signature}"
        );
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(|c| c.id())
            .expect("server is running")
    }

    /// What the server has logged so far (stderr, and stdout after the listening line).
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// The server's log once it holds `needle`, waiting up to 10 s for stderr to be
    /// collected (it is read in the background); panics with the log if it never does.
    pub async fn log_containing(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server log never held {needle:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rushes"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(&self.engine_args)
            .args(&self.extra_args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // The server reads RUSHES_* settings from the environment; tests pass flags only.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RUSHES_") {
                cmd.env_remove(&key);
            }
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd.spawn().expect("spawn the rushes binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        self.log
            .lock()
            .expect("log lock")
            .push_str("--- server started ---\n");
        drain_into(stderr, self.log.clone());

        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.trim().strip_prefix(LISTENING_PREFIX) {
                    return Some(url.trim_end_matches('/').to_owned());
                }
                push_line(&self.log, &line);
            }
            None
        })
        .await;
        match found {
            Ok(Some(url)) => {
                assert!(
                    url.starts_with("http://127.0.0.1:"),
                    "server listens on {url}, expected 127.0.0.1"
                );
                self.base_url = url;
                drain_into(lines.into_inner(), self.log.clone());
                self.child = Some(child);
            }
            outcome => {
                let why = match outcome {
                    Err(_) => format!("no listening line within {START_TIMEOUT:?}"),
                    _ => "stdout closed before the listening line".to_owned(),
                };
                let _ = child.start_kill();
                let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await
                {
                    Ok(Ok(status)) => status.to_string(),
                    Ok(Err(e)) => format!("wait failed: {e}"),
                    Err(_) => "still running, killed".to_owned(),
                };
                // Give the stderr reader a moment to collect the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "rushes serve did not start: {why} ({status})\n--- server log ---\n{}",
                    self.log()
                );
            }
        }
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    /// Panics if it does not exit within 15 s.
    pub async fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server is running");
        if let Some(pid) = child.id() {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await
                .expect("run kill");
            assert!(status.success(), "kill -TERM {pid} failed");
        }
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(status) => status.expect("wait for the server"),
            Err(_) => {
                let _ = child.start_kill();
                panic!(
                    "server did not exit within {STOP_TIMEOUT:?} of SIGTERM\n--- server log ---\n{}",
                    self.log()
                );
            }
        }
    }

    /// Kills the process with SIGKILL (a crash) and waits for it.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("server is running");
        child.kill().await.expect("kill the server");
    }

    /// Stops the server cleanly (SIGTERM, asserting a successful exit) and starts it again
    /// on the same data dir and flags. `base_url` changes (a new random port).
    pub async fn restart(&mut self) {
        let status = self.stop().await;
        assert!(
            status.success(),
            "server exited with {status} on SIGTERM\n--- server log ---\n{}",
            self.log()
        );
        self.spawn().await;
    }

    /// Kills the server (SIGKILL, no clean shutdown) and starts it again on the same data dir.
    pub async fn crash_and_restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    /// `base_url + path` for a path starting with `/`; a full `http(s)://` URL is kept as is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            assert!(path.starts_with('/'), "path must start with '/': {path}");
            format!("{}{path}", self.base_url)
        }
    }

    /// A request builder for any method, for what the helpers below do not cover.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        send(self.request(Method::GET, path)).await
    }

    pub async fn head(&self, path: &str) -> Response {
        send(self.request(Method::HEAD, path)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        send(self.request(Method::DELETE, path)).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Response {
        send(self.request(Method::PUT, path).json(body)).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        send(self.request(Method::POST, path).json(body)).await
    }

    /// GET, assert 200, and return the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        expect_json(self.get(path).await, StatusCode::OK).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
            // A failing test shows what the server logged.
            if std::thread::panicking() {
                eprintln!("--- rushes server log ---\n{}", self.log());
            }
        }
    }
}

/// Whether the suite runs with media on S3 (`RUSHES_SUITE_OBJECT_STORE_URL` is set):
/// signed URLs are the S3 server's presigned URLs and bytes live in the bucket, not
/// under the data dir.
pub fn media_on_s3() -> bool {
    std::env::var_os("RUSHES_SUITE_OBJECT_STORE_URL").is_some()
}

/// The engines the suite runs against, from the environment the test command sets:
/// `RUSHES_SUITE_DATABASE_URL` (a PostgreSQL server URL: each server gets a database of
/// its own, created here) and `RUSHES_SUITE_OBJECT_STORE_URL` (an `s3://bucket/prefix?...` URL: each
/// server gets a prefix of its own). Unset: SQLite and local disk.
async fn engine_args() -> Vec<String> {
    let mut args = Vec::new();
    if let Ok(base) = std::env::var("RUSHES_SUITE_DATABASE_URL") {
        args.push("--database-url".to_owned());
        args.push(fresh_database(&base).await);
    }
    if let Ok(s3) = std::env::var("RUSHES_SUITE_OBJECT_STORE_URL") {
        let mut url = url::Url::parse(&s3).expect("RUSHES_SUITE_OBJECT_STORE_URL is a URL");
        let path = format!(
            "{}/t-{}",
            url.path().trim_end_matches('/'),
            uuid::Uuid::new_v4().simple()
        );
        url.set_path(&path);
        args.push("--object-store-url".to_owned());
        args.push(url.to_string());
    }
    args
}

/// Creates an empty database on the PostgreSQL server of `base` (a `postgres://` URL)
/// and returns the URL naming it.
pub async fn fresh_database(base: &str) -> String {
    let mut url = url::Url::parse(base).expect("RUSHES_SUITE_DATABASE_URL is a URL");
    let name = format!("rt_{}", uuid::Uuid::new_v4().simple());
    let admin = base.to_owned();
    let create = format!("CREATE DATABASE {name}");
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin}: {e}"));
        client
            .batch_execute(&create)
            .expect("create a test database");
    })
    .await
    .expect("create the test database");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn push_line(log: &Mutex<String>, line: &str) {
    let mut log = log.lock().expect("log lock");
    log.push_str(line);
    log.push('\n');
}

/// Copies every line of `reader` into `log` in the background, until EOF.
fn drain_into<R: AsyncRead + Unpin + Send + 'static>(reader: R, log: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            push_line(&log, &line);
        }
    });
}

async fn send(builder: RequestBuilder) -> Response {
    let described = format!("{builder:?}");
    builder
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}\n{described}"))
}

/// The body as JSON; panics with the status and the raw body if it is not JSON.
pub async fn json(resp: Response) -> Value {
    let status = resp.status();
    let url = resp.url().clone();
    let text = resp.text().await.expect("read the response body");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status} from {url}: body is not JSON ({e}):\n{text}"))
}

/// Asserts the status (printing the body if it differs) and returns the body as JSON.
pub async fn expect_json(resp: Response, status: StatusCode) -> Value {
    let resp = expect_status(resp, status).await;
    let content_type = header(&resp, "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type is {content_type:?}, expected application/json"
    );
    json(resp).await
}

/// Asserts the status, printing the method, URL and body if it differs; returns the response.
pub async fn expect_status(resp: Response, status: StatusCode) -> Response {
    if resp.status() != status {
        let got = resp.status();
        let url = resp.url().clone();
        let text = resp.text().await.unwrap_or_default();
        panic!("expected {status} from {url}, got {got}; body:\n{text}");
    }
    resp
}

/// Asserts the status and that the body is a valid `error.json`; returns the body.
pub async fn assert_error(resp: Response, status: StatusCode) -> Value {
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{status} is not an error status"
    );
    let body = expect_json(resp, status).await;
    schema::assert_valid("error.json", &body);
    body
}

/// A response header as a string, if present and valid UTF-8.
pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `rushes hash-password` with `password` on stdin: the hash it prints (for a basic user
/// in a test server's configuration).
pub async fn hash_password(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rushes"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{password}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
