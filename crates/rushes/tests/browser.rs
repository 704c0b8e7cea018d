//! The integration-test binary `browser`: the store's HLS played in a real browser.
//!
//! Headless Chromium (Debian's `/usr/bin/chromium`), driven by playwright-core from
//! `tests/browser/play.mjs`, opens `tests/browser/player.html`, a page with hls.js on a
//! muted autoplaying `<video>`, served over HTTP on 127.0.0.1 by that script. The page loads
//! a playlist of `rushes serve` cross-origin (the server allows the page's origin with
//! `--cors-origin`), so the playlists and the signed media URLs they list must both carry
//! CORS headers. A test passes when `currentTime` passes 5 s with no hls.js error (fatal
//! or not), no `error` event on the video, no failed request, and the picture has the
//! source's size. A control test plays a plain ffmpeg HLS stream served by the same page,
//! so a failure of the store's tests is the store's, not the browser's.
//!
//! Chromium and the npm packages are installed by `scripts/test.sh`; without them these
//! tests fail (they never skip) and say so.
#![allow(clippy::unwrap_used)]

#[path = "api/harness.rs"]
mod harness;
#[path = "media/mod.rs"]
mod media;
#[path = "api/schema.rs"]
mod schema;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::TestServer;
use media::ffmpeg_owned;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// `currentTime` the video must pass, in seconds.
const MIN_TIME_S: u32 = 5;
/// How long the page may take to get there, from the start of loading.
const PLAY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the whole browser run may take (Chromium's start and exit included).
const RUN_TIMEOUT: Duration = Duration::from_secs(90);
/// The media: 12 s of 320x240 at 25 frames/s, a key frame every 2 s.
const FRAMES: u32 = 300;
const WIDTH: u64 = 320;
const HEIGHT: u64 = 240;

// ---------------------------------------------------------------------------------------
// The browser

/// The directory of the page, the driver script and their npm packages.
fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// The Chromium binary: `RUSHES_TEST_CHROMIUM`, or Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("RUSHES_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Panics, naming what is missing, unless Chromium, Node.js and the npm packages are
/// installed: these tests fail rather than skip.
fn require_tools() {
    let dir = browser_dir();
    let mut missing = Vec::new();
    let chromium = chromium();
    if !chromium.is_file() {
        missing.push(format!("Chromium ({})", chromium.display()));
    }
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    if !node.is_ok_and(|o| o.status.success()) {
        missing.push("Node.js (`node` on PATH)".to_owned());
    }
    for file in [
        "node_modules/playwright-core/package.json",
        "node_modules/hls.js/dist/hls.min.js",
    ] {
        if !dir.join(file).is_file() {
            missing.push(dir.join(file).display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "the browser tests need {}: run scripts/test.sh (it installs Debian's chromium and \
         runs `npm ci` in {})",
        missing.join(", "),
        dir.display()
    );
}

/// `node play.mjs` with its page server up, waiting for the URL to play.
struct Player {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
    /// `http://127.0.0.1:PORT`, the page's origin.
    origin: String,
}

impl Player {
    /// Starts the page server; with `static_dir`, its files are served under `/static/`.
    async fn start(static_dir: Option<&Path>) -> Player {
        require_tools();
        let dir = browser_dir();
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("play.mjs"));
        if let Some(d) = static_dir {
            cmd.arg("--static").arg(d);
        }
        let mut child = cmd
            .current_dir(&dir)
            .env("CHROMIUM", chromium())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(15), stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("play.mjs printed no origin within 15 s"))
            .unwrap();
        let Some(first) = first else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            panic!(
                "play.mjs exited before serving the page:\n{}",
                stderr.lock().unwrap()
            );
        };
        let origin = serde_json::from_str::<Value>(&first)
            .unwrap_or_else(|e| panic!("play.mjs printed {first:?}: {e}"))["origin"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(origin.starts_with("http://127.0.0.1:"), "{origin}");
        Player {
            child,
            stdout,
            stderr,
            origin,
        }
    }

    /// Plays `url` (absolute, or a path on the page's origin) and returns what the page
    /// saw (play.mjs's result line).
    async fn play(mut self, url: &str) -> Value {
        let request = json!({
            "url": url,
            "min_time": MIN_TIME_S,
            "timeout_ms": PLAY_TIMEOUT.as_millis() as u64,
        });
        let mut stdin = self.child.stdin.take().unwrap();
        stdin
            .write_all(format!("{request}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let line = tokio::time::timeout(RUN_TIMEOUT, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the browser run did not end within {RUN_TIMEOUT:?}:\n{}",
                    self.stderr.lock().unwrap()
                )
            })
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let stderr = self.stderr.lock().unwrap().clone();
        let Some(line) = line else {
            panic!("play.mjs printed no result ({status:?}):\n{stderr}");
        };
        let result: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("play.mjs printed {line:?} ({e}):\n{stderr}"));
        if let Some(why) = result["harness_error"].as_str() {
            panic!("the browser harness failed: {why}\n{stderr}");
        }
        assert!(
            status.is_some_and(|s| s.success()),
            "play.mjs exited with {status:?}:\n{stderr}"
        );
        result
    }
}

