//! `/hls/`: HLS playlists of flows and sources (docs/HLS.md), in the AWS TAMS tools' path shapes.
//!
//! `GET /hls/flows/{flow_id}/manifest.m3u8` is a media playlist for a mono flow (on
//! demand, or live while the flow grows) and a multivariant playlist for a multi-essence
//! flow; `GET /hls/sources/{source_id}/manifest.m3u8` is the multivariant playlist of a
//! source. Segment URIs are the signed media URLs of the segment listing. The routes sit
//! behind the TAMS auth layer like every other route; the query of the request
//! (`access_token` included) is carried onto the variant URIs.

use std::collections::HashSet;
use std::fmt::Write as _;

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use rushes_core::ops::flows::FlowQuery;
use rushes_core::ops::hls::{HlsSegment, HlsSegments, HlsWindow};
use rushes_core::ops::listing::Paging;
use rushes_core::Principal;
use rushes_model::{Essence, Flow, FlowId, FlowStatus, Format, SourceId, TimeRange};

use crate::error::ApiError;
use crate::extract::{PathParam, QueryParams};
use crate::routes::segments::url_filter;
use crate::AppState;

/// The MIME type of HLS playlists.
pub const MPEGURL: &str = "application/vnd.apple.mpegurl";

/// Segments in a live window when `window` is not given.
pub const DEFAULT_LIVE_WINDOW: u32 = 6;

/// TAI is ahead of UTC by this many seconds (since 2017; flow timestamps are TAI).
const TAI_UTC_OFFSET_NS: i64 = 37_000_000_000;

/// `RFC 6381` string of H.264 when the flow's metadata gives no `avc_parameters`:
/// High profile, level 4.0 (1080p30).
pub const DEFAULT_AVC_CODECS: &str = "avc1.640028";

/// Flows read for a source's multivariant playlist.
const MAX_RENDITIONS: u32 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hls/flows/{flow_id}/manifest.m3u8", get(flow_manifest))
        .route(
            "/hls/sources/{source_id}/manifest.m3u8",
            get(source_manifest),
        )
}

/// The query to carry onto variant URIs: the request's own, as sent (the auth layer
/// removes `access_token` from the URI the handler sees, not from the original).
fn onward_query(original: &OriginalUri) -> String {
    match original.0.query() {
        Some(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

fn playlist(body: String, live: bool) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MPEGURL));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if live {
            "no-cache"
        } else {
            "private, max-age=10"
        }),
    );
    resp
}

/// How a media playlist request selects segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// On demand: the segments overlapping the range, ending with `EXT-X-ENDLIST`.
    Vod(TimeRange),
    /// A growing flow: the last `n` segments, no end.
    Live(u32),
    /// A growing flow from its start (`PLAYLIST-TYPE:EVENT`), no end.
    Event,
}

/// Whether the flow's status says segments are still being added.
fn growing(flow: &Flow) -> bool {
    matches!(
        flow.common.status,
        Some(FlowStatus::Ingesting | FlowStatus::AwaitingContent)
    )
}

fn mode(flow: &Flow, q: &QueryParams) -> Result<Mode, ApiError> {
    let window = match q.get("window") {
        None => None,
        Some("all") => Some(0),
        Some(v) => Some(v.parse::<u32>().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid query parameter window={v:?}: expected a count of segments or `all`"
            ))
        })?),
    };
    if let Some(tr) = q.parse::<TimeRange>("timerange")? {
        return Ok(Mode::Vod(tr));
    }
    if !growing(flow) {
        return Ok(Mode::Vod(TimeRange::ETERNITY));
    }
    Ok(match window.unwrap_or(DEFAULT_LIVE_WINDOW) {
        0 => Mode::Event,
        n => Mode::Live(n),
    })
}

async fn flow_manifest(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(flow_id): PathParam<FlowId>,
    original: OriginalUri,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let flow = state
        .store
        .get_flow(&principal, flow_id, false, None)
        .await?;
    if flow.media.format() == Format::Multi {
        let members: Vec<FlowId> = flow
            .common
            .flow_collection
            .iter()
            .flatten()
            .map(|m| m.id)
            .collect();
        let flows = read_flows(&state, &principal, &members).await?;
        let body = multivariant(&flows, &onward_query(&original))?;
        return Ok(playlist(body, growing(&flow)));
    }
    let mode = mode(&flow, &q)?;
    let filter = url_filter(&q)?;
    let window = match mode {
        Mode::Vod(r) => HlsWindow::Range(r),
        Mode::Live(n) => HlsWindow::Last(n),
        Mode::Event => HlsWindow::Range(TimeRange::ETERNITY),
    };
    let found = state
        .store
        .hls_segments(&principal, &flow_id, window, &filter)
        .await?;
    if found.segments.is_empty() {
        if let Mode::Vod(r) = mode {
            return Err(ApiError::not_found(if r.is_eternity() {
                format!("flow {flow_id} has no segments")
            } else {
                format!("flow {flow_id} has no segments in timerange {r}")
            }));
        }
    }
    let live = !matches!(mode, Mode::Vod(_));
    let body = media_playlist(&found, mode, &onward_query(&original));
    let partial = found.segments.iter().filter(|s| whole_object(s)).count();
    let mut resp = playlist(body, live);
    if partial > 0 {
        resp.headers_mut().insert(
            "x-rushes-hls-partial-segments",
            HeaderValue::from(partial as u64),
        );
    }
    Ok(resp)
}

