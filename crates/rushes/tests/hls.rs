//! The integration-test binary `hls`: the `/hls/` playlists of `rushes serve` (docs/HLS.md)
//! read by ffmpeg/ffprobe on loopback. Media is made here with ffmpeg and imported with the
//! `rushes import` CLI binary; the playlists are parsed and checked tag by tag, and ffmpeg
//! plays them through (the frame count is the source's, exactly). Live playlists are read
//! while `rushes ingest` writes a flow; auth is checked with basic users and JWTs.
#![allow(clippy::unwrap_used)]

#[path = "api/harness.rs"]
mod harness;
#[path = "media/mod.rs"]
mod media;
#[path = "api/schema.rs"]
mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{assert_error, expect_status, TestServer};
use media::{
    decoded_video_frames, ffmpeg, ffprobe, flow_of, frame_md5s, psnr, ts, LiveSource, TestTs,
};
use reqwest::StatusCode;
use rushes_time::TimeRange;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};

// ---------------------------------------------------------------------------------------
// Media

/// `frames` frames of testsrc2 at 25 frames/s, H.264 with a key frame every `gop` frames,
/// and a 48 kHz stereo sine in AAC, as MPEG-TS.
fn make_ts(dir: &Path, frames: u32, gop: u32) -> PathBuf {
    TestTs::new(frames, gop).make(dir, "source.ts")
}

/// The streams ffprobe finds in `input`, each as its `key=value` pairs.
fn probe_streams(input: &str) -> Vec<HashMap<String, String>> {
    let args = ["-show_entries", "stream=codec_type,codec_name,width,height"];
    ffprobe(input, &args, "stream")
}

// ---------------------------------------------------------------------------------------
// Playlists

/// A media playlist, parsed.
#[derive(Debug, Default)]
struct MediaPlaylist {
    target: u64,
    sequence: u64,
    playlist_type: Option<String>,
    ended: bool,
    /// `(EXTINF duration text, URI)`.
    segments: Vec<(String, String)>,
    maps: Vec<String>,
    discontinuities: usize,
    program_date_times: Vec<String>,
}

fn parse_media(text: &str) -> MediaPlaylist {
    assert!(text.starts_with("#EXTM3U\n"), "{text}");
    let mut p = MediaPlaylist::default();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some(v) = l.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target = v.parse().unwrap();
        } else if let Some(v) = l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.sequence = v.parse().unwrap();
        } else if let Some(v) = l.strip_prefix("#EXT-X-PLAYLIST-TYPE:") {
            p.playlist_type = Some(v.to_owned());
        } else if l == "#EXT-X-ENDLIST" {
            p.ended = true;
        } else if l == "#EXT-X-DISCONTINUITY" {
            p.discontinuities += 1;
        } else if let Some(v) = l.strip_prefix("#EXT-X-MAP:URI=") {
            p.maps.push(v.trim_matches('"').to_owned());
        } else if let Some(v) = l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            p.program_date_times.push(v.to_owned());
        } else if let Some(v) = l.strip_prefix("#EXTINF:") {
            let uri = lines.next().unwrap();
            assert!(!uri.starts_with('#'), "{text}");
            p.segments
                .push((v.trim_end_matches(',').to_owned(), uri.to_owned()));
        }
    }
    for (d, _) in &p.segments {
        let (s, frac) = d.split_once('.').unwrap();
        let whole: u64 = s.parse().unwrap();
        let ceil = whole + u64::from(frac.bytes().any(|b| b != b'0'));
        assert!(ceil <= p.target, "EXTINF {d} over target {}", p.target);
    }
    p
}

/// The attributes of a tag line (`NAME=value,NAME="quoted, value"`).
fn attributes(list: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = list;
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').unwrap();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap();
            (&q[..end], q[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        out.insert(name.to_owned(), value.to_owned());
        rest = next;
    }
    out
}

/// A multivariant playlist: `(STREAM-INF attributes, URI)` and the `EXT-X-MEDIA` attributes.
struct Multivariant {
    variants: Vec<(HashMap<String, String>, String)>,
    media: Vec<HashMap<String, String>>,
}

fn parse_multivariant(text: &str) -> Multivariant {
    assert!(text.starts_with("#EXTM3U\n"), "{text}");
    let mut m = Multivariant {
        variants: Vec::new(),
        media: Vec::new(),
    };
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some(a) = l.strip_prefix("#EXT-X-STREAM-INF:") {
            m.variants
                .push((attributes(a), lines.next().unwrap().to_owned()));
        } else if let Some(a) = l.strip_prefix("#EXT-X-MEDIA:") {
            m.media.push(attributes(a));
        }
    }
    m
}