/// What the playback must show; `context` (e.g. the playlist text) is printed on failure
/// with everything the page recorded.
struct Expect<'a> {
    audio: bool,
    context: &'a str,
}

/// Whether an hls.js error event is one of its own non-fatal reports at the start of
/// playback (`currentTime` 0) that its control streams written by ffmpeg raise too, so that
/// it says nothing about the store:
///
/// - `bufferSeekOverHole`: the skip over the gap before the first frame where audio and
///   video are both buffered. H.264 with B-frames presents its first frame a few frames
///   after it decodes it and AAC starts a little before the video, so that range starts a
///   fraction of a second after 0 (0.18 s for ffmpeg's HLS of the test media). Chromium
///   often starts there by itself; on a busy machine hls.js's gap controller polls first
///   and reports its jump.
/// - `bufferAppendNoProgress` of the first audio segment of an alternate audio rendition:
///   raised for ffmpeg's own HLS with an audio group as well.
///
/// hls.js records the event's `currentTime` after its jump, so "at the start" is before the
/// first second (the jump lands where the first frame is, 0.18 s here).
///
/// Every other error event, and these anywhere but at the start, fails the test.
fn is_start_report(e: &Value) -> bool {
    let at_start = e["source"] == "hls.js"
        && e["fatal"] == false
        && e["current_time"].as_f64().is_some_and(|t| t < 1.0);
    let first_audio = e["frag"]["type"] == "audio" && e["frag"]["sn"] == 0;
    at_start
        && (e["details"] == "bufferSeekOverHole"
            || (e["details"] == "bufferAppendNoProgress" && first_audio))
}