async fn source_manifest(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(source_id): PathParam<SourceId>,
    original: OriginalUri,
) -> Result<Response, ApiError> {
    let source = state.store.get_source(&principal, source_id).await?;
    let mut ids: Vec<FlowId> = Vec::new();
    let mut multis: Vec<Flow> = Vec::new();
    let mut sources = vec![source.id];
    sources.extend(source.source_collection.iter().flatten().map(|c| c.id));
    let mut flows = Vec::new();
    for sid in sources {
        let q = FlowQuery {
            source_id: Some(sid),
            paging: Paging {
                limit: MAX_RENDITIONS,
                page: None,
            },
            ..FlowQuery::default()
        };
        for f in state.store.list_flows(&principal, &q).await?.items {
            if f.media.format() == Format::Multi {
                multis.push(f);
            } else {
                flows.push(f);
            }
        }
    }
    for m in &multis {
        ids.extend(m.common.flow_collection.iter().flatten().map(|c| c.id));
    }
    let known: HashSet<FlowId> = flows.iter().map(Flow::id).collect();
    ids.retain(|id| !known.contains(id));
    flows.extend(read_flows(&state, &principal, &ids).await?);
    let live = flows.iter().any(growing);
    let body = multivariant(&flows, &onward_query(&original))?;
    Ok(playlist(body, live))
}

