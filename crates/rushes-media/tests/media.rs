//! rushes-media against real ffprobe and ffmpeg, on media that ffmpeg makes in each test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rushes_media::{MediaError, Packet, SegmentFile, StreamKind, Tools};
use rushes_time::{Rational, Rounding};

/// A `frames`-frame testsrc2 (it draws a frame counter) H.264 video at `rate` with a
/// key frame every `gop` frames, and a 48 kHz stereo sine in AAC, in MPEG-TS.
fn make_media(dir: &Path, rate: &str, frames: u32, gop: u32) -> PathBuf {
    let path = dir.join(format!("source-{}.ts", rate.replace('/', "_")));
    let seconds = frames.div_ceil(25) + 1;
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=320x240:rate={rate}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=48000:duration={seconds}"
        ))
        .args(["-frames:v", &frames.to_string()])
        .args([
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast",
        ])
        .args(["-g", &gop.to_string(), "-keyint_min", &gop.to_string()])
        .args(["-sc_threshold", "0"])
        .args(["-c:a", "aac", "-ac", "2", "-shortest", "-f", "mpegts"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg could not make the test media");
    path
}

/// ffmpeg's per-frame checksums (`-f framemd5`) of every stream of `path`.
fn framemd5(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn rate(n: u64, d: u64) -> Rational {
    Rational::new(n, d).unwrap()
}

#[tokio::test]
async fn probe_reads_codecs_rates_and_sizes_from_the_media() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Tools::default();
    for (text, expected, frames) in [
        ("25", rate(25, 1), 50),
        ("30000/1001", rate(30000, 1001), 60),
    ] {
        let path = make_media(dir.path(), text, frames, frames);
        let info = tools.probe(&path).await.unwrap();
        assert_eq!(info.format_name, "mpegts");
        assert_eq!(info.container_mime(), Some("video/mp2t"));
        assert!(info.duration.is_some_and(|d| d.as_nanos() > 0));
        assert_eq!(info.streams.len(), 2, "{info:?}");

        let video = &info.streams[0];
        assert_eq!(video.index, 0);
        assert_eq!(video.kind, StreamKind::Video);
        assert_eq!(video.codec_name.as_deref(), Some("h264"));
        assert_eq!(video.codec_mime(), Some("video/h264"));
        assert!(video.profile.is_some());
        assert_eq!(video.time_base, rate(1, 90_000));
        assert_eq!(video.r_frame_rate, Some(expected));
        assert_eq!(video.avg_frame_rate, Some(expected));
        assert_eq!((video.width, video.height), (Some(320), Some(240)));
        assert_eq!(video.pix_fmt.as_deref(), Some("yuv420p"));
        assert_eq!(video.sample_rate, None);
        let start = video.start_pts.unwrap();
        // The start time is the start pts in seconds, as ffprobe prints it (to the µs).
        assert_eq!(
            video.start_time.unwrap().as_nanos() / 1000,
            start * 1_000_000 / 90_000
        );

        let audio = &info.streams[1];
        assert_eq!(audio.index, 1);
        assert_eq!(audio.kind, StreamKind::Audio);
        assert_eq!(audio.codec_name.as_deref(), Some("aac"));
        assert_eq!(audio.codec_mime(), Some("audio/aac"));
        assert_eq!(audio.sample_rate, Some(48_000));
        assert_eq!(audio.channels, Some(2));
        assert_eq!(audio.channel_layout.as_deref(), Some("stereo"));
        assert_eq!(audio.r_frame_rate, None);
        assert!(audio.bit_rate.is_some_and(|b| b > 0));
        assert_eq!((audio.width, audio.height), (None, None));
        assert_eq!(info.stream(1), Some(audio));
        assert_eq!(info.stream(2), None);
    }
}

/// The video packets' pts in presentation order follow each other by one frame.
fn assert_contiguous(packets: &[Packet], frame_ticks: i64) {
    let mut pts: Vec<i64> = packets.iter().map(|p| p.pts.unwrap()).collect();
    pts.sort_unstable();
    for w in pts.windows(2) {
        assert_eq!(w[1] - w[0], frame_ticks, "a gap or overlap in {pts:?}");
    }
    assert!(packets.iter().all(|p| p.duration == Some(frame_ticks)));
}

#[tokio::test]
async fn packets_are_every_frame_made() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Tools::default();
    for (text, frames, frame_ticks) in [("25", 250, 3600), ("30000/1001", 300, 3003)] {
        let path = make_media(dir.path(), text, frames, 50);
        let video = tools.packets(&path, 0).await.unwrap();
        assert_eq!(video.len(), frames as usize);
        assert!(video[0].key);
        assert_eq!(
            video.iter().filter(|p| p.key).count(),
            (frames as usize).div_ceil(50)
        );
        assert!(video.iter().all(|p| p.size > 0 && p.dts.is_some()));
        assert_contiguous(&video, frame_ticks);

        // AAC frames are 1024 samples: 1920 ticks of 90 kHz at 48 kHz.
        let audio = tools.packets(&path, 1).await.unwrap();
        assert!(audio.len() > 100);
        assert_contiguous(&audio, 1920);
        assert!(audio.iter().all(|p| p.key));
    }
}