/// Asserts the page played: H.264 through MSE available, `currentTime` past 5 s, no error
/// of any kind, the picture of the source's size, and audio buffered when expected.
fn assert_played(result: &Value, expect: &Expect) {
    let shown = || {
        format!(
            "{}\n--- what the page recorded ---\n{}",
            expect.context,
            serde_json::to_string_pretty(result).unwrap()
        )
    };
    let codecs = &result["codecs"];
    assert_eq!(
        codecs["h264"],
        true,
        "this Chromium ({}) cannot play H.264 through Media Source Extensions \
         (MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.64001f\"') is false); \
         Debian's chromium package can: install it with scripts/test.sh\n{}",
        chromium().display(),
        shown()
    );
    assert_eq!(codecs["aac"], true, "no AAC through MSE\n{}", shown());
    assert!(
        result["exception"].is_null(),
        "the page script failed\n{}",
        shown()
    );
    let report = &result["report"];
    let errors: Vec<Value> = report["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !is_start_report(e))
        .collect();
    assert!(
        errors.is_empty(),
        "{} error event(s) during playback: {}\n{}",
        errors.len(),
        serde_json::to_string(&errors).unwrap(),
        shown()
    );
    let failures = result["network_failures"].as_array().unwrap();
    assert!(
        failures.is_empty(),
        "requests failed (a CORS refusal shows as net::ERR_FAILED): {}\n{}",
        serde_json::to_string(failures).unwrap(),
        shown()
    );
    let time = report["current_time"].as_f64().unwrap_or(0.0);
    assert!(
        time >= f64::from(MIN_TIME_S),
        "currentTime reached only {time} s within {PLAY_TIMEOUT:?}\n{}",
        shown()
    );
    assert_eq!(
        (
            report["video_width"].as_u64(),
            report["video_height"].as_u64()
        ),
        (Some(WIDTH), Some(HEIGHT)),
        "picture size\n{}",
        shown()
    );
    assert!(
        report["decoded_frames"].as_u64().unwrap_or(0) > 0,
        "no frame decoded\n{}",
        shown()
    );
    let tracks = report["buffer_tracks"].as_array().unwrap();
    assert!(
        tracks.contains(&json!("video")),
        "no video buffer\n{}",
        shown()
    );
    if expect.audio {
        assert!(
            tracks.contains(&json!("audio")) || tracks.contains(&json!("audiovideo")),
            "no audio buffer: the playlist brought no audio\n{}",
            shown()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Media and the store

/// The ffmpeg arguments of the test media: 12 s of testsrc2 (a frame counter on it),
/// H.264 with a key frame every 2 s, and a 440 Hz 48 kHz stereo sine in AAC.
fn media_args() -> Vec<String> {
    [
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={WIDTH}x{HEIGHT}:rate=25"),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-frames:v",
        &FRAMES.to_string(),
        "-t",
        "12",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "veryfast",
        "-g",
        "50",
        "-keyint_min",
        "50",
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-ac",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A store with the test media imported by the `rushes import` CLI.
struct Imported {
    server: TestServer,
    summary: Value,
    _dir: TempDir,
}

impl Imported {
    /// Starts `rushes serve` allowing `origin` (CORS), makes the media and imports it with
    /// `rushes import FILE --json` plus `args` (e.g. `--format fmp4`).
    async fn new(origin: &str, args: &[&str]) -> Imported {
        let server = TestServer::start_with(&["--cors-origin", origin]).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("media.ts");
        let mut make = media_args();
        make.extend(["-f".to_owned(), "mpegts".to_owned()]);
        make.push(file.to_str().unwrap().to_owned());
        ffmpeg_owned(&make);

        let work = dir.path().join("work");
        let summary = media::import(&server.base_url, &file, &work, args)
            .await
            .summary();
        Imported {
            server,
            summary,
            _dir: dir,
        }
    }

    /// The flow id of the imported stream of `role` (`video`, `audio`).
    fn flow(&self, role: &str) -> String {
        self.summary["flows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["role"] == role)
            .unwrap_or_else(|| panic!("no {role} flow in {}", self.summary))["flow_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn source(&self) -> String {
        self.summary["source_id"].as_str().unwrap().to_owned()
    }

    /// The playlist at `path` as the store serves it to the page's origin (status, CORS
    /// grant and text), and the same of the playlists it names, for the failure message.
    async fn describe(&self, path: &str, origin: &str) -> String {
        let url = url::Url::parse(&self.server.url(path)).unwrap();
        let (mut out, text) = self.fetch(&url, origin).await;
        for line in text.lines() {
            let uri = match line.split_once("URI=\"") {
                Some((_, rest)) => rest.split('"').next(),
                None if !line.starts_with('#') && line.ends_with(".m3u8") => Some(line),
                None => None,
            };
            if let Some(named) = uri.filter(|u| u.contains(".m3u8")) {
                out.push_str(&self.fetch(&url.join(named).unwrap(), origin).await.0);
            }
        }
        out
    }

    async fn fetch(&self, url: &url::Url, origin: &str) -> (String, String) {
        let resp = self
            .server
            .request(reqwest::Method::GET, url.as_str())
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let grant = harness::header(&resp, "access-control-allow-origin");
        let text = resp.text().await.unwrap_or_default();
        let shown = format!(
            "GET {url} (Origin: {origin}): {status}, access-control-allow-origin: {grant:?}\n{text}\n"
        );
        (shown, text)
    }
}

/// Plays `path` of the store (a playlist under `/hls/`) from a page on another origin.
async fn play_store(format: &[&str], playlist: impl Fn(&Imported) -> String, audio: bool) {
    let player = Player::start(None).await;
    let store = Imported::new(&player.origin, format).await;
    let path = playlist(&store);
    let context = store.describe(&path, &player.origin).await;
    let origin = player.origin.clone();
    let result = player.play(&store.server.url(&path)).await;
    assert_played(
        &result,
        &Expect {
            audio,
            context: &format!("page origin {origin}\n{context}"),
        },
    );
}

// ---------------------------------------------------------------------------------------
// Tests

/// Writes the test media as a VOD HLS stream with ffmpeg's hls muxer (MPEG-TS, 2 s
/// segments) into `dir`, with `hls_args` before the playlist name `name`.
fn ffmpeg_hls(dir: &Path, hls_args: &[&str], name: &str) {
    let mut args = media_args();
    let playlist = dir.join(name);
    args.extend(
        ["-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod"]
            .iter()
            .chain(hls_args)
            .map(|s| s.to_string()),
    );
    args.push(playlist.to_str().unwrap().to_owned());
    ffmpeg_owned(&args);
}

/// The control: ffmpeg's HLS of the test media (audio and video muxed), served on the
/// page's own origin, plays. If this fails, the browser setup is at fault, not the store.
#[tokio::test]
async fn ffmpeg_hls_plays_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    ffmpeg_hls(dir.path(), &[], "index.m3u8");
    let text = std::fs::read_to_string(dir.path().join("index.m3u8")).unwrap();
    let player = Player::start(Some(dir.path())).await;
    let result = player.play("/static/index.m3u8").await;
    let expect = Expect {
        audio: true,
        context: &text,
    };
    assert_played(&result, &expect);
}

/// The control of the source's multivariant playlist: ffmpeg's HLS with the video and an
/// alternate audio rendition in separate playlists plays, with its audio.
#[tokio::test]
async fn ffmpeg_hls_with_alternate_audio_plays_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let streams = ["-master_pl_name", "master.m3u8", "-var_stream_map"];
    let map = "v:0,agroup:aud a:0,agroup:aud";
    ffmpeg_hls(dir.path(), &[&streams[..], &[map]].concat(), "out_%v.m3u8");
    let text = std::fs::read_to_string(dir.path().join("master.m3u8")).unwrap();
    let player = Player::start(Some(dir.path())).await;
    let result = player.play("/static/master.m3u8").await;
    let expect = Expect {
        audio: true,
        context: &text,
    };
    assert_played(&result, &expect);
}

/// The media playlist of an imported video flow (MPEG-TS segments) plays.
#[tokio::test]
async fn imported_video_flow_plays_in_chromium() {
    play_store(
        &[],
        |s| format!("/hls/flows/{}/manifest.m3u8", s.flow("video")),
        false,
    )
    .await;
}

/// The media playlist of an imported video flow in fragmented MP4 (`EXT-X-MAP`) plays.
#[tokio::test]
async fn imported_fmp4_video_flow_plays_in_chromium() {
    play_store(
        &["--format", "fmp4"],
        |s| format!("/hls/flows/{}/manifest.m3u8", s.flow("video")),
        false,
    )
    .await;
}

/// The multivariant playlist of the imported source plays, with its audio.
#[tokio::test]
async fn imported_source_plays_with_audio_in_chromium() {
    play_store(
        &[],
        |s| format!("/hls/sources/{}/manifest.m3u8", s.source()),
        true,
    )
    .await;
}