/// The flows `ids` the principal may read (others are left out).
async fn read_flows(
    state: &AppState,
    principal: &Principal,
    ids: &[FlowId],
) -> Result<Vec<Flow>, ApiError> {
    let mut out = Vec::with_capacity(ids.len());
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(*id) {
            continue;
        }
        match state.store.get_flow(principal, *id, false, None).await {
            Ok(f) => out.push(f),
            Err(rushes_core::CoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// `ns` as decimal seconds with six places (exact integer arithmetic, rounded to the
/// nearest microsecond).
fn seconds(ns: i64) -> String {
    let us = (i128::from(ns) + 500) / 1000;
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// `EXT-X-PROGRAM-DATE-TIME` of flow time `tai_ns`: TAI minus 37 s, as UTC.
fn program_date_time(tai_ns: i64) -> Option<String> {
    let utc = i128::from(tai_ns) - i128::from(TAI_UTC_OFFSET_NS);
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(utc).ok()?;
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).ok()
}

/// Whether `seg` cannot follow `prev` without `EXT-X-DISCONTINUITY`: a gap or overlap on
/// the flow timeline, another `ts_offset` (the container timeline jumps) or another
/// init object.
fn discontinuous(prev: &HlsSegment, seg: &HlsSegment) -> bool {
    seg.start_ns != prev.end_ns
        || cut(seg)
        || cut(prev)
        || seg.ts_offset_ns.abs_diff(prev.ts_offset_ns) >= SAME_OFFSET_NS
        || seg.init_object_id != prev.init_object_id
}

/// `ts_offset`s closer than one 90 kHz tick (11,111 ns) are one media timeline: writers
/// that round each segment's offset on its own give offsets a nanosecond apart, and a
/// player must not be told to reset its timeline for that.
const SAME_OFFSET_NS: u64 = 11_111;

/// A segment that uses part of an MPEG-TS object: its URI is the part Rushes cuts,
/// `parts/{start}.ts` (served by the binary; docs/HLS.md), between discontinuities.
fn cut(s: &HlsSegment) -> bool {
    s.partial && s.init_object_id.is_none()
}

/// A segment that uses part of a fragmented MP4 object: players get the whole object.
fn whole_object(s: &HlsSegment) -> bool {
    s.partial && s.init_object_id.is_some()
}

fn media_playlist(found: &HlsSegments, mode: Mode, query: &str) -> String {
    let segs: Vec<&HlsSegment> = found.segments.iter().filter(|s| s.url.is_some()).collect();
    let max_ns = segs
        .iter()
        .map(|s| s.end_ns.saturating_sub(s.start_ns))
        .max()
        .unwrap_or(1_000_000_000);
    let target = (max_ns.max(1) + 999_999_999) / 1_000_000_000;
    let has_map = segs.iter().any(|s| s.init_url.is_some());
    let mut out = String::with_capacity(200 + segs.len() * 180);
    out.push_str("#EXTM3U\n");
    let _ = writeln!(out, "#EXT-X-VERSION:{}", if has_map { 6 } else { 3 });
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", found.sequence);
    match mode {
        Mode::Vod(_) => out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n"),
        Mode::Event => out.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
        Mode::Live(_) => {}
    }
    if segs.iter().any(|s| whole_object(s)) {
        out.push_str(
            "# rushes: some segments use only part of their object (sample_offset/sample_count); \
             players show the whole object\n",
        );
    }
    let mut prev: Option<&HlsSegment> = None;
    for s in segs {
        let jump = prev.is_some_and(|p| discontinuous(p, s));
        if jump {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let new_init = match prev {
            None => true,
            Some(p) => p.init_object_id != s.init_object_id,
        };
        if new_init {
            if let Some(init) = &s.init_url {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{init}\"");
            }
        }
        if prev.is_none() || jump {
            if let Some(pdt) = program_date_time(s.start_ns) {
                let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{pdt}");
            }
        }
        let _ = writeln!(
            out,
            "#EXTINF:{},",
            seconds(s.end_ns.saturating_sub(s.start_ns))
        );
        if cut(s) {
            let _ = writeln!(out, "parts/{}.ts{query}", s.start_ns);
        } else if let Some(url) = &s.url {
            out.push_str(url);
            out.push('\n');
        }
        prev = Some(s);
    }
    if matches!(mode, Mode::Vod(_)) {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// The RFC 6381 `CODECS` entry of a flow, if its codec is one HLS players know.
fn codecs(flow: &Flow) -> Option<String> {
    let codec = flow.media.codec.as_ref()?.as_str().to_ascii_lowercase();
    match (codec.as_str(), &flow.media.essence) {
        ("video/h264", Essence::Video(v)) => Some(match &v.avc_parameters {
            Some(p)
                if (0..=255).contains(&p.profile)
                    && (0..=255).contains(&p.flags)
                    && (0..=255).contains(&p.level) =>
            {
                format!("avc1.{:02X}{:02X}{:02X}", p.profile, p.flags, p.level)
            }
            _ => DEFAULT_AVC_CODECS.to_owned(),
        }),
        ("audio/aac", _) => Some("mp4a.40.2".to_owned()),
        ("audio/mpeg", _) | ("audio/mp3", _) => Some("mp4a.40.34".to_owned()),
        ("audio/ac3", _) => Some("ac-3".to_owned()),
        ("audio/eac3", _) => Some("ec-3".to_owned()),
        _ => None,
    }
}

/// The flow's bit rate in bit/s (`max_bit_rate`, else `avg_bit_rate`, in kbit/s).
fn bandwidth(flow: &Flow) -> Option<u64> {
    flow.common
        .max_bit_rate
        .or(flow.media.avg_bit_rate)
        .map(|k| k.saturating_mul(1000))
}

/// A bit rate for a flow whose metadata gives none: for video, 0.1 bit per pixel per
/// frame (at 25 frames/s if the rate is unknown); for audio, 128 kbit/s.
fn estimated_bandwidth(flow: &Flow) -> u64 {
    match &flow.media.essence {
        Essence::Video(v) => {
            let (n, d) = v
                .frame_rate
                .map_or((25, 1), |r| (r.numerator.get(), r.denominator_or_one()));
            let pixels = u64::from(v.frame_width.get()) * u64::from(v.frame_height.get());
            pixels.saturating_mul(n) / d.max(1) / 10
        }
        _ => 128_000,
    }
}

/// `FRAME-RATE` text: the rate to three decimal places, computed exactly.
fn frame_rate(flow: &Flow) -> Option<String> {
    let Essence::Video(v) = &flow.media.essence else {
        return None;
    };
    let r = v.frame_rate?;
    let d = r.denominator_or_one();
    let milli = (u128::from(r.numerator.get()) * 1000 + u128::from(d) / 2) / u128::from(d);
    Some(format!("{}.{:03}", milli / 1000, milli % 1000))
}

fn quoted(s: &str) -> String {
    s.replace(['"', '\n', '\r'], "'")
}

fn multivariant(flows: &[Flow], query: &str) -> Result<String, ApiError> {
    let mut videos: Vec<&Flow> = flows
        .iter()
        .filter(|f| f.media.format() == Format::Video)
        .collect();
    let mut audios: Vec<&Flow> = flows
        .iter()
        .filter(|f| f.media.format() == Format::Audio)
        .collect();
    if videos.is_empty() && audios.is_empty() {
        return Err(ApiError::not_found(
            "no video or audio flows to make a multivariant playlist of",
        ));
    }
    // The highest rendition first: players start with the first listed.
    videos.sort_by_key(|f| std::cmp::Reverse(bandwidth(f).unwrap_or(estimated_bandwidth(f))));
    audios.sort_by_key(|f| f.id().to_string());
    let uri = |f: &Flow| format!("../../flows/{}/manifest.m3u8{query}", f.id());
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let audio_codecs = audios.iter().find_map(|f| codecs(f));
    let audio_rate = audios
        .iter()
        .map(|f| bandwidth(f).unwrap_or(estimated_bandwidth(f)))
        .max()
        .unwrap_or(0);
    if videos.is_empty() {
        for a in &audios {
            let bw = bandwidth(a).unwrap_or(estimated_bandwidth(a));
            let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={bw}");
            if let Some(c) = codecs(a) {
                let _ = write!(out, ",CODECS=\"{c}\"");
            }
            let _ = writeln!(out, "\n{}", uri(a));
        }
        return Ok(out);
    }
    for (i, a) in audios.iter().enumerate() {
        let name = a
            .common
            .label
            .clone()
            .unwrap_or_else(|| format!("audio {}", i + 1));
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"{}\",DEFAULT={},AUTOSELECT=YES,URI=\"{}\"",
            quoted(&name),
            if i == 0 { "YES" } else { "NO" },
            uri(a)
        );
    }
    for v in &videos {
        let bw = bandwidth(v)
            .unwrap_or(estimated_bandwidth(v))
            .saturating_add(audio_rate);
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={bw}");
        let mut cs: Vec<String> = codecs(v).into_iter().collect();
        if let (Some(ac), false) = (&audio_codecs, cs.is_empty()) {
            cs.push(ac.clone());
        }
        if !cs.is_empty() {
            let _ = write!(out, ",CODECS=\"{}\"", cs.join(","));
        }
        if let Essence::Video(e) = &v.media.essence {
            let _ = write!(
                out,
                ",RESOLUTION={}x{}",
                e.frame_width.get(),
                e.frame_height.get()
            );
        }
        if let Some(r) = frame_rate(v) {
            let _ = write!(out, ",FRAME-RATE={r}");
        }
        if !audios.is_empty() {
            out.push_str(",AUDIO=\"audio\"");
        }
        let _ = writeln!(out, "\n{}", uri(v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(1_000_000_000), "1.000000");
        assert_eq!(seconds(40_000_000), "0.040000");
        assert_eq!(seconds(1_001_000_000), "1.001000");
        assert_eq!(seconds(3_999_999_999), "4.000000");
    }

    #[test]
    fn program_date_time_is_tai_minus_37_seconds() {
        // 2024-01-01T00:00:00Z is 1704067200 s after the epoch; TAI is 37 s ahead.
        let tai = (1_704_067_200 + 37) * 1_000_000_000 + 500_000_000;
        assert_eq!(
            program_date_time(tai).as_deref(),
            Some("2024-01-01T00:00:00.500Z")
        );
    }

    fn seg(start: i64, end: i64, offset: i64, init: Option<&str>) -> HlsSegment {
        HlsSegment {
            start_ns: start,
            end_ns: end,
            object_id: format!("o{start}"),
            url: Some(format!("http://h/o{start}")),
            init_object_id: init.map(str::to_owned),
            init_url: init.map(|i| format!("http://h/{i}")),
            ts_offset_ns: offset,
            partial: false,
        }
    }

    #[test]
    fn media_playlist_marks_gaps_offsets_and_inits() {
        const S: i64 = 1_000_000_000;
        let found = HlsSegments {
            segments: vec![
                seg(0, S, 0, Some("i1")),
                seg(S, 2 * S + S / 2, 0, Some("i1")),
                seg(3 * S, 4 * S, 0, Some("i1")),
                // A nanosecond of rounding is the same timeline; 7 ms is another.
                seg(4 * S, 5 * S, 1, Some("i1")),
                seg(5 * S, 6 * S, 7_000_000, Some("i1")),
                seg(6 * S, 7 * S, 7_000_000, Some("i2")),
            ],
            sequence: 12,
        };
        let text = media_playlist(&found, Mode::Vod(TimeRange::ETERNITY), "");
        assert!(text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:12\n"));
        assert!(text.contains("#EXTINF:1.500000,\nhttp://h/o1000000000\n"));
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 3);
        assert_eq!(text.matches("#EXT-X-MAP:").count(), 2);
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
        let live = media_playlist(&found, Mode::Live(6), "");
        assert!(!live.contains("ENDLIST") && !live.contains("PLAYLIST-TYPE"));
    }
}
