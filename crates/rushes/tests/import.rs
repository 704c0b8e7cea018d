//! The integration-test binary `import`: `rushes import FILE` run as the CLI binary against
//! the real `rushes serve` on loopback, on media ffmpeg makes here (MPEG-TS segments, the
//! default format). Every flow is read back through the API (segments, then each segment's
//! bytes from its get_urls) and checked against the source: the decoded frames and the
//! coded packets are the same (ffmpeg's `framemd5`), each segment's timerange is the time
//! of the frames it holds, the segments tile the flow, and the flow metadata is read from
//! the media. Every JSON body the store returns is validated against the spec's schemas.
#![allow(clippy::unwrap_used)]

#[path = "api/harness.rs"]
mod harness;
#[path = "media/mod.rs"]
mod media;
#[path = "api/schema.rs"]
mod schema;

use std::path::{Path, PathBuf};

use harness::{expect_status, TestServer};
use media::{ffmpeg, ffprobe, flow_of, flow_summary, frame_count, framemd5, int, Run, TestTs};
use reqwest::StatusCode;
use rushes_time::{TimeRange, Timestamp};
use serde_json::Value;
use tempfile::TempDir;

/// MPEG-TS timestamps tick at 90 kHz: one tick is 100000/9 ns, so times here are kept in
/// ninths of a nanosecond, where every tick is a whole number (100000).
const NINTHS_PER_TICK: i128 = 100_000;
const NINTHS_PER_NS: i128 = 9;

// ---------------------------------------------------------------------------------------
// Media

/// `frames` frames of testsrc2 (a frame counter on it) at `rate`, H.264 with a key frame
/// every `gop` frames, and a 48 kHz stereo sine in AAC, as MPEG-TS; `extra` goes before the
/// output file name.
fn make_ts(dir: &Path, name: &str, rate: &str, frames: u32, gop: u32, extra: &[&str]) -> PathBuf {
    TestTs {
        rate,
        audio_seconds: frames.div_ceil(24),
        extra,
        ..TestTs::new(frames, gop)
    }
    .make(dir, name)
}

/// Every pts of stream `sel` in `path` as ffmpeg demuxes it (90 kHz ticks), in file order.
fn demuxed_pts(path: &Path, sel: &str) -> Vec<i64> {
    let args = ["-select_streams", sel, "-show_entries", "packet=pts"];
    ffprobe(path, &args, "packet")
        .iter()
        .map(|r| int(r, "pts"))
        .collect()
}

/// The lowest pts of stream `sel` in `path` as ffmpeg demuxes it.
fn first_pts(path: &Path, sel: &str) -> i64 {
    demuxed_pts(path, sel).into_iter().min().unwrap()
}

/// One packet of a segment file, in 90 kHz ticks of the file's own timeline.
#[derive(Debug)]
struct Pkt {
    pts: i64,
    duration: i64,
    key: bool,
}