// ---------------------------------------------------------------------------------------
// Store and import

struct Setup {
    server: TestServer,
    dir: TempDir,
}

impl Setup {
    async fn new(args: &[&str]) -> Setup {
        Setup {
            server: TestServer::start_with(args).await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `rushes import FILE --tams-url <server> --json ARGS`: the summary.
    async fn import(&self, file: &Path, args: &[&str]) -> Value {
        let work = self.dir.path().join("work");
        media::import(&self.server.base_url, file, &work, args)
            .await
            .summary()
    }

    /// The text of a playlist, checking its status and content type.
    async fn playlist(&self, path: &str) -> String {
        let resp = expect_status(self.server.get(path).await, StatusCode::OK).await;
        assert_eq!(
            harness::header(&resp, "content-type").as_deref(),
            Some("application/vnd.apple.mpegurl")
        );
        resp.text().await.unwrap()
    }

    async fn segments(&self, flow: &str) -> Vec<Value> {
        let v = self
            .server
            .get_json(&format!("/flows/{flow}/segments?limit=1000"))
            .await;
        v.as_array().unwrap().clone()
    }
}

/// `[start, end)` of a segment's timerange, in nanoseconds.
fn bounds(seg: &Value) -> (i128, i128) {
    media::bounds(seg["timerange"].as_str().unwrap())
}

/// The video frames in `segments`: at 25 frames/s, a segment of d ns holds d / 40 ms.
fn frames_of(segments: &[Value]) -> usize {
    segments
        .iter()
        .map(|seg| {
            let (s, e) = bounds(seg);
            usize::try_from((e - s) / 40_000_000).unwrap()
        })
        .sum()
}

// ---------------------------------------------------------------------------------------
// Tests

/// 150 frames (6 s) with a key frame every 25: the import cuts 1 s segments.
const FRAMES: u32 = 150;

#[tokio::test]
async fn vod_playlist_of_an_imported_flow_plays_every_frame() {
    let setup = Setup::new(&[]).await;
    let file = make_ts(setup.dir.path(), FRAMES, 25);
    let summary = setup.import(&file, &[]).await;
    let video = flow_of(&summary, "video");
    let path = format!("/hls/flows/{video}/manifest.m3u8");
    let text = setup.playlist(&path).await;
    let p = parse_media(&text);
    let segments = setup.segments(&video).await;
    assert_eq!(p.segments.len(), segments.len(), "{text}");
    assert!(
        p.ended && p.playlist_type.as_deref() == Some("VOD"),
        "{text}"
    );
    assert_eq!(p.sequence, 0);
    assert_eq!(p.discontinuities, 0, "{text}");
    assert!(p.maps.is_empty());
    assert_eq!(p.program_date_times.len(), 1);
    // Each EXTINF is its segment's duration; each URI is the segment's signed URL.
    for ((dur, uri), seg) in p.segments.iter().zip(&segments) {
        let (s, e) = bounds(seg);
        let us = (e - s + 500) / 1000;
        assert_eq!(*dur, format!("{}.{:06}", us / 1_000_000, us % 1_000_000));
        let object = seg["object_id"].as_str().unwrap();
        setup.server.assert_signed_media_url(uri, object);
    }
    let url = setup.server.url(&path);
    assert_eq!(decoded_video_frames(&url), FRAMES as usize);
    assert_eq!(
        decoded_video_frames(file.to_str().unwrap()),
        FRAMES as usize
    );

    // A window of whole segments: the frames of the segments overlapping it.
    let (s1, _) = bounds(&segments[1]);
    let (_, e3) = bounds(&segments[3]);
    let tr = TimeRange::half_open(
        rushes_time::Timestamp::from_nanos(i64::try_from(s1).unwrap()),
        rushes_time::Timestamp::from_nanos(i64::try_from(e3).unwrap() - 1),
    );
    let windowed = format!("{path}?timerange={tr}");
    let p = parse_media(&setup.playlist(&windowed).await);
    assert_eq!(p.segments.len(), 3);
    assert_eq!(p.sequence, 1);
    assert!(p.ended);
    let expected = frames_of(&segments[1..=3]);
    assert!(expected < FRAMES as usize);
    assert_eq!(decoded_video_frames(&setup.server.url(&windowed)), expected);
}

#[tokio::test]
async fn multivariant_playlists_of_the_source_and_the_multi_flow() {
    let setup = Setup::new(&[]).await;
    let file = make_ts(setup.dir.path(), FRAMES, 25);
    let summary = setup.import(&file, &[]).await;
    let video = flow_of(&summary, "video");
    let audio = flow_of(&summary, "audio");
    let multi = summary["flow_id"].as_str().unwrap().to_owned();
    let source = summary["source_id"].as_str().unwrap().to_owned();
    let video_flow = setup.server.get_json(&format!("/flows/{video}")).await;
    let audio_flow = setup.server.get_json(&format!("/flows/{audio}")).await;
    let kbits = |f: &Value| {
        f["max_bit_rate"]
            .as_u64()
            .or(f["avg_bit_rate"].as_u64())
            .unwrap()
    };

    let segments = setup.segments(&video).await;
    let (s0, _) = bounds(&segments[0]);
    let (_, e1) = bounds(&segments[1]);
    let tr = format!(
        "[{}_{})",
        rushes_time::Timestamp::from_nanos(i64::try_from(s0).unwrap()),
        rushes_time::Timestamp::from_nanos(i64::try_from(e1).unwrap())
    );
    for path in [
        format!("/hls/sources/{source}/manifest.m3u8"),
        format!("/hls/flows/{multi}/manifest.m3u8"),
    ] {
        let text = setup.playlist(&path).await;
        let m = parse_multivariant(&text);
        assert_eq!(m.variants.len(), 1, "{text}");
        assert_eq!(m.media.len(), 1, "{text}");
        let (attrs, uri) = &m.variants[0];
        assert_eq!(uri, &format!("../../flows/{video}/manifest.m3u8"));
        assert_eq!(attrs["RESOLUTION"], "320x240");
        assert_eq!(attrs["FRAME-RATE"], "25.000");
        assert_eq!(attrs["AUDIO"], "audio");
        let codecs: Vec<&str> = attrs["CODECS"].split(',').collect();
        assert!(
            codecs[0].starts_with("avc1.") && codecs[0].len() == 11,
            "{codecs:?}"
        );
        assert_eq!(codecs[1], "mp4a.40.2");
        assert_eq!(
            attrs["BANDWIDTH"].parse::<u64>().unwrap(),
            (kbits(&video_flow) + kbits(&audio_flow)) * 1000
        );
        let a = &m.media[0];
        assert_eq!(a["TYPE"], "AUDIO");
        assert_eq!(a["GROUP-ID"], "audio");
        assert_eq!(a["DEFAULT"], "YES");
        assert_eq!(a["URI"], format!("../../flows/{audio}/manifest.m3u8"));

        // ffmpeg follows the variant and plays every frame.
        assert_eq!(
            decoded_video_frames(&setup.server.url(&path)),
            FRAMES as usize
        );
        let streams = probe_streams(&setup.server.url(&path));
        assert!(
            streams
                .iter()
                .any(|s| s["codec_type"] == "video" && s["codec_name"] == "h264"),
            "{streams:?}"
        );
        assert!(
            streams
                .iter()
                .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac"),
            "{streams:?}"
        );

        // The request's query goes onto every rendition's URI.
        let query = format!("timerange={}", urlencode(&tr));
        let text = setup.playlist(&format!("{path}?{query}")).await;
        let m = parse_multivariant(&text);
        assert!(m.variants[0].1.ends_with(&format!("?{query}")), "{text}");
        assert!(m.media[0]["URI"].ends_with(&format!("?{query}")), "{text}");
        assert_eq!(
            decoded_video_frames(&setup.server.url(&format!("{path}?{query}"))),
            frames_of(&segments[..2])
        );
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn bad_requests_are_answered_in_the_error_shape() {
    let setup = Setup::new(&[]).await;
    let file = make_ts(setup.dir.path(), 50, 25);
    let summary = setup.import(&file, &[]).await;
    let video = flow_of(&summary, "video");
    let unknown = "7c0d8b2e-43a5-4c6c-9a51-0d6a8e3f1b22";
    let cases = [
        (
            format!("/hls/flows/{unknown}/manifest.m3u8"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/hls/sources/{unknown}/manifest.m3u8"),
            StatusCode::NOT_FOUND,
        ),
        // A path id that is no id names no resource (as everywhere in the API).
        (
            "/hls/flows/not-a-uuid/manifest.m3u8".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/hls/flows/{video}/manifest.m3u8?timerange=yesterday"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/hls/flows/{video}/manifest.m3u8?window=-1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/hls/flows/{video}/manifest.m3u8?presigned=maybe"),
            StatusCode::BAD_REQUEST,
        ),
        // Nothing of the flow in the range: no playlist rather than an empty one.
        (
            format!("/hls/flows/{video}/manifest.m3u8?timerange=[900000:0_900001:0)"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/hls/flows/{video}/manifest.m3u8?timerange=()"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/hls/flows/{video}/other.m3u8"),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, status) in cases {
        let body = assert_error(setup.server.get(&path).await, status).await;
        schema::assert_valid("error.json", &body);
    }
    // A flow that exists but has no segments yet, not growing: 404 too.
    let empty = "2f1f5d8e-8a4b-4c8e-b0f4-6b1d2c3e4f5a";
    let mut body = setup.server.get_json(&format!("/flows/{video}")).await;
    body["id"] = Value::from(empty);
    for k in [
        "created",
        "metadata_updated",
        "segments_updated",
        "timerange",
        "collected_by",
    ] {
        body.as_object_mut().unwrap().remove(k);
    }
    body["status"] = Value::from("closed_complete");
    expect_status(
        setup.server.put(&format!("/flows/{empty}"), &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_error(
        setup
            .server
            .get(&format!("/hls/flows/{empty}/manifest.m3u8"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Growing, it is an empty live playlist that players reload.
    body["status"] = Value::from("ingesting");
    expect_status(
        setup.server.put(&format!("/flows/{empty}"), &body).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let p = parse_media(
        &setup
            .playlist(&format!("/hls/flows/{empty}/manifest.m3u8"))
            .await,
    );
    assert!(p.segments.is_empty() && !p.ended && p.playlist_type.is_none());
}

#[tokio::test]
async fn fragmented_mp4_plays_through_ext_x_map() {
    let setup = Setup::new(&[]).await;
    let file = make_ts(setup.dir.path(), FRAMES, 25);
    let summary = setup.import(&file, &["--format", "fmp4"]).await;
    let video = flow_of(&summary, "video");
    let path = format!("/hls/flows/{video}/manifest.m3u8");
    let text = setup.playlist(&path).await;
    let p = parse_media(&text);
    assert!(text.contains("#EXT-X-VERSION:6\n"), "{text}");
    let segments = setup.segments(&video).await;
    assert_eq!(p.segments.len(), segments.len());
    // One init object for the whole flow: one EXT-X-MAP, its signed URL.
    assert_eq!(p.maps.len(), 1, "{text}");
    let init = segments[0]["init_object"]["object_id"].as_str().unwrap();
    setup.server.assert_signed_media_url(&p.maps[0], init);
    assert!(text.find("#EXT-X-MAP").unwrap() < text.find("#EXTINF").unwrap());
    assert_eq!(p.discontinuities, 0, "{text}");
    assert_eq!(
        decoded_video_frames(&setup.server.url(&path)),
        FRAMES as usize
    );
    let audio = flow_of(&summary, "audio");
    let streams = probe_streams(
        &setup
            .server
            .url(&format!("/hls/flows/{audio}/manifest.m3u8")),
    );
    assert_eq!(streams.len(), 1, "{streams:?}");
    assert_eq!(streams[0]["codec_name"], "aac");
}

// ---------------------------------------------------------------------------------------
// Live

/// `ns` after the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (civil-from-days, proleptic
/// Gregorian calendar).
fn utc_text(ns: i128) -> String {
    let ms = ns.div_euclid(1_000_000);
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i128::from(m <= 2);
    let secs = ms_of_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    )
}

/// The object id in a signed media URL (`.../media/{id}?...`).
fn object_of(uri: &str) -> String {
    let path = uri.split('?').next().unwrap();
    path.rsplit('/').next().unwrap().to_owned()
}

#[test]
fn utc_text_is_the_civil_date() {
    assert_eq!(utc_text(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        utc_text(1_704_067_200_000_000_000 + 86_399_999_000_000),
        "2024-01-01T23:59:59.999Z"
    );
    assert_eq!(
        utc_text(951_782_400_000_000_000),
        "2000-02-29T00:00:00.000Z"
    );
}

#[tokio::test]
async fn a_live_playlist_grows_while_ingest_runs_and_ends_when_it_stops() {
    let setup = Setup::new(&[]).await;
    let source = LiveSource::start(40, false).await;
    let mut ingest = tokio::process::Command::new(env!("CARGO_BIN_EXE_rushes"));
    ingest
        .args([
            "ingest",
            &source.url,
            "--tams-url",
            &setup.server.base_url,
            "--json",
        ])
        .arg("--work-dir")
        .arg(setup.dir.path().join("ingest"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RUSHES_") {
            ingest.env_remove(&key);
        }
    }
    let mut ingest = ingest.spawn().unwrap();
    let mut lines = BufReader::new(ingest.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let ids: Value = serde_json::from_str(&first).unwrap();
    let video = flow_of(&ids, "video");
    let path = format!("/hls/flows/{video}/manifest.m3u8?window=3");

    // Reloads: the window slides, each media sequence number keeps its segment.
    let mut by_number: HashMap<u64, String> = HashMap::new();
    let mut last_total = 0;
    let mut grew = 0;
    let mut last_sequence = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while grew < 3 {
        assert!(Instant::now() < deadline, "the live playlist did not grow");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let text = setup.playlist(&path).await;
        let p = parse_media(&text);
        assert!(!p.ended && p.playlist_type.is_none(), "{text}");
        assert!(p.segments.len() <= 3, "{text}");
        assert!(p.sequence >= last_sequence, "{text}");
        last_sequence = p.sequence;
        for (i, (_, uri)) in p.segments.iter().enumerate() {
            let n = p.sequence + i as u64;
            let object = object_of(uri);
            if let Some(before) = by_number.insert(n, object.clone()) {
                assert_eq!(before, object, "segment {n} changed between reloads");
            }
        }
        let total = p.sequence + p.segments.len() as u64;
        if total > last_total && last_total > 0 {
            grew += 1;
        }
        last_total = last_total.max(total);
    }
    assert!(last_sequence > 0, "the window never slid");
    // `window=all`: the growing flow from its start, as an EVENT playlist.
    let text = setup
        .playlist(&format!("/hls/flows/{video}/manifest.m3u8?window=all"))
        .await;
    let p = parse_media(&text);
    assert_eq!(p.playlist_type.as_deref(), Some("EVENT"));
    assert!(!p.ended && p.sequence == 0);
    assert!(p.segments.len() as u64 >= last_total, "{text}");
    // The first segment's date is the flow's TAI start less 37 s.
    let flow = setup
        .server
        .get_json(&format!("/flows/{video}?include_timerange=true"))
        .await;
    let start: TimeRange = flow["timerange"].as_str().unwrap().parse().unwrap();
    let (Some(s), _) = start.nanos_half_open().unwrap() else {
        panic!("{flow}");
    };
    assert_eq!(p.program_date_times[0], utc_text(s - 37_000_000_000));

    // The ingest stops: the flow is complete, its playlist is on demand with an end.
    let pid = ingest.id().unwrap();
    assert!(Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(Duration::from_secs(20), ingest.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let text = setup
        .playlist(&format!("/hls/flows/{video}/manifest.m3u8"))
        .await;
    let p = parse_media(&text);
    assert!(
        p.ended && p.playlist_type.as_deref() == Some("VOD"),
        "{text}"
    );
    assert_eq!(p.sequence, 0);
    let frames = decoded_video_frames(
        &setup
            .server
            .url(&format!("/hls/flows/{video}/manifest.m3u8")),
    );
    assert_eq!(frames, frames_of(&setup.segments(&video).await));
}

// ---------------------------------------------------------------------------------------
// Auth

const HS_SECRET: &str = "hls-test-hs256-secret";

fn token(scopes: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": "https://idp.example",
        "aud": "rushes-hls-test",
        "sub": "player",
        "iat": now,
        "exp": now + 3600,
        "scope": scopes,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("hs-1".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn playlists_need_credentials_and_carry_the_access_token_onward() {
    let config = tempfile::tempdir().unwrap();
    let config_path = config.path().join("rushes.toml");
    std::fs::write(
        &config_path,
        format!(
            "[auth.jwt]\nissuer = \"https://idp.example\"\naudience = [\"rushes-hls-test\"]\n\n[[auth.jwt.keys]]\nkid = \"hs-1\"\nalg = \"HS256\"\nsecret = \"{HS_SECRET}\"\n"
        ),
    )
    .unwrap();
    let setup = Setup::new(&["--config", config_path.to_str().unwrap()]).await;
    let file = make_ts(setup.dir.path(), 50, 25);
    let writer = token("tams-api/read tams-api/write");
    let summary = setup.import(&file, &["--token", &writer]).await;
    let video = flow_of(&summary, "video");
    let source = summary["source_id"].as_str().unwrap().to_owned();
    let media = format!("/hls/flows/{video}/manifest.m3u8");
    let multivariant = format!("/hls/sources/{source}/manifest.m3u8");

    // No credentials, a bad token, a token without the read scope: refused.
    for path in [&media, &multivariant] {
        let body = assert_error(setup.server.get(path).await, StatusCode::UNAUTHORIZED).await;
        schema::assert_valid("error.json", &body);
        assert_error(
            setup
                .server
                .get(&format!("{path}?access_token=not.a.token"))
                .await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        let body = assert_error(
            setup
                .server
                .get(&format!("{path}?access_token={}", token("other/scope")))
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        schema::assert_valid("error.json", &body);
    }

    // A bearer header works; so does access_token, which the variants carry onward.
    let reader = token("tams-api/read");
    let resp = setup
        .server
        .request(reqwest::Method::GET, &media)
        .header("authorization", format!("Bearer {reader}"))
        .send()
        .await
        .unwrap();
    let text = expect_status(resp, StatusCode::OK)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    let with_token = format!("{multivariant}?access_token={reader}");
    let text = setup.playlist(&with_token).await;
    let m = parse_multivariant(&text);
    assert!(
        m.variants[0]
            .1
            .ends_with(&format!("?access_token={reader}")),
        "{text}"
    );
    assert!(
        m.media[0]["URI"].ends_with(&format!("?access_token={reader}")),
        "{text}"
    );
    // A player that cannot send headers plays it through: the variants and their
    // segments (signed URLs, their own credential) need nothing else.
    assert_eq!(decoded_video_frames(&setup.server.url(&with_token)), 50);
}

// ---------------------------------------------------------------------------------------
// Edit by reference

fn offset_of(seg: &Value) -> i128 {
    let t: rushes_time::Timestamp = seg["ts_offset"].as_str().unwrap_or("0:0").parse().unwrap();
    i128::from(t.as_nanos())
}

/// A flow built by reference from two imported flows (sample_offset / sample_count cuts
/// and a whole segment) plays exactly the referenced frames: the cut segments' URIs are
/// the parts Rushes cuts, stream-copied frames keep their checksums, re-encoded ones are
/// close to the source, and a second reading (from the parts' cache) is the same.
#[tokio::test]
async fn a_flow_made_by_reference_plays_exactly_the_referenced_frames() {
    let setup = Setup::new(&[]).await;
    let (dir_a, dir_b) = (setup.dir.path().join("a"), setup.dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let a_file = make_ts(&dir_a, 100, 25);
    // B: another picture (testsrc), so that frames of A and B cannot be confused.
    let b_file = TestTs {
        pattern: "testsrc",
        audio: false,
        ..TestTs::new(100, 25)
    }
    .make(&dir_b, "b.ts");
    let one_second = ["--segment-duration", "1"];
    let a = flow_of(&setup.import(&a_file, &one_second).await, "video");
    let b = flow_of(&setup.import(&b_file, &one_second).await, "video");
    let (a_segs, b_segs) = (setup.segments(&a).await, setup.segments(&b).await);
    assert_eq!((a_segs.len(), b_segs.len()), (4, 4));
    let edit = uuid::Uuid::new_v4().to_string();
    let flow = serde_json::json!({
        "id": edit,
        "source_id": uuid::Uuid::new_v4().to_string(),
        "format": "urn:x-nmos:format:video",
        "codec": "video/h264",
        "container": "video/mp2t",
        "essence_parameters": {
            "frame_width": 320,
            "frame_height": 240,
            "frame_rate": {"numerator": 25, "denominator": 1}
        }
    });
    let resp = setup.server.put(&format!("/flows/{edit}"), &flow).await;
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    // A's segment 1 (frames 25..50) by sample count; frames 62..70 of B (its segment 2
    // holds 50..75); A's segment 3 (frames 75..100) whole.
    let frame = 40_000_000i128;
    let mut posts = Vec::new();
    let mut at = 0i128;
    for (seg, cut) in [
        (&a_segs[1], Some((0i128, 25i128))),
        (&b_segs[2], Some((12, 8))),
        (&a_segs[3], None),
    ] {
        let (start, end) = bounds(seg);
        let (offset, count) = cut.unwrap_or((0, (end - start) / frame));
        // The object's own time of its first referenced frame.
        let object_time = start + offset * frame - offset_of(seg);
        let mut post = serde_json::json!({
            "object_id": seg["object_id"],
            "timerange": format!("[{}_{})", ts(at), ts(at + count * frame)),
            "ts_offset": ts(at - object_time),
        });
        if cut.is_some() {
            post["sample_offset"] = offset.to_string().parse().unwrap();
            post["sample_count"] = count.to_string().parse().unwrap();
        }
        posts.push(post);
        at += count * frame;
    }
    let resp = setup
        .server
        .post(&format!("/flows/{edit}/segments"), &Value::Array(posts))
        .await;
    expect_status(resp, StatusCode::CREATED).await;

    let path = format!("/hls/flows/{edit}/manifest.m3u8");
    let resp = expect_status(setup.server.get(&path).await, StatusCode::OK).await;
    assert!(harness::header(&resp, "x-rushes-hls-partial-segments").is_none());
    let text = resp.text().await.unwrap();
    let p = parse_media(&text);
    assert_eq!(p.segments.len(), 3, "{text}");
    assert_eq!(p.segments[0].1, "parts/0.ts", "{text}");
    assert_eq!(
        p.segments[1].1,
        format!("parts/{}.ts", 25 * frame),
        "{text}"
    );
    setup
        .server
        .assert_signed_media_url(&p.segments[2].1, a_segs[3]["object_id"].as_str().unwrap());
    assert!(!text.contains("# rushes:"), "{text}");

    let url = setup.server.url(&path);
    let a_md5 = frame_md5s(a_file.to_str().unwrap());
    for reading in ["first (cut)", "second (cached)"] {
        let got = frame_md5s(&url);
        assert_eq!(got.len(), 25 + 8 + 25, "{reading} reading:\n{text}");
        assert_eq!(got[..25], a_md5[25..50], "{reading}: A's GOP, copied");
        assert_eq!(got[33..], a_md5[75..100], "{reading}: A's last segment");
    }
    // B's frames (inside a GOP: re-encoded), decoded losslessly and compared.
    let played = setup.dir.path().join("played.mkv");
    ffmpeg(&[
        "-extension_picky",
        "0",
        "-i",
        &url,
        "-map",
        "0:v:0",
        "-c:v",
        "ffv1",
        played.to_str().unwrap(),
    ]);
    let q = psnr(setup.dir.path(), &played, 25, &b_file, 62, 8);
    assert_eq!(q.len(), 8);
    assert!(q.iter().all(|&v| v > 35.0), "B's frames: PSNR {q:?}");
    // Not A's frames at those places.
    let wrong = psnr(setup.dir.path(), &played, 25, &a_file, 62, 8);
    assert!(wrong.iter().all(|&v| v < 25.0), "PSNR against A {wrong:?}");

    // The first part continues A's media timeline: its first frame has the time that
    // frame has in A's object (segment start minus ts_offset), to a 90 kHz tick.
    let part = setup.server.url(&format!("/hls/flows/{edit}/parts/0.ts"));
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["frame=pts", "-of", "csv=p=0", &part])
        .output()
        .unwrap();
    assert!(out.status.success());
    let first_pts: i128 = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().trim_end_matches(',').parse::<i128>().unwrap())
        .min()
        .unwrap();
    let (a1_start, _) = bounds(&a_segs[1]);
    let media_ns = a1_start - offset_of(&a_segs[1]);
    assert!(
        (first_pts * 1_000_000_000 / 90_000 - media_ns).abs() <= 11_112,
        "part pts {first_pts} (90 kHz), object time {media_ns} ns"
    );

    // A part's start that is no segment's: 404 in the error shape; a bad name: 400.
    let body = assert_error(
        setup
            .server
            .get(&format!("/hls/flows/{edit}/parts/1.ts"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    schema::assert_valid("error.json", &body);
    assert_error(
        setup
            .server
            .get(&format!("/hls/flows/{edit}/parts/zero.ts"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