#[tokio::test]
async fn a_pts_becomes_exact_tams_nanoseconds() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Tools::default();
    let path = make_media(dir.path(), "25", 25, 25);
    let info = tools.probe(&path).await.unwrap();
    let tb = info.streams[0].time_base;
    let video = tools.packets(&path, 0).await.unwrap();
    let mut pts: Vec<i64> = video.iter().map(|p| p.pts.unwrap()).collect();
    pts.sort_unstable();
    let first = rushes_media::ticks_to_timestamp(pts[0], tb, Rounding::Floor).unwrap();
    assert_eq!(Some(first), info.streams[0].start_time);
    for (i, p) in pts.iter().enumerate() {
        let t = rushes_media::ticks_to_timestamp(*p, tb, Rounding::Floor).unwrap();
        // 25 fps frames are exactly 40 ms apart.
        assert_eq!(t.as_nanos() - first.as_nanos(), i as i64 * 40_000_000);
    }
}

fn check_segments(
    segments: &[SegmentFile],
    source: &[Packet],
    frames: usize,
    gop: usize,
    frame_ticks: i64,
) {
    // A key frame every `gop` frames (2 s) and a 2 s target: one GOP per segment.
    assert_eq!(segments.len(), frames.div_ceil(gop), "{segments:?}");
    let mut total = 0;
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(s.sequence as usize, i);
        assert!(s.path.is_file());
        let video = &s.streams[0];
        assert_eq!((video.input_index, video.output_index), (0, 0));
        assert!(
            video.starts_with_key(),
            "segment {i} does not start at a key frame"
        );
        total += video.packets.len();
        if i + 1 < segments.len() {
            assert_eq!(video.packets.len(), gop, "segment {i}");
        }
        assert_eq!(
            video.end_pts.unwrap() - video.first_pts.unwrap(),
            video.packets.len() as i64 * frame_ticks
        );
        if let Some(next) = segments.get(i + 1) {
            // No gap, no overlap: each segment ends where the next begins.
            assert_eq!(video.end_pts, next.streams[0].first_pts);
            assert_eq!(s.streams[1].end_pts, next.streams[1].first_pts);
        }
    }
    assert_eq!(total, frames);
    // The segments keep the source's own timestamps.
    let mut source_pts: Vec<i64> = source.iter().map(|p| p.pts.unwrap()).collect();
    source_pts.sort_unstable();
    assert_eq!(segments[0].streams[0].first_pts, Some(source_pts[0]));
    let mut segment_pts: Vec<i64> = segments
        .iter()
        .flat_map(|s| s.streams[0].packets.iter().map(|p| p.pts.unwrap()))
        .collect();
    segment_pts.sort_unstable();
    assert_eq!(segment_pts, source_pts);
}