/// The packets of the only stream of an MPEG-TS segment file, in file order.
fn packets(path: &Path) -> Vec<Pkt> {
    let streams = ffprobe(path, &["-show_entries", "stream=time_base"], "stream");
    assert_eq!(streams.len(), 1, "{}: {streams:?}", path.display());
    assert_eq!(streams[0]["time_base"], "1/90000", "{}", path.display());
    let args = ["-show_entries", "packet=pts,duration,flags"];
    ffprobe(path, &args, "packet")
        .iter()
        .map(|r| Pkt {
            pts: int(r, "pts"),
            duration: int(r, "duration"),
            key: r["flags"].starts_with('K'),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The CLI and the store

/// A store, a place for media, and the way to run `rushes import` against it.
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

    /// `rushes import FILE --tams-url <server> --json --work-dir <temp> ARGS`.
    async fn import(&self, file: &Path, args: &[&str]) -> Run {
        let work = self.path().join("work");
        media::import(&self.server.base_url, file, &work, args).await
    }

    /// Every segment of `flow`, in timeline order, following the Link headers.
    async fn segments(&self, flow: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut next = Some(self.server.url(&format!("/flows/{flow}/segments?limit=3")));
        while let Some(url) = next.take() {
            let resp = expect_status(self.server.get(&url).await, StatusCode::OK).await;
            next = harness::header(&resp, "link").map(|link| {
                assert!(link.ends_with("rel=\"next\""), "{link}");
                link.split(['<', '>']).nth(1).unwrap().to_owned()
            });
            let page: Value = resp.json().await.unwrap();
            schema::assert_valid_list("flow-segment.json", &page);
            all.extend(page.as_array().unwrap().iter().cloned());
        }
        all
    }

    /// The flow (with its timerange), validated.
    async fn flow(&self, flow: &str) -> Value {
        let body = self
            .server
            .get_json(&format!("/flows/{flow}?include_timerange=true"))
            .await;
        schema::assert_valid("flow-get.json", &body);
        body
    }

    /// Downloads every segment of `flow` through its get_urls into `<dir>/<name>-NNN.ts`
    /// and their concatenation into `<dir>/<name>.ts`.
    async fn read_back(&self, flow: &str, name: &str) -> ReadBack {
        let segments = self.segments(flow).await;
        assert!(!segments.is_empty(), "flow {flow} has no segments");
        let mut files = Vec::new();
        let mut all = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            let urls = seg["get_urls"].as_array().expect("get_urls");
            let url = urls[0]["url"].as_str().unwrap();
            self.server
                .assert_signed_media_url(url, seg["object_id"].as_str().unwrap());
            let resp = expect_status(self.server.get(url).await, StatusCode::OK).await;
            let bytes = resp.bytes().await.unwrap();
            let path = self.path().join(format!("{name}-{i:03}.ts"));
            std::fs::write(&path, &bytes).unwrap();
            all.extend_from_slice(&bytes);
            files.push(path);
        }
        let whole = self.path().join(format!("{name}.ts"));
        std::fs::write(&whole, &all).unwrap();
        ReadBack {
            segments,
            files,
            whole,
        }
    }

    /// Nothing in the store: no flows, no sources.
    async fn assert_empty(&self) {
        let flows = self.server.get_json("/flows").await;
        schema::assert_valid_list("flow-get.json", &flows);
        assert_eq!(flows, Value::Array(vec![]), "flows were created");
        let sources = self.server.get_json("/sources").await;
        schema::assert_valid_list("source.json", &sources);
        assert_eq!(sources, Value::Array(vec![]), "sources were created");
    }
}

/// A flow read back from the store.
struct ReadBack {
    segments: Vec<Value>,
    /// Each segment's bytes, in order.
    files: Vec<PathBuf>,
    /// All of them concatenated.
    whole: PathBuf,
}

// ---------------------------------------------------------------------------------------
// Checks

/// The read-back flow holds exactly the source stream `map`: the same decoded frames
/// (count, order, size, md5) and the same coded packets.
///
/// The full framemd5 lines are compared, pts and dts included: ffmpeg's command line
/// rebases each output's timestamps to start at 0, so both sides count from their first
/// frame and the columns only differ if a frame is missing, duplicated, or its spacing
/// changed. The source side maps its one stream of that kind, so both sides print it as
/// output stream 0.
fn assert_same_media(source: &Path, map: &str, read_back: &Path) {
    for copy in [false, true] {
        let want = framemd5(source, map, copy);
        let got = framemd5(read_back, "0", copy);
        let what = if copy { "packets" } else { "frames" };
        assert!(!want.is_empty());
        assert_eq!(
            got.len(),
            want.len(),
            "{map}: {} {what} read back, the source has {}",
            got.len(),
            want.len()
        );
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{map}: {what} {i} differs");
        }
    }
}

fn ts(v: &Value) -> i128 {
    let text = v.as_str().unwrap_or("0:0");
    i128::from(text.parse::<Timestamp>().unwrap().as_nanos())
}

/// `[start, end)` of a timerange text, in nanoseconds.
fn range(v: &Value) -> (i128, i128) {
    let text = v.as_str().unwrap();
    let tr: TimeRange = text.parse().unwrap();
    let (Some(s), Some(e)) = tr.nanos_half_open().unwrap() else {
        panic!("{text} is not bounded");
    };
    (s, e)
}

