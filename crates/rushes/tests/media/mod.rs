//! Media helpers of the integration tests: ffmpeg and ffprobe, the test media, the `rushes` CLI, live sources.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rushes_time::TimeRange;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

// ---------------------------------------------------------------------------------------
// ffmpeg and ffprobe

/// Runs ffmpeg with `args` (after `-nostdin -v error -y`), asserting it succeeds.
pub fn ffmpeg(args: &[&str]) {
    let out = StdCommand::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// [`ffmpeg`] with owned arguments.
pub fn ffmpeg_owned(args: &[String]) {
    ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// ffmpeg's input options for a playlist URL: its HLS demuxer refuses segment URLs whose
/// path has no media extension (signed URLs have none) unless it is told not to be picky.
pub fn hls_input_options(input: &str) -> Vec<&'static str> {
    if input.starts_with("http") {
        vec!["-extension_picky", "0"]
    } else {
        Vec::new()
    }
}

/// Test media: `frames` frames of `pattern` (testsrc2 has a frame counter) at `rate`,
/// 320x240, H.264 with a key frame every `gop` frames, and (with `audio`) a 48 kHz stereo
/// sine of `audio_seconds` in AAC, as MPEG-TS; `-shortest` with `shortest`; `extra` goes
/// before the output file name.
pub struct TestTs<'a> {
    pub pattern: &'a str,
    pub rate: &'a str,
    pub frames: u32,
    pub gop: u32,
    pub audio: bool,
    pub audio_seconds: u32,
    pub shortest: bool,
    pub extra: &'a [&'a str],
}

impl<'a> TestTs<'a> {
    /// testsrc2 at 25 frames/s with a sine as long as the video (whole seconds, rounded up).
    pub fn new(frames: u32, gop: u32) -> TestTs<'a> {
        TestTs {
            pattern: "testsrc2",
            rate: "25",
            frames,
            gop,
            audio: true,
            audio_seconds: frames.div_ceil(25),
            shortest: false,
            extra: &[],
        }
    }

    /// Makes the file at `path`.
    pub fn write(&self, path: &Path) {
        let video = format!("{}=size=320x240:rate={}", self.pattern, self.rate);
        let audio = format!(
            "sine=frequency=440:sample_rate=48000:duration={}",
            self.audio_seconds
        );
        let (frames, gop) = (self.frames.to_string(), self.gop.to_string());
        let mut args = vec!["-f", "lavfi", "-i", &video];
        if self.audio {
            args.extend(["-f", "lavfi", "-i", &audio]);
        }
        args.extend([
            "-frames:v",
            &frames,
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "veryfast",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
        ]);
        if self.audio {
            args.extend(["-c:a", "aac", "-ac", "2"]);
        }
        if self.shortest {
            args.push("-shortest");
        }
        args.extend(["-f", "mpegts"]);
        args.extend_from_slice(self.extra);
        args.push(path.to_str().unwrap());
        ffmpeg(&args);
    }

    /// Makes the file `name` in `dir`; its path.
    pub fn make(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        self.write(&path);
        path
    }
}

