//! The integration-test binary `export`: `rushes export` run as the CLI binary against the
//! real `rushes serve` on loopback, on media ffmpeg makes here (testsrc2 with a frame
//! counter, a sine in AAC) and imports with `rushes import`. The exported file is compared
//! frame by frame with the source range: stream-copied frames by the checksums of their
//! decoded pictures (framemd5), re-encoded frames (libx264 at CRF 16) by PSNR against the
//! source frame at the same position (above 35 dB); the frame count is exact. Flows built
//! by reference (sample_offset / sample_count) export exactly the referenced frames; bad
//! input fails with a clear message and leaves no file.
#![allow(clippy::unwrap_used)]

#[path = "api/harness.rs"]
mod harness;
#[path = "media/mod.rs"]
mod media;
#[path = "api/schema.rs"]
mod schema;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{expect_status, TestServer};
use media::{flow_of, frame_md5s, nanos, psnr, range_start, ts, Run, TestTs};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

/// Re-encoded frames must be at least this close to the source (dB, average of planes).
const MIN_PSNR: f64 = 35.0;
/// One AAC frame at 48 kHz, in seconds.
const AAC_FRAME: f64 = 1024.0 / 48000.0;

/// `frames` frames of `pattern` (testsrc2 has a frame counter) at 25 fps, 320x240, H.264
/// with a key frame every 25 frames, and a 48 kHz stereo sine in AAC, as MPEG-TS.
fn make_ts(dir: &Path, name: &str, pattern: &str, frames: u32) -> PathBuf {
    TestTs {
        pattern,
        audio_seconds: frames.div_ceil(25) + 1,
        shortest: true,
        ..TestTs::new(frames, 25)
    }
    .make(dir, name)
}