/// Each segment's timerange is the time of the samples it holds: its start is the first
/// presented sample's flow time (object pts + ts_offset) and its end is the end of the
/// last presented sample (pts + duration), each within 1 ns (a 90 kHz tick is not a whole
/// number of nanoseconds, so both sides are rounded); the segments follow one another
/// with neither gap nor overlap, and together make the flow's timerange. A video segment
/// opens with a key frame. Returns the number of samples.
fn assert_timing(read: &ReadBack, flow: &Value, video: bool) -> usize {
    let mut samples = 0;
    let mut previous_end = None;
    for (i, (seg, file)) in read.segments.iter().zip(&read.files).enumerate() {
        let pkts = packets(file);
        assert!(!pkts.is_empty(), "segment {i} is empty");
        samples += pkts.len();
        if video {
            assert!(
                pkts[0].key,
                "video segment {i} does not open with a key frame"
            );
        }
        let (start, end) = range(&seg["timerange"]);
        let offset = ts(&seg["ts_offset"]);
        let first = pkts.iter().map(|p| p.pts).min().unwrap();
        let last_end = pkts.iter().map(|p| p.pts + p.duration).max().unwrap();
        assert!(pkts.iter().all(|p| p.duration > 0), "segment {i}: {pkts:?}");
        let flow_ninths = |ticks: i64| i128::from(ticks) * NINTHS_PER_TICK + offset * NINTHS_PER_NS;
        let off_start = start * NINTHS_PER_NS - flow_ninths(first);
        let off_end = end * NINTHS_PER_NS - flow_ninths(last_end);
        assert!(
            off_start.abs() <= NINTHS_PER_NS,
            "segment {i} {}: starts {off_start}/9 ns away from its first sample",
            seg["timerange"]
        );
        assert!(
            off_end.abs() <= NINTHS_PER_NS,
            "segment {i} {}: ends {off_end}/9 ns away from the end of its last sample",
            seg["timerange"]
        );
        if let Some(prev) = previous_end {
            assert_eq!(
                start,
                prev,
                "segment {i} does not start where {} ended",
                i - 1
            );
        }
        previous_end = Some(end);
    }
    let (flow_start, flow_end) = range(&flow["timerange"]);
    assert_eq!(flow_start, range(&read.segments[0]["timerange"]).0);
    assert_eq!(flow_end, previous_end.unwrap());
    samples
}

/// The flow metadata read from the media, the collection and the statuses.
async fn assert_metadata(setup: &Setup, summary: &Value, rate: (u64, u64)) {
    let video_id = flow_of(summary, "video");
    let audio_id = flow_of(summary, "audio");
    let video = setup.flow(&video_id).await;
    assert_eq!(video["format"], "urn:x-nmos:format:video");
    assert_eq!(video["codec"], "video/h264");
    assert_eq!(video["container"], "video/mp2t");
    let e = &video["essence_parameters"];
    assert_eq!(e["frame_width"], 320);
    assert_eq!(e["frame_height"], 240);
    assert_eq!(e["frame_rate"]["numerator"], rate.0);
    assert_eq!(e["frame_rate"]["denominator"].as_u64().unwrap_or(1), rate.1);
    assert_eq!(video["status"], "closed_complete");

    let audio = setup.flow(&audio_id).await;
    assert_eq!(audio["format"], "urn:x-nmos:format:audio");
    assert_eq!(audio["codec"], "audio/aac");
    assert_eq!(audio["container"], "video/mp2t");
    assert_eq!(audio["essence_parameters"]["sample_rate"], 48000);
    assert_eq!(audio["essence_parameters"]["channels"], 2);
    assert_eq!(audio["status"], "closed_complete");

    // Bit rates (app note 0013, kbit/s) from the bytes written: the average over the
    // flow's timerange, the peak of one segment.
    for (flow, s) in [
        (&video, flow_summary(summary, "video")),
        (&audio, flow_summary(summary, "audio")),
    ] {
        let (start, end) = range(&flow["timerange"]);
        let bytes = i128::from(s["bytes"].as_u64().unwrap());
        let avg = i128::from(flow["avg_bit_rate"].as_u64().expect("avg_bit_rate"));
        let max = i128::from(flow["max_bit_rate"].as_u64().expect("max_bit_rate"));
        let want = bytes * 8 * 1_000_000 / (end - start);
        assert!(
            (avg - want).abs() <= 1,
            "avg_bit_rate {avg}, bytes say {want}"
        );
        assert!(max >= avg && max > 0, "max_bit_rate {max} below avg {avg}");
    }

    let multi_id = summary["flow_id"].as_str().unwrap();
    let multi = setup.flow(multi_id).await;
    assert_eq!(multi["format"], "urn:x-nmos:format:multi");
    assert_eq!(multi["source_id"], summary["source_id"]);
    assert_eq!(multi["status"], "closed_complete");
    let mut collection: Vec<(String, String)> = multi["flow_collection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["role"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    collection.sort();
    assert_eq!(
        collection,
        [
            ("audio".into(), audio_id.clone()),
            ("video".into(), video_id.clone())
        ]
    );
    for f in [&video, &audio] {
        assert_eq!(f["collected_by"], serde_json::json!([multi_id]), "{f}");
    }

    let source = setup
        .server
        .get_json(&format!(
            "/sources/{}",
            summary["source_id"].as_str().unwrap()
        ))
        .await;
    schema::assert_valid("source.json", &source);
    assert_eq!(source["format"], "urn:x-nmos:format:multi");
    let mut sources: Vec<(String, String)> = source["source_collection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["role"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        [
            (
                "audio".into(),
                audio["source_id"].as_str().unwrap().to_owned()
            ),
            (
                "video".into(),
                video["source_id"].as_str().unwrap().to_owned()
            ),
        ]
    );
}

