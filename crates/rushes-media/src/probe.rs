//! `ffprobe -show_format -show_streams` as [`MediaInfo`], and the MIME names TAMS uses.

use std::ffi::OsStr;
use std::path::Path;

use rushes_time::{Rational, Timestamp};
use serde_json::Value;

use crate::run::run_lines;
use crate::{MediaError, Tools};

/// What an elementary stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Video,
    Audio,
    Data,
    Subtitle,
    /// Anything else ffprobe reports (e.g. `attachment`).
    Other,
}

impl StreamKind {
    fn parse(codec_type: &str) -> StreamKind {
        match codec_type {
            "video" => StreamKind::Video,
            "audio" => StreamKind::Audio,
            "data" => StreamKind::Data,
            "subtitle" => StreamKind::Subtitle,
            _ => StreamKind::Other,
        }
    }
}

/// One elementary stream of a file, as ffprobe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream's index in the file (ffprobe's `index`, ffmpeg's `0:N`).
    pub index: u32,
    pub kind: StreamKind,
    /// ffmpeg's codec name, e.g. `h264`, `aac`; `None` for data streams it does not know.
    pub codec_name: Option<String>,
    /// e.g. `High`, `LC`.
    pub profile: Option<String>,
    /// Seconds per tick of the stream's pts, dts and durations, e.g. 1/90000.
    pub time_base: Rational,
    /// The lowest frame rate at which all timestamps can be represented (`None` when
    /// ffprobe says `0/0`, as for audio).
    pub r_frame_rate: Option<Rational>,
    /// The average frame rate (`None` when ffprobe says `0/0`).
    pub avg_frame_rate: Option<Rational>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// e.g. `yuv420p`.
    pub pix_fmt: Option<String>,
    /// Audio samples per second.
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    /// e.g. `stereo`.
    pub channel_layout: Option<String>,
    /// Bits per second, when the container or codec states it.
    pub bit_rate: Option<u64>,
    /// The first pts, in [`time_base`](StreamInfo::time_base) ticks.
    pub start_pts: Option<i64>,
    /// The first pts as a time (exactly `start_pts × time_base`, to the nanosecond below).
    pub start_time: Option<Timestamp>,
    /// The stream's duration in `time_base` ticks, when known.
    pub duration_ts: Option<i64>,
}

/// A media file as ffprobe sees it: its container and its streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// ffprobe's `format_name`, e.g. `mpegts` or `mov,mp4,m4a,3gp,3g2,mj2`.
    pub format_name: String,
    /// The container's `major_brand` tag, when it has one (MP4 family).
    pub major_brand: Option<String>,
    /// The container's duration, as ffprobe states it (microsecond precision).
    pub duration: Option<Timestamp>,
    /// The container's start time.
    pub start_time: Option<Timestamp>,
    /// The container's overall bit rate, bits per second.
    pub bit_rate: Option<u64>,
    pub streams: Vec<StreamInfo>,
}

impl MediaInfo {
    /// The container as a TAMS flow `container` MIME type, e.g. `video/mp2t` for
    /// MPEG-TS; `None` for a container without a known MIME type.
    pub fn container_mime(&self) -> Option<&'static str> {
        let first = self.format_name.split(',').next().unwrap_or_default();
        Some(match first {
            "mpegts" => "video/mp2t",
            "mov" => match self.major_brand.as_deref().map(str::trim) {
                Some("qt") => "video/quicktime",
                _ => "video/mp4",
            },
            "mxf" => "application/mxf",
            "wav" => "audio/wav",
            "matroska" => "video/x-matroska",
            "webm" => "video/webm",
            "mpeg" => "video/mp2p",
            "avi" => "video/x-msvideo",
            "flv" => "video/x-flv",
            "ogg" => "application/ogg",
            "aac" => "audio/aac",
            "mp3" => "audio/mpeg",
            "flac" => "audio/flac",
            "image2" | "jpeg_pipe" => "image/jpeg",
            "png_pipe" => "image/png",
            _ => return None,
        })
    }

    /// The stream with ffprobe index `index`.
    pub fn stream(&self, index: u32) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.index == index)
    }
}

impl StreamInfo {
    /// The codec as a TAMS flow `codec` MIME type, e.g. `video/h264`, `audio/aac`;
    /// `None` for a codec without a known MIME type.
    pub fn codec_mime(&self) -> Option<&'static str> {
        let name = self.codec_name.as_deref()?;
        if name.starts_with("pcm_") {
            return Some(if name.starts_with("pcm_f") {
                "audio/x-raw-float"
            } else {
                "audio/x-raw-int"
            });
        }
        Some(match name {
            "h264" => "video/h264",
            "hevc" => "video/h265",
            "mpeg2video" => "video/mpeg2",
            "mpeg1video" => "video/mpeg",
            "av1" => "video/av1",
            "vp8" => "video/vp8",
            "vp9" => "video/vp9",
            "prores" => "video/prores",
            "jpeg2000" => "video/jp2",
            "mjpeg" => "image/jpeg",
            "dnxhd" => "video/dnxhd",
            "rawvideo" => "video/raw",
            "aac" => "audio/aac",
            "mp3" => "audio/mpeg",
            "mp2" => "audio/mp2",
            "ac3" => "audio/ac3",
            "eac3" => "audio/eac3",
            "opus" => "audio/opus",
            "flac" => "audio/flac",
            "vorbis" => "audio/vorbis",
            "dvb_subtitle" => "application/x-dvb-subtitle",
            "webvtt" => "text/vtt",
            "ttml" => "application/ttml+xml",
            _ => return None,
        })
    }
}