/// Seconds of stream `sel` of `path`: the sum of its packets' durations.
fn stream_seconds(path: &Path, sel: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", sel, "-show_entries"])
        .args(["packet=duration_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
        .sum()
}

struct Setup {
    server: TestServer,
    dir: TempDir,
}

impl Setup {
    async fn new() -> Setup {
        Setup {
            server: TestServer::start().await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    async fn rushes(&self, args: &[&str]) -> Run {
        media::rushes(&self.server.base_url, args).await
    }

    /// `rushes import FILE --segment-duration 1`; the summary.
    async fn import(&self, file: &Path) -> Value {
        let work = self.path().join("work");
        self.rushes(&[
            "import",
            file.to_str().unwrap(),
            "--segment-duration",
            "1",
            "--work-dir",
            work.to_str().unwrap(),
        ])
        .await
        .summary()
    }

    async fn export(&self, what: &str, id: &str, tr: &str, out: &Path) -> Run {
        self.rushes(&[
            "export",
            what,
            id,
            "--timerange",
            tr,
            "-o",
            out.to_str().unwrap(),
        ])
        .await
    }

    async fn flow(&self, id: &str) -> Value {
        let body = self
            .server
            .get_json(&format!("/flows/{id}?include_timerange=true"))
            .await;
        schema::assert_valid("flow-get.json", &body);
        body
    }

    async fn segments(&self, flow: &str) -> Vec<Value> {
        let body = self
            .server
            .get_json(&format!("/flows/{flow}/segments?limit=1000"))
            .await;
        schema::assert_valid_list("flow-segment.json", &body);
        body.as_array().unwrap().clone()
    }

    /// A new video flow (H.264 in MPEG-TS, 320x240 at 25 fps) with `codec`.
    async fn new_flow(&self, codec: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "id": id,
            "source_id": uuid::Uuid::new_v4().to_string(),
            "format": "urn:x-nmos:format:video",
            "codec": codec,
            "container": "video/mp2t",
            "essence_parameters": {
                "frame_width": 320,
                "frame_height": 240,
                "frame_rate": {"numerator": 25, "denominator": 1}
            }
        });
        let resp = self.server.put(&format!("/flows/{id}"), &body).await;
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
        id
    }
}

fn assert_no_output(out: &Path) {
    assert!(!out.exists(), "{} was written", out.display());
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    assert!(!Path::new(&partial).exists(), "a .partial file was left");
}

/// (a) + (b): a cut inside GOPs at both ends of a multi-essence flow, to each container.
#[tokio::test]
async fn a_cut_inside_gops_is_frame_exact_and_audio_stays_in_sync() {
    let setup = Setup::new().await;
    let file = make_ts(setup.path(), "source.ts", "testsrc2", 150);
    let summary = setup.import(&file).await;
    let multi = summary["flow_id"].as_str().unwrap().to_owned();
    let video = setup.flow(&flow_of(&summary, "video")).await;
    let start = range_start(video["timerange"].as_str().unwrap());
    // Frames 13 to 83 of the file: 12 before the key frame at 25, whole GOPs 25..75,
    // then 9 frames of the GOP at 75.
    let tr = format!(
        "[{}_{})",
        ts(start + 520_000_000),
        ts(start + 3_360_000_000)
    );
    let source = frame_md5s(&file);
    for ext in ["mp4", "mov", "ts"] {
        let out = setup.path().join(format!("cut.{ext}"));
        let run = setup.export("--flow", &multi, &tr, &out).await;
        let s = run.summary();
        assert_eq!(s["frames"], 71, "{s}");
        assert_eq!(s["reencoded_frames"], 21, "{s}");
        assert_eq!(s["format"], ext, "{s}");
        let video_parts: Vec<_> = s["parts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["role"] == "video")
            .map(|p| {
                (
                    p["mode"].as_str().unwrap().to_owned(),
                    p["frames"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            video_parts,
            [
                ("reencode".into(), 12),
                ("copy".into(), 50),
                ("reencode".into(), 9)
            ],
            "{s}"
        );
        let got = frame_md5s(&out);
        assert_eq!(got.len(), 71, "{ext}: frame count");
        // The stream-copied frames decode to exactly the source's pictures.
        assert_eq!(got[12..62], source[25..75], "{ext}: copied frames");
        // The re-encoded ones are the same frames, close to the source.
        for (o, from, n) in [(0, 13, 12), (62, 75, 9)] {
            let p = psnr(setup.path(), &out, o, &file, from, n);
            assert_eq!(p.len(), n, "{ext}");
            assert!(p.iter().all(|&v| v > MIN_PSNR), "{ext}: PSNR {p:?}");
            assert_ne!(got[o], source[from], "{ext}: re-encoded, not copied");
        }
        // (b) audio within one AAC frame of the video.
        let v = stream_seconds(&out, "v:0");
        let a = stream_seconds(&out, "a:0");
        assert!((v - 71.0 / 25.0).abs() < 1e-3, "{ext}: video {v} s");
        assert!(
            (a - v).abs() <= AAC_FRAME + 1e-6,
            "{ext}: audio {a} s, video {v} s"
        );
    }
    // The source exports the same frames.
    let out = setup.path().join("by-source.mp4");
    let source_id = summary["source_id"].as_str().unwrap();
    let s = setup
        .export("--source", source_id, &tr, &out)
        .await
        .summary();
    assert_eq!(s["frames"], 71, "{s}");
    assert_eq!(frame_md5s(&out)[12..62], source[25..75]);
    // A cut on key frames is all stream copy.
    let out = setup.path().join("gops.mp4");
    let tr = format!(
        "[{}_{})",
        ts(start + 1_000_000_000),
        ts(start + 3_000_000_000)
    );
    let s = setup
        .export("--flow", &flow_of(&summary, "video"), &tr, &out)
        .await
        .summary();
    assert_eq!(s["reencoded_frames"], 0, "{s}");
    assert_eq!(frame_md5s(&out), source[25..75]);
}

/// (c) A flow built by reference from two others' objects exports exactly the referenced
/// frames, in order.
#[tokio::test]
async fn a_flow_made_by_reference_exports_the_referenced_frames() {
    let setup = Setup::new().await;
    let a_file = make_ts(setup.path(), "a.ts", "testsrc2", 100);
    let b_file = make_ts(setup.path(), "b.ts", "testsrc", 100);
    let a = flow_of(&setup.import(&a_file).await, "video");
    let b = flow_of(&setup.import(&b_file).await, "video");
    let (a_segs, b_segs) = (setup.segments(&a).await, setup.segments(&b).await);
    let edit = setup.new_flow("video/h264").await;
    // Segment 1 of A (frames 25..50) whole by sample count; frames 62..70 of B (its
    // segment 2 holds 50..75).
    let frame = 40_000_000i64;
    let mut posts = Vec::new();
    let mut at = 0i64;
    for (seg, offset, count) in [(&a_segs[1], 0i64, 25i64), (&b_segs[2], 12, 8)] {
        let seg_start = range_start(seg["timerange"].as_str().unwrap());
        let seg_ts_offset = nanos(seg["ts_offset"].as_str().unwrap_or("0:0"));
        // The object's own time of its first referenced frame.
        let object_time = seg_start + offset * frame - seg_ts_offset;
        posts.push(json!({
            "object_id": seg["object_id"],
            "timerange": format!("[{}_{})", ts(at), ts(at + count * frame)),
            "ts_offset": ts(at - object_time),
            "sample_offset": offset,
            "sample_count": count,
        }));
        at += count * frame;
    }
    let resp = setup
        .server
        .post(&format!("/flows/{edit}/segments"), &json!(posts))
        .await;
    expect_status(resp, StatusCode::CREATED).await;
    let out = setup.path().join("edit.mp4");
    let s = setup
        .export("--flow", &edit, &format!("[0:0_{})", ts(at)), &out)
        .await
        .summary();
    assert_eq!(s["frames"], 33, "{s}");
    let got = frame_md5s(&out);
    assert_eq!(got.len(), 33);
    assert_eq!(got[..25], frame_md5s(&a_file)[25..50], "A's GOP, copied");
    let p = psnr(setup.path(), &out, 25, &b_file, 62, 8);
    assert_eq!(p.len(), 8);
    assert!(p.iter().all(|&v| v > MIN_PSNR), "B's frames: PSNR {p:?}");
}

/// (d) Bad input: a clear error, a non-zero exit and no file.
#[tokio::test]
async fn bad_input_fails_clearly_and_leaves_no_file() {
    let setup = Setup::new().await;
    let file = make_ts(setup.path(), "source.ts", "testsrc2", 50);
    let summary = setup.import(&file).await;
    let video = flow_of(&summary, "video");
    let out = setup.path().join("out.mp4");

    let run = setup
        .export("--flow", &video, "[1000:0_1001:0)", &out)
        .await;
    assert!(!run.success);
    assert!(run.stderr.contains("outside flow"), "{}", run.stderr);
    assert_no_output(&out);

    let empty = setup.new_flow("video/h264").await;
    let run = setup.export("--flow", &empty, "[0:0_1:0)", &out).await;
    assert!(!run.success);
    assert!(run.stderr.contains("has no segments"), "{}", run.stderr);
    assert_no_output(&out);

    let prores = setup.new_flow("video/prores").await;
    let ts_out = setup.path().join("out.ts");
    let run = setup.export("--flow", &prores, "[0:0_1:0)", &ts_out).await;
    assert!(!run.success);
    assert!(run.stderr.contains("MPEG-TS cannot hold"), "{}", run.stderr);
    assert_no_output(&ts_out);

    let run = setup
        .export("--flow", "not-a-uuid", "[0:0_1:0)", &out)
        .await;
    assert!(!run.success);
    assert!(run.stderr.contains("--flow"), "{}", run.stderr);

    // A missing object: its bytes deleted from the store's disk under the server.
    if setup.server.object_store_url().is_none() {
        let seg = &setup.segments(&video).await[1];
        let object = seg["object_id"].as_str().unwrap();
        let mut removed = 0;
        let mut dirs = vec![setup.server.data_dir().to_owned()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.to_string_lossy().contains(object) {
                    std::fs::remove_file(&p).unwrap();
                    removed += 1;
                }
            }
        }
        assert!(removed > 0, "object {object} not found on disk");
        let run = setup.export("--flow", &video, "_", &out).await;
        assert!(!run.success);
        assert!(run.stderr.contains("missing"), "{}", run.stderr);
        assert!(run.stderr.contains(object), "{}", run.stderr);
        assert_no_output(&out);
    }
}

/// Fragmented MP4 segments (init object + media parts) export the same frames.
#[tokio::test]
async fn fragmented_mp4_segments_export_frame_exact() {
    let setup = Setup::new().await;
    let file = make_ts(setup.path(), "source.ts", "testsrc2", 100);
    let work = setup.path().join("work");
    let summary = setup
        .rushes(&[
            "import",
            file.to_str().unwrap(),
            "--segment-duration",
            "1",
            "--format",
            "fmp4",
            "--work-dir",
            work.to_str().unwrap(),
        ])
        .await
        .summary();
    let video = setup.flow(&flow_of(&summary, "video")).await;
    assert_eq!(video["container"], "video/mp4");
    let start = range_start(video["timerange"].as_str().unwrap());
    let tr = format!(
        "[{}_{})",
        ts(start + 400_000_000),
        ts(start + 2_400_000_000)
    );
    let out = setup.path().join("cut.mov");
    let multi = summary["flow_id"].as_str().unwrap();
    let run = setup.export("--flow", multi, &tr, &out).await;
    let s = run.summary();
    assert_eq!(s["frames"], 50, "{s}");
    assert_eq!(s["reencoded_frames"], 25, "{s}");
    let got = frame_md5s(&out);
    assert_eq!(got.len(), 50);
    assert_eq!(got[15..40], frame_md5s(&file)[25..50], "copied GOP");
    let p = psnr(setup.path(), &out, 0, &file, 10, 15);
    assert!(p.iter().all(|&v| v > MIN_PSNR), "PSNR {p:?}");
    let (v, a) = (stream_seconds(&out, "v:0"), stream_seconds(&out, "a:0"));
    assert!(
        (a - v).abs() <= AAC_FRAME + 1e-6,
        "audio {a} s, video {v} s"
    );
}