/// Imports `file` and checks both flows against it: the media, the timing of every
/// segment, the flow timeranges. Returns the setup and the summary.
async fn import_and_check(setup: &Setup, file: &Path, args: &[&str]) -> Value {
    let summary = setup.import(file, args).await.summary();
    assert_eq!(summary["streams_left_out"], Value::Array(vec![]));
    for (role, map, sel) in [("video", "0:v", "v:0"), ("audio", "0:a", "a:0")] {
        let id = flow_of(&summary, role);
        let read = setup.read_back(&id, role).await;
        let fs = flow_summary(&summary, role);
        assert_eq!(
            fs["segments_registered"].as_u64().unwrap()
                + fs["segments_already_there"].as_u64().unwrap(),
            read.segments.len() as u64,
            "{role}"
        );
        assert_same_media(file, map, &read.whole);
        let flow = setup.flow(&id).await;
        assert_eq!(flow["timerange"], fs["timerange"], "{role}");
        let samples = assert_timing(&read, &flow, role == "video");
        if role == "video" {
            assert_eq!(samples, frame_count(file, sel), "video frames");
        }
        // The flow timeline is the media's own, as ffmpeg demuxes it: the flow starts at
        // the stream's first sample (for an ffmpeg-made MPEG-TS, 1.4 s plus the audio
        // priming).
        let start_pts = first_pts(file, sel);
        let (flow_start, _) = range(&flow["timerange"]);
        assert!(
            (flow_start * NINTHS_PER_NS - i128::from(start_pts) * NINTHS_PER_TICK).abs()
                <= NINTHS_PER_NS / 2,
            "{role} flow starts at {flow_start} ns, the file's first sample at {start_pts} ticks"
        );
    }
    summary
}

// ---------------------------------------------------------------------------------------
// Tests

/// a, b, c at one frame rate: the media, the timing and the metadata. The flow timeline
/// is the media's own: the video flow starts at the first frame's time in the file.
async fn round_trip(rate: &str, rate_pair: (u64, u64), frames: u32, gop: u32) {
    let setup = Setup::new().await;
    let file = make_ts(setup.path(), "source.ts", rate, frames, gop, &[]);
    let summary = import_and_check(&setup, &file, &["--segment-duration", "1"]).await;
    let video = flow_summary(&summary, "video");
    assert!(
        video["segments_registered"].as_u64().unwrap() >= 3,
        "{summary}"
    );
    assert_metadata(&setup, &summary, rate_pair).await;
}

#[tokio::test]
async fn import_25_fps_reads_back_frame_exact() {
    round_trip("25", (25, 1), 100, 12).await;
}

#[tokio::test]
async fn import_30000_1001_fps_reads_back_frame_exact() {
    round_trip("30000/1001", (30000, 1001), 90, 15).await;
}