/// The data lines of `ffmpeg -i input -map MAP -f framemd5`, whole: of the decoded frames,
/// or of the coded packets with `copy`. `input` is a file or a playlist URL.
fn framemd5_lines(input: &str, map: &str, copy: bool) -> Vec<String> {
    let mut cmd = StdCommand::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error"])
        .args(hls_input_options(input))
        .args(["-i", input, "-map", map]);
    if copy {
        cmd.args(["-c", "copy"]);
    }
    let out = cmd.args(["-f", "framemd5", "-"]).output().unwrap();
    assert!(
        out.status.success(),
        "framemd5 of {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The data lines of `ffmpeg -i path -map MAP -f framemd5`: of the decoded frames, or of
/// the coded packets with `copy`. Each line is cut to its first six columns (stream, dts,
/// pts, duration, size, md5 of the data): what follows is side data the demuxer attaches
/// from the container, not from the media. The MPEG-TS demuxer gives the first packet of
/// each PES packet its stream id; ffmpeg's muxer packs several AAC frames into one PES in
/// the source but, with the importer's `-muxdelay 0`, one frame per PES in the segments.
pub fn framemd5(path: &Path, map: &str, copy: bool) -> Vec<String> {
    framemd5_lines(path.to_str().unwrap(), map, copy)
        .iter()
        .map(|l| {
            l.split(',')
                .map(str::trim)
                .take(6)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// The md5 of every video frame ffmpeg decodes from `input` (a file or a playlist URL), in
/// order.
pub fn frame_md5s(input: &(impl AsRef<Path> + ?Sized)) -> Vec<String> {
    framemd5_lines(input.as_ref().to_str().unwrap(), "0:v:0", false)
        .iter()
        .map(|l| l.rsplit(',').next().unwrap().trim().to_owned())
        .collect()
}

/// The number of video frames ffmpeg decodes from `input` (a file or a playlist URL).
pub fn decoded_video_frames(input: &str) -> usize {
    framemd5_lines(input, "0:v:0", false).len()
}

/// The `section` rows ffprobe prints for `args` on `input` (a file or a playlist URL,
/// `-of compact`), each as its `key=value` pairs; rows of other sections (e.g. a program's
/// copy of its streams) are left out.
pub fn ffprobe(
    input: &(impl AsRef<Path> + ?Sized),
    args: &[&str],
    section: &str,
) -> Vec<HashMap<String, String>> {
    let input = input.as_ref().to_str().unwrap();
    let out = StdCommand::new("ffprobe")
        .args(["-v", "error"])
        .args(hls_input_options(input))
        .args(args)
        .args(["-of", "compact", input])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {args:?} {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = format!("{section}|");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|l| {
            l.split('|')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// The integer `key` of an ffprobe row.
pub fn int(row: &HashMap<String, String>, key: &str) -> i64 {
    let v = row
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {row:?}"));
    v.parse().unwrap_or_else(|_| panic!("{key} in {row:?}"))
}

/// How many frames stream `sel` (`v:0`, `a:0`) of `path` decodes to.
pub fn frame_count(path: &Path, sel: &str) -> usize {
    let args = ["-select_streams", sel, "-count_frames", "-show_entries"];
    let rows = ffprobe(
        path,
        &[&args[..], &["stream=nb_read_frames"]].concat(),
        "stream",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    int(&rows[0], "nb_read_frames") as usize
}

/// PSNR (average over the planes, `inf` as 100) of frames `out_from..out_from + count` of
/// `out` against frames `from..from + count` of `source`.
pub fn psnr(
    dir: &Path,
    out: &Path,
    out_from: usize,
    source: &Path,
    from: usize,
    count: usize,
) -> Vec<f64> {
    let stats = dir.join(format!("psnr-{out_from}-{from}.log"));
    let graph = format!(
        "[0:v]trim=start_frame={out_from}:end_frame={},setpts=PTS-STARTPTS[a];\
         [1:v]trim=start_frame={from}:end_frame={},setpts=PTS-STARTPTS[b];\
         [a][b]psnr=stats_file={}",
        out_from + count,
        from + count,
        stats.display()
    );
    ffmpeg(&[
        "-i",
        out.to_str().unwrap(),
        "-i",
        source.to_str().unwrap(),
        "-lavfi",
        &graph,
        "-f",
        "null",
        "-",
    ]);
    std::fs::read_to_string(&stats)
        .unwrap()
        .lines()
        .map(|l| {
            let v = l
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("psnr_avg:"))
                .unwrap();
            if v == "inf" {
                100.0
            } else {
                v.parse().unwrap()
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Times

/// Nanoseconds as a TAMS timestamp (`[-]s:ns`).
pub fn ts(nanos: impl Into<i128>) -> String {
    let nanos = nanos.into();
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    format!("{sign}{}:{}", n / 1_000_000_000, n % 1_000_000_000)
}

/// A TAMS timestamp (`[-]s:ns`) in nanoseconds.
pub fn nanos(ts: &str) -> i64 {
    let (neg, ts) = match ts.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, ts),
    };
    let (s, n) = ts.split_once(':').unwrap();
    let v = s.parse::<i64>().unwrap() * 1_000_000_000 + n.parse::<i64>().unwrap();
    if neg {
        -v
    } else {
        v
    }
}

/// The start of a timerange such as `[10:0_14:0)`, in nanoseconds.
pub fn range_start(tr: &str) -> i64 {
    nanos(tr.trim_start_matches(['[', '(']).split('_').next().unwrap())
}

/// `[start, end)` of a bounded timerange string, in nanoseconds.
pub fn bounds(tr: &str) -> (i128, i128) {
    let parsed: TimeRange = tr.parse().unwrap_or_else(|e| panic!("{tr:?}: {e}"));
    match parsed.nanos_half_open() {
        Some((Some(s), Some(e))) => (s, e),
        other => panic!("{tr:?} is not bounded: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// The `rushes` CLI

/// Leaves out the `RUSHES_*` variables of the test's environment, so that the command runs
/// with the arguments the test gives it and nothing else.
pub fn without_rushes_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RUSHES_") {
            cmd.env_remove(&key);
        }
    }
}

/// What one run of the `rushes` binary did.
pub struct Run {
    /// The subcommand (`import`, `export`).
    pub command: String,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` summary of a run that succeeded.
    pub fn summary(&self) -> Value {
        assert!(
            self.success,
            "rushes {} failed:\n{}",
            self.command, self.stderr
        );
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("summary is not JSON ({e}):\n{}", self.stdout))
    }
}

/// `rushes ARGS --tams-url <tams_url> --json`, to its end.
pub async fn rushes(tams_url: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rushes"));
    cmd.args(args)
        .args(["--tams-url", tams_url, "--json"])
        .stdin(Stdio::null());
    without_rushes_env(&mut cmd);
    let out = cmd.output().await.unwrap();
    Run {
        command: args.first().copied().unwrap_or_default().to_owned(),
        success: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `rushes import FILE --work-dir <work> ARGS --tams-url <tams_url> --json`, to its end.
pub async fn import(tams_url: &str, file: &Path, work: &Path, args: &[&str]) -> Run {
    let (file, work) = (file.to_str().unwrap(), work.to_str().unwrap());
    let args = [&["import", file, "--work-dir", work][..], args].concat();
    rushes(tams_url, &args).await
}

/// The summary entry of the flow with `role` (`video`, `audio`, `multi`).
pub fn flow_summary<'a>(summary: &'a Value, role: &str) -> &'a Value {
    summary["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == role)
        .unwrap_or_else(|| panic!("no {role} flow in {summary}"))
}

/// The id of the flow with `role` in a summary.
pub fn flow_of(summary: &Value, role: &str) -> String {
    flow_summary(summary, role)["flow_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// Live sources

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process's output lines, collected in the background.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<String>>);

impl Log {
    pub fn push(&self, line: &str) {
        let mut log = self.0.lock().unwrap();
        log.push_str(line);
        log.push('\n');
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    pub fn drain<R: AsyncRead + Unpin + Send + 'static>(&self, reader: R) {
        let log = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log.push(&line);
            }
        });
    }
}

/// ffmpeg making a live HLS stream in real time (with `reference`, the same packets as a
/// reference MPEG-TS file too), served by `python3 -m http.server` on loopback.
pub struct LiveSource {
    dir: TempDir,
    ffmpeg: Child,
    ffmpeg_log: Log,
    http: Child,
    pub url: String,
}

impl LiveSource {
    pub async fn start(seconds: u32, reference: bool) -> LiveSource {
        let dir = tempfile::tempdir().unwrap();
        let playlist = dir.path().join("live.m3u8");
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-v", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", &seconds.to_string(), "-map", "0:v", "-map", "1:a"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"]);
        if reference {
            let tee = format!(
                "[f=hls:hls_time=1:hls_list_size=6:hls_flags=delete_segments+omit_endlist]{}|[f=mpegts]{}",
                playlist.display(),
                dir.path().join("reference.ts").display()
            );
            cmd.args(["-c:a", "aac", "-f", "tee", &tee]);
        } else {
            cmd.args(["-c:a", "aac", "-f", "hls", "-hls_time", "1"])
                .args(["-hls_list_size", "6"])
                .args(["-hls_flags", "delete_segments+omit_endlist"])
                .arg(&playlist);
        }
        let mut ffmpeg = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let ffmpeg_log = Log::default();
        ffmpeg_log.drain(ffmpeg.stderr.take().unwrap());
        let port = free_port();
        let http = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .arg("--directory")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let source = LiveSource {
            url: format!("http://127.0.0.1:{port}/live.m3u8"),
            dir,
            ffmpeg,
            ffmpeg_log,
            http,
        };
        // Ready when the playlist is served with a segment in it.
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(resp) = client.get(&source.url).send().await {
                if resp.status() == 200 && resp.text().await.unwrap().contains(".ts") {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the live source never served its playlist:\n{}",
                source.ffmpeg_log.text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        source
    }

    /// The reference MPEG-TS file (made with `reference`).
    pub fn reference(&self) -> PathBuf {
        self.dir.path().join("reference.ts")
    }

    /// Waits for ffmpeg to end by itself (`-t`), asserting it succeeded.
    pub async fn finish(&mut self) {
        let status = tokio::time::timeout(Duration::from_secs(40), self.ffmpeg.wait())
            .await
            .expect("the live source ends")
            .unwrap();
        assert!(status.success(), "source: {}", self.ffmpeg_log.text());
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        let _ = self.http.start_kill();
        let _ = self.ffmpeg.start_kill();
    }
}