#[tokio::test]
async fn segments_hold_every_frame_once_and_start_at_key_frames() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Tools::default();
    for (text, frames, gop, frame_ticks) in [("25", 250, 50, 3600), ("30000/1001", 300, 60, 3003)] {
        let path = make_media(dir.path(), text, frames, gop);
        let source = tools.packets(&path, 0).await.unwrap();
        let source_audio = tools.packets(&path, 1).await.unwrap();
        let out = dir
            .path()
            .join(format!("segments-{}", text.replace('/', "_")));
        let segments = tools
            .segment_ts(&path, &[0, 1], Duration::from_secs(2), &out)
            .await
            .unwrap();
        check_segments(
            &segments,
            &source,
            frames as usize,
            gop as usize,
            frame_ticks,
        );
        let audio: usize = segments.iter().map(|s| s.streams[1].packets.len()).sum();
        assert_eq!(audio, source_audio.len());

        // MPEG-TS segments concatenate: the frames decoded from them are the source's.
        let joined = dir.path().join("joined.ts");
        let mut bytes = Vec::new();
        for s in &segments {
            bytes.extend(std::fs::read(&s.path).unwrap());
        }
        std::fs::write(&joined, bytes).unwrap();
        let expected = framemd5(&path);
        assert!(expected.lines().filter(|l| !l.starts_with('#')).count() > frames as usize);
        assert_eq!(framemd5(&joined), expected);
    }
}

#[tokio::test]
async fn a_single_stream_can_be_segmented_alone() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Tools::default();
    let path = make_media(dir.path(), "25", 100, 25);
    let segments = tools
        .segment_ts(
            &path,
            &[1],
            Duration::from_secs(1),
            &dir.path().join("audio"),
        )
        .await
        .unwrap();
    assert!(!segments.is_empty());
    for s in &segments {
        assert_eq!(s.streams.len(), 1);
        assert_eq!(s.streams[0].input_index, 1);
        let info = tools.probe(&s.path).await.unwrap();
        assert_eq!(info.streams.len(), 1);
        assert_eq!(info.streams[0].codec_name.as_deref(), Some("aac"));
    }
}

#[tokio::test]
async fn bad_requests_are_errors_not_media() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Tools::default();
    let path = make_media(dir.path(), "25", 25, 25);
    let out = dir.path().join("out");
    let err = tools
        .segment_ts(&path, &[], Duration::from_secs(2), &out)
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::Invalid(_)), "{err:?}");
    let err = tools
        .segment_ts(&path, &[7], Duration::from_secs(2), &out)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::Failed { ref stderr, .. } if !stderr.is_empty()),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_corrupt_file_is_a_failed_probe_with_ffprobes_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.ts");
    // Bytes from a fixed linear congruential sequence: noise, reproducibly.
    let mut x: u32 = 12345;
    let bytes: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let err = Tools::default().probe(&path).await.unwrap_err();
    match err {
        MediaError::Failed { tool, code, stderr } => {
            assert_eq!(tool, "ffprobe");
            assert_ne!(code, Some(0));
            assert!(stderr.contains("corrupt.ts"), "{stderr}");
        }
        other => panic!("expected a failed probe, got {other:?}"),
    }
    let err = Tools::default()
        .probe(&dir.path().join("absent.ts"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::Failed { ref stderr, .. } if stderr.contains("No such file")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_program_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Tools {
        ffprobe: dir.path().join("no-ffprobe-here"),
        ..Tools::default()
    };
    let err = tools.probe(&dir.path().join("x.ts")).await.unwrap_err();
    assert!(matches!(err, MediaError::ToolMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("not found"));
}

#[tokio::test]
async fn a_hung_probe_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // Opening a FIFO that nobody writes blocks ffprobe forever.
    let fifo = dir.path().join("never.ts");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let tools = Tools {
        probe_timeout: Duration::from_millis(500),
        ..Tools::default()
    };
    let err = tools.probe(&fifo).await.unwrap_err();
    assert!(
        matches!(err, MediaError::Timeout { after, .. } if after == Duration::from_millis(500)),
        "{err:?}"
    );
    // ffprobe is gone: a writer that will not wait finds no reader on the FIFO (ENXIO).
    use std::os::unix::fs::OpenOptionsExt;
    const O_NONBLOCK: i32 = 0o4000;
    let open = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(&fifo);
    assert_eq!(
        open.unwrap_err().raw_os_error(),
        Some(6),
        "ffprobe still reads the FIFO"
    );
}