/// d: a second run registers nothing; after the last two video segments are deleted, a
/// third registers exactly those two again, and the flow is whole.
#[tokio::test]
async fn import_again_registers_only_what_is_missing() {
    let setup = Setup::new().await;
    let file = make_ts(setup.path(), "source.ts", "25", 100, 12, &[]);
    let args = ["--segment-duration", "1"];
    let first = setup.import(&file, &args).await.summary();
    let video_id = flow_of(&first, "video");
    let audio_id = flow_of(&first, "audio");
    let video_count = setup.segments(&video_id).await.len();
    let audio_count = setup.segments(&audio_id).await.len();
    assert!(video_count >= 3);
    for (role, count) in [("video", video_count), ("audio", audio_count)] {
        let f = flow_summary(&first, role);
        assert_eq!(f["segments_registered"], count, "{role}");
        assert_eq!(f["segments_already_there"], 0, "{role}");
    }

    let second = setup.import(&file, &args).await.summary();
    assert_eq!(second["flow_id"], first["flow_id"]);
    assert_eq!(second["source_id"], first["source_id"]);
    for (role, count) in [("video", video_count), ("audio", audio_count)] {
        let f = flow_summary(&second, role);
        assert_eq!(f["flow_id"], flow_summary(&first, role)["flow_id"]);
        assert_eq!(f["segments_registered"], 0, "{role}");
        assert_eq!(f["segments_already_there"], count, "{role}");
        assert_eq!(f["timerange"], flow_summary(&first, role)["timerange"]);
    }
    assert_eq!(setup.segments(&video_id).await.len(), video_count);
    assert_eq!(setup.segments(&audio_id).await.len(), audio_count);
    let flows = setup.server.get_json("/flows").await;
    schema::assert_valid_list("flow-get.json", &flows);
    assert_eq!(flows.as_array().unwrap().len(), 3, "{flows}");

    // Delete the last two video segments.
    let before = setup.segments(&video_id).await;
    let (cut, _) = range(&before[video_count - 2]["timerange"]);
    let cut = Timestamp::from_nanos(i64::try_from(cut).unwrap());
    expect_status(
        setup
            .server
            .delete(&format!("/flows/{video_id}/segments?timerange=[{cut}_)"))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(setup.segments(&video_id).await.len(), video_count - 2);

    let third = setup.import(&file, &args).await.summary();
    let v = flow_summary(&third, "video");
    assert_eq!(v["segments_registered"], 2, "{third}");
    assert_eq!(v["segments_already_there"], video_count - 2);
    let a = flow_summary(&third, "audio");
    assert_eq!(a["segments_registered"], 0, "{third}");
    assert_eq!(a["segments_already_there"], audio_count);
    let after = setup.segments(&video_id).await;
    let ranges = |s: &[Value]| -> Vec<Value> { s.iter().map(|s| s["timerange"].clone()).collect() };
    assert_eq!(ranges(&after), ranges(&before));
    // The two came from new uploads; the others are untouched.
    for (i, (a, b)) in after.iter().zip(&before).enumerate() {
        assert_eq!(
            a["object_id"] == b["object_id"],
            i < video_count - 2,
            "segment {i}"
        );
    }
    let read = setup.read_back(&video_id, "video").await;
    assert_same_media(&file, "0:v", &read.whole);
    let flow = setup.flow(&video_id).await;
    assert_eq!(flow["status"], "closed_complete");
    assert_eq!(assert_timing(&read, &flow, true), 100);
}

/// e: a file ffmpeg cannot read is refused by name, and nothing is created.
#[tokio::test]
async fn a_file_ffmpeg_cannot_read_is_refused_and_creates_nothing() {
    let setup = Setup::new().await;
    let file = setup.path().join("noise.ts");
    // Bytes no demuxer takes: a fixed pseudo-random sequence with no sync bytes.
    let mut x: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..65536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match (x >> 24) as u8 {
                0x47 => 0x46,
                b => b,
            }
        })
        .collect();
    std::fs::write(&file, bytes).unwrap();
    let run = setup.import(&file, &[]).await;
    assert!(!run.success, "importing noise succeeded:\n{}", run.stdout);
    assert!(run.stdout.trim().is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains(&file.display().to_string()),
        "the message does not name the file:\n{}",
        run.stderr
    );
    setup.assert_empty().await;

    let missing = setup.path().join("not-there.ts");
    let run = setup.import(&missing, &[]).await;
    assert!(!run.success);
    assert!(run.stderr.contains("not-there.ts"), "{}", run.stderr);
    setup.assert_empty().await;
}