impl Tools {
    /// Runs `ffprobe -v error -print_format json -show_format -show_streams path`.
    ///
    /// A file ffprobe cannot read is [`MediaError::Failed`] with ffprobe's stderr.
    pub async fn probe(&self, path: &Path) -> Result<MediaInfo, MediaError> {
        self.probe_args(&[], path.as_os_str()).await
    }

    /// Probes a live input (a URL or a device) with ffprobe options before it (`-f v4l2`),
    /// reading as much of it as ffprobe needs.
    pub async fn probe_input(
        &self,
        input: &str,
        input_args: &[String],
    ) -> Result<MediaInfo, MediaError> {
        let extra: Vec<&OsStr> = input_args.iter().map(OsStr::new).collect();
        self.probe_args(&extra, OsStr::new(input)).await
    }

    async fn probe_args(&self, extra: &[&OsStr], input: &OsStr) -> Result<MediaInfo, MediaError> {
        let mut args: Vec<&OsStr> = [
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ]
        .iter()
        .map(OsStr::new)
        .collect();
        args.extend_from_slice(extra);
        args.push(input);
        let mut json = String::new();
        run_lines(&self.ffprobe, &args, self.probe_timeout, |line| {
            json.push_str(line);
            json.push('\n');
            Ok(())
        })
        .await?;
        let value: Value = serde_json::from_str(&json)
            .map_err(|e| self.output_error(&self.ffprobe, format!("not JSON: {e}")))?;
        parse_media_info(&value).map_err(|m| self.output_error(&self.ffprobe, m))
    }
}

fn parse_media_info(v: &Value) -> Result<MediaInfo, String> {
    let format = v.get("format").ok_or("no \"format\" section")?;
    let format_name = str_field(format, "format_name")
        .ok_or("no format_name")?
        .to_owned();
    let major_brand = format
        .get("tags")
        .and_then(|t| str_field(t, "major_brand"))
        .map(str::to_owned);
    let streams = match v.get("streams").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .map(parse_stream)
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(MediaInfo {
        format_name,
        major_brand,
        duration: opt_seconds(format, "duration")?,
        start_time: opt_seconds(format, "start_time")?,
        bit_rate: num_field(format, "bit_rate"),
        streams,
    })
}

fn parse_stream(s: &Value) -> Result<StreamInfo, String> {
    let index = num_field(s, "index").ok_or("a stream without an index")?;
    let time_base = str_field(s, "time_base")
        .and_then(parse_rate)
        .ok_or_else(|| format!("stream {index}: no valid time_base"))?;
    Ok(StreamInfo {
        index,
        kind: StreamKind::parse(str_field(s, "codec_type").unwrap_or_default()),
        codec_name: str_field(s, "codec_name").map(str::to_owned),
        profile: str_field(s, "profile").map(str::to_owned),
        time_base,
        r_frame_rate: str_field(s, "r_frame_rate").and_then(parse_rate),
        avg_frame_rate: str_field(s, "avg_frame_rate").and_then(parse_rate),
        width: num_field(s, "width"),
        height: num_field(s, "height"),
        pix_fmt: str_field(s, "pix_fmt").map(str::to_owned),
        sample_rate: num_field(s, "sample_rate"),
        channels: num_field(s, "channels"),
        channel_layout: str_field(s, "channel_layout").map(str::to_owned),
        bit_rate: num_field(s, "bit_rate"),
        start_pts: num_field(s, "start_pts"),
        start_time: opt_seconds(s, "start_time")?,
        duration_ts: num_field(s, "duration_ts"),
    })
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An integer field, whether ffprobe printed it as a JSON number or as a string
/// (it prints `sample_rate` and `bit_rate` as strings, and `N/A` when unknown).
fn num_field<T: TryFrom<i64> + std::str::FromStr>(v: &Value, key: &str) -> Option<T> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64().and_then(|n| T::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `25/1`, `30000/1001`, `1/90000`; `None` for `0/0` and anything not a positive rate.
fn parse_rate(s: &str) -> Option<Rational> {
    let (n, d) = s.split_once('/')?;
    Rational::new(n.parse().ok()?, d.parse().ok()?).ok()
}

fn opt_seconds(v: &Value, key: &str) -> Result<Option<Timestamp>, String> {
    match str_field(v, key) {
        None | Some("N/A") => Ok(None),
        Some(s) => parse_decimal_seconds(s)
            .map(Some)
            .ok_or_else(|| format!("{key}: not a decimal number of seconds: {s:?}")),
    }
}

/// `1.458667`, `-0.5`, `10` as an exact [`Timestamp`] (digits past the ninth decimal
/// place are dropped), without going through floating point.
pub(crate) fn parse_decimal_seconds(s: &str) -> Option<Timestamp> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let mut nanos: u32 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Timestamp::from_parts(negative, secs, nanos).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decimal_seconds_are_exact() {
        assert_eq!(
            parse_decimal_seconds("1.458667").map(Timestamp::as_nanos),
            Some(1_458_667_000)
        );
        assert_eq!(
            parse_decimal_seconds("-0.5").map(Timestamp::as_nanos),
            Some(-500_000_000)
        );
        assert_eq!(
            parse_decimal_seconds("10").map(Timestamp::as_nanos),
            Some(10_000_000_000)
        );
        assert_eq!(parse_decimal_seconds("1.5e3"), None);
        assert_eq!(parse_decimal_seconds(""), None);
    }

    #[test]
    fn rates_parse_and_zero_is_none() {
        assert_eq!(parse_rate("30000/1001"), Rational::new(30000, 1001).ok());
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(parse_rate("25"), None);
    }
}