/// e: codecs MPEG-TS cannot carry are refused unless `--transcode`, which makes H.264 and
/// AAC flows with every frame of the source.
#[tokio::test]
async fn codecs_mpeg_ts_cannot_carry_need_transcode() {
    let setup = Setup::new().await;
    let file = setup.path().join("source.mov");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=3",
        "-frames:v",
        "75",
        "-c:v",
        "prores_ks",
        "-c:a",
        "pcm_s16le",
        "-ac",
        "2",
        file.to_str().unwrap(),
    ]);
    let run = setup.import(&file, &[]).await;
    assert!(!run.success, "prores imported without --transcode");
    assert!(run.stderr.contains("--transcode"), "{}", run.stderr);
    assert!(run.stderr.contains("source.mov"), "{}", run.stderr);
    setup.assert_empty().await;

    let summary = setup
        .import(&file, &["--transcode", "--segment-duration", "1"])
        .await
        .summary();
    let video_id = flow_of(&summary, "video");
    let audio_id = flow_of(&summary, "audio");
    let video = setup.flow(&video_id).await;
    assert_eq!(video["codec"], "video/h264");
    assert_eq!(video["container"], "video/mp2t");
    assert_eq!(video["essence_parameters"]["frame_rate"]["numerator"], 25);
    assert_eq!(video["status"], "closed_complete");
    let audio = setup.flow(&audio_id).await;
    assert_eq!(audio["codec"], "audio/aac");
    assert_eq!(audio["essence_parameters"]["sample_rate"], 48000);
    assert_eq!(audio["essence_parameters"]["channels"], 2);

    let read = setup.read_back(&video_id, "video").await;
    assert!(read.segments.len() >= 3);
    assert_eq!(frame_count(&read.whole, "v:0"), frame_count(&file, "v:0"));
    assert_eq!(frame_count(&read.whole, "v:0"), 75);
    assert_eq!(assert_timing(&read, &video, true), 75);
    let read = setup.read_back(&audio_id, "audio").await;
    assert!(frame_count(&read.whole, "a:0") > 0);
    assert_timing(&read, &audio, false);
}

/// f: a file whose timestamps cross the 33-bit wrap of MPEG-TS (2^33 ticks = 95443.717 s):
/// the segments tile the flow across the wrap and hold every frame.
#[tokio::test]
async fn timestamps_that_wrap_import_whole() {
    let setup = Setup::new().await;
    let file = make_ts(
        setup.path(),
        "wrap.ts",
        "25",
        200,
        25,
        &["-output_ts_offset", "95440"],
    );
    // The file's timestamps do wrap. ffmpeg's demuxer undoes the wrap by moving the
    // timestamps before it down by 2^33 ticks, so they read as negative, then positive.
    let pts = demuxed_pts(&file, "v:0");
    assert_eq!(pts.len(), 200);
    assert!(pts[0] < 0 && *pts.last().unwrap() > 0, "{pts:?}");
    assert!(pts[0] + (1 << 33) > 95_440 * 90_000, "{pts:?}");
    let summary = import_and_check(&setup, &file, &["--segment-duration", "1"]).await;
    let video = flow_summary(&summary, "video");
    assert!(
        video["segments_registered"].as_u64().unwrap() >= 6,
        "{summary}"
    );
    assert_metadata(&setup, &summary, (25, 1)).await;
}

/// `--format fmp4` (application note 0024): every segment names the same init object;
/// the init followed by the media segments in order decodes to exactly the source's
/// frames; the flows say `video/mp4` with `init_segments`, and their timelines are the
/// same as an MPEG-TS import's (the media's own timestamps).
#[tokio::test]
async fn fragmented_mp4_segments_share_one_init_and_play_in_order() {
    let setup = Setup::new().await;
    let file = make_ts(setup.path(), "source.ts", "25", 100, 25, &[]);
    let summary = setup
        .import(&file, &["--segment-duration", "1", "--format", "fmp4"])
        .await
        .summary();
    for (role, map, sel) in [("video", "0:v", "v:0"), ("audio", "0:a", "a:0")] {
        let id = flow_of(&summary, role);
        let flow = setup.flow(&id).await;
        assert_eq!(flow["container"], "video/mp4", "{role}");
        assert_eq!(flow["essence_parameters"]["init_segments"], true, "{role}");
        let segments = setup.segments(&id).await;
        assert!(segments.len() >= 3, "{role}: {} segments", segments.len());
        let inits: std::collections::BTreeSet<&str> = segments
            .iter()
            .map(|s| s["init_object"]["object_id"].as_str().expect("init_object"))
            .collect();
        assert_eq!(inits.len(), 1, "{role}: one init object for the flow");

        // The init once, then every media segment.
        let init_url = segments[0]["init_object"]["get_urls"][0]["url"]
            .as_str()
            .unwrap();
        let mut all = expect_status(setup.server.get(init_url).await, StatusCode::OK)
            .await
            .bytes()
            .await
            .unwrap()
            .to_vec();
        for s in &segments {
            let url = s["get_urls"][0]["url"].as_str().unwrap();
            let bytes = expect_status(setup.server.get(url).await, StatusCode::OK)
                .await
                .bytes()
                .await
                .unwrap();
            assert_ne!(
                &bytes[4..8],
                b"ftyp",
                "{role}: a media segment holds no init"
            );
            all.extend_from_slice(&bytes);
        }
        let whole = setup.path().join(format!("{role}.mp4"));
        std::fs::write(&whole, &all).unwrap();

        // Decoded frames: the same count and checksums (the coded packets differ in
        // framing: Annex B start codes in MPEG-TS, length prefixes in MP4).
        let md5s = |lines: Vec<String>| -> Vec<String> {
            lines
                .iter()
                .map(|l| l.rsplit(',').next().unwrap_or_default().to_owned())
                .collect()
        };
        let want = md5s(framemd5(&file, map, false));
        let got = md5s(framemd5(&whole, "0", false));
        assert_eq!(got.len(), want.len(), "{role}: frames read back");
        assert_eq!(got, want, "{role}: decoded frames");

        // Contiguous segments, starting at the stream's first sample.
        let mut prev_end = None;
        for s in &segments {
            let (start, end) = range(&s["timerange"]);
            assert!(end > start);
            if let Some(p) = prev_end {
                assert_eq!(start, p, "{role}: segments are contiguous");
            }
            prev_end = Some(end);
        }
        if role == "video" {
            let (flow_start, _) = range(&flow["timerange"]);
            let start_pts = first_pts(&file, sel);
            assert!(
                (flow_start * NINTHS_PER_NS - i128::from(start_pts) * NINTHS_PER_TICK).abs()
                    <= NINTHS_PER_NS / 2,
                "video flow starts at {flow_start} ns, the file at {start_pts} ticks"
            );
        }
    }
}

/// A file with a 5 s hole in its timestamps (two recordings, the second starting 5 s
/// after the first ends): the hole stays a hole between two segments, no segment claims
/// it, and every frame is still there once.
#[tokio::test]
async fn a_gap_in_the_timestamps_stays_a_gap() {
    let setup = Setup::new().await;
    let first = make_ts(setup.path(), "first.ts", "25", 100, 25, &[]);
    // The first file's video ends at about 1.48 + 4 s; the second starts 5 s later.
    let second = make_ts(
        setup.path(),
        "second.ts",
        "25",
        100,
        25,
        &["-output_ts_offset", "9"],
    );
    let file = setup.path().join("gap.ts");
    let mut bytes = std::fs::read(&first).unwrap();
    bytes.extend(std::fs::read(&second).unwrap());
    std::fs::write(&file, bytes).unwrap();

    let summary = setup
        .import(&file, &["--segment-duration", "1"])
        .await
        .summary();
    let id = flow_of(&summary, "video");
    let read = setup.read_back(&id, "video").await;
    let mut gaps = Vec::new();
    let mut prev_end: Option<i128> = None;
    for s in &read.segments {
        let (start, end) = range(&s["timerange"]);
        if let Some(p) = prev_end {
            assert!(start >= p, "segments overlap at {start}");
            if start > p {
                gaps.push(start - p);
            }
        }
        prev_end = Some(end);
    }
    assert_eq!(gaps.len(), 1, "one gap, between the recordings: {gaps:?}");
    let gap = gaps[0];
    assert!(
        (4_900_000_000..=5_100_000_000).contains(&gap),
        "the gap is 5 s, not {gap} ns"
    );
    let want = frame_count(&file, "v:0");
    assert_eq!(want, 200);
    assert_eq!(frame_count(&read.whole, "v:0"), want, "every frame once");
}
