//! A running ffmpeg segment muxer: one input, one or more outputs, each cut into MPEG-TS
//! segment files, reported as ffmpeg completes them (by following each output's segment
//! list as ffmpeg appends to it).
//!
//! Every output gets the same `-output_ts_offset`, so that ffmpeg never shifts one output
//! alone to avoid negative timestamps: all outputs share one object timeline, which is
//! the input's timeline minus the input's start time plus [`OBJECT_TIMELINE_START`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rushes_time::Timestamp;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

use crate::probe::parse_decimal_seconds;
use crate::run::spawn_piped;
use crate::{MediaError, Tools};

/// MPEG-TS timestamps tick at 90 kHz.
pub const TS_HZ: i64 = 90_000;
/// MPEG-TS timestamps are 33 bits: they wrap every 2^33 ticks (about 26.5 hours).
pub const TS_WRAP: i64 = 1 << 33;
/// Where the object timeline of a segmenter run starts: the input's first timestamp
/// becomes this (one second), which leaves room for the decode timestamps before it
/// (B-frames, audio priming) without ffmpeg shifting any output.
pub const OBJECT_TIMELINE_START: Duration = Duration::from_secs(1);

/// One output of a [`SegmenterSpec`]: some input streams, how they are coded, and the
/// file name prefix of its segments.
#[derive(Debug, Clone)]
pub struct SegmentOutput {
    /// `-map` arguments, e.g. `0:1`.
    pub maps: Vec<String>,
    /// Codec arguments, e.g. `["-c", "copy"]` or an H.264 encode.
    pub codec_args: Vec<String>,
    /// Segment files are `<prefix>NNNNNN.ts` and the list `<prefix>.csv`.
    pub prefix: String,
}

/// The container of the segment files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SegmentFormat {
    /// MPEG-TS: every segment decodes on its own.
    #[default]
    Ts,
    /// Fragmented MP4 (CMAF-style): each file is an init part (`ftyp` + `moov`, the same
    /// in every file) and a media part (`moof` + `mdat`), which [`split_fmp4`] separates.
    /// Each file's own timeline starts at its first decode time 0.
    Fmp4,
}

/// What [`Tools::run_segmenter`] runs.
#[derive(Debug, Clone)]
pub struct SegmenterSpec {
    /// Options before `-i`, e.g. `-re` or a protocol timeout.
    pub input_args: Vec<String>,
    /// A path or URL ffmpeg reads.
    pub input: OsString,
    pub outputs: Vec<SegmentOutput>,
    /// Cut at the first key frame at or after each multiple of this on the object
    /// timeline.
    pub segment_time: Duration,
    /// Where the segment files and lists go (created if needed).
    pub dir: PathBuf,
    /// Kill ffmpeg when its output time has not advanced for this long (a stalled live
    /// input); `None` never.
    pub stall_timeout: Option<Duration>,
    /// Kill ffmpeg after this long in all; `None` never (live inputs).
    pub timeout: Option<Duration>,
    pub format: SegmentFormat,
}

/// A segment file ffmpeg has finished writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedSegment {
    /// The output's index in [`SegmenterSpec::outputs`].
    pub output: usize,
    /// The segment's number in its output, from 0.
    pub sequence: u32,
    pub path: PathBuf,
    /// The first presented sample, in 90 kHz ticks on the run's object timeline,
    /// unwrapped (it keeps counting past 2^33; the file itself holds it modulo 2^33).
    pub start: i64,
    /// The end of the last sample (its timestamp plus its duration), in the same ticks.
    pub end: i64,
    /// The file's size in bytes.
    pub size: u64,
}

/// What a running segmenter reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmenterEvent {
    Segment(CompletedSegment),
    /// ffmpeg's output time so far (from `-progress`).
    Progress(Duration),
}

/// Converts decimal seconds from a segment list (microsecond precision) to 90 kHz ticks.
/// A tick is 11.1 µs, so the nearest tick is the one ffmpeg printed.
fn seconds_to_ticks(s: &str) -> Option<i64> {
    let t = parse_decimal_seconds(s)?;
    Some(nanos_to_ticks(t.as_nanos()))
}

/// Nanoseconds to the nearest 90 kHz tick (halves away from zero).
pub fn nanos_to_ticks(nanos: i64) -> i64 {
    let num = i128::from(nanos) * i128::from(TS_HZ);
    let den = 1_000_000_000i128;
    let q = if num >= 0 {
        (num + den / 2) / den
    } else {
        (num - den / 2) / den
    };
    i64::try_from(q).unwrap_or(if q > 0 { i64::MAX } else { i64::MIN })
}

/// 90 kHz ticks as a timestamp, rounded to the nearest nanosecond.
pub fn ticks_to_nanos(ticks: i64) -> Timestamp {
    let num = i128::from(ticks) * 1_000_000_000i128;
    let den = i128::from(TS_HZ);
    let q = if num >= 0 {
        (num + den / 2) / den
    } else {
        (num - den / 2) / den
    };
    Timestamp::from_nanos(i64::try_from(q).unwrap_or(if q > 0 { i64::MAX } else { i64::MIN }))
}

/// The value `wrapped + k·2^33` closest to `near`: undoes the 33-bit wrap of an MPEG-TS
/// timestamp read from a file, given an unwrapped time close to it.
pub fn unwrap_ts(wrapped: i64, near: i64) -> i64 {
    let base = wrapped.rem_euclid(TS_WRAP);
    let k = (near - base).div_euclid(TS_WRAP);
    let lo = base + k * TS_WRAP;
    let hi = lo + TS_WRAP;
    if (near - lo).abs() <= (hi - near).abs() {
        lo
    } else {
        hi
    }
}

/// One output's segment list, read as ffmpeg appends to it.
struct ListTail {
    path: PathBuf,
    offset: u64,
    partial: String,
    sequence: u32,
}

impl ListTail {
    /// The complete lines appended since the last call.
    async fn read_new(&mut self) -> Result<Vec<String>, MediaError> {
        let mut file = match tokio::fs::File::open(&self.path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(MediaError::Io(e)),
        };
        use tokio::io::AsyncSeekExt;
        file.seek(std::io::SeekFrom::Start(self.offset))
            .await
            .map_err(MediaError::Io)?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).await.map_err(MediaError::Io)?;
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut lines = Vec::new();
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            let line = line.trim();
            if !line.is_empty() {
                lines.push(line.to_owned());
            }
        }
        Ok(lines)
    }
}

impl Tools {
    /// Runs ffmpeg as `spec` says until the input ends (or the timeouts), sending each
    /// segment to `events` as soon as it is complete, in order per output. A closed
    /// `events` receiver stops ffmpeg.
    ///
    /// Segment times come from ffmpeg's segment list, except the first segment's start,
    /// which is read from the file (the list gives 0 for it).
    pub async fn run_segmenter(
        &self,
        spec: &SegmenterSpec,
        events: mpsc::Sender<SegmenterEvent>,
    ) -> Result<(), MediaError> {
        if spec.outputs.is_empty() {
            return Err(MediaError::Invalid("no streams to segment".into()));
        }
        if spec.segment_time.is_zero() {
            return Err(MediaError::Invalid(
                "the segment duration must be above zero".into(),
            ));
        }
        tokio::fs::create_dir_all(&spec.dir)
            .await
            .map_err(MediaError::Io)?;
        let segment_time = format!(
            "{}.{:06}",
            spec.segment_time.as_secs(),
            spec.segment_time.subsec_micros()
        );
        let offset = format!("{}", OBJECT_TIMELINE_START.as_secs());
        let mut args: Vec<OsString> = [
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            "-nostats",
            "-progress",
            "pipe:1",
            "-y",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.extend(spec.input_args.iter().map(OsString::from));
        args.push("-i".into());
        args.push(spec.input.clone());
        let mut tails = Vec::new();
        for out in &spec.outputs {
            for m in &out.maps {
                args.push("-map".into());
                args.push(m.into());
            }
            args.extend(out.codec_args.iter().map(OsString::from));
            let (format, extension) = match spec.format {
                SegmentFormat::Ts => ("mpegts", "ts"),
                SegmentFormat::Fmp4 => {
                    args.push("-segment_format_options".into());
                    args.push("movflags=+frag_keyframe+empty_moov+default_base_moof".into());
                    ("mp4", "mp4")
                }
            };
            for a in [
                // The MPEG-TS muxer otherwise adds 1.4 s to every timestamp.
                "-muxdelay",
                "0",
                "-muxpreload",
                "0",
                "-output_ts_offset",
                &offset,
                "-f",
                "segment",
                "-segment_format",
                format,
                "-segment_time",
                &segment_time,
                "-reset_timestamps",
                "0",
                "-segment_list_type",
                "csv",
                "-segment_list",
            ] {
                args.push(a.into());
            }
            let list = spec.dir.join(format!("{}.csv", out.prefix));
            // A list left by an earlier run would be read as new segments.
            let _ = tokio::fs::remove_file(&list).await;
            args.push(list.clone().into_os_string());
            args.push(
                spec.dir
                    .join(format!("{}%06d.{extension}", out.prefix))
                    .into_os_string(),
            );
            tails.push(ListTail {
                path: list,
                offset: 0,
                partial: String::new(),
                sequence: 0,
            });
        }

        let tool = self.ffmpeg.display().to_string();
        let (mut child, stdout, stderr_task) = spawn_piped(&self.ffmpeg, &args)?;

        let started = Instant::now();
        let mut last_advance = Instant::now();
        let mut out_time: Option<i64> = None;
        let mut lines = BufReader::new(stdout).lines();
        let mut stdout_open = true;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome: Result<std::process::ExitStatus, MediaError> = loop {
            tokio::select! {
                line = lines.next_line(), if stdout_open => {
                    match line {
                        Ok(Some(line)) => {
                            if let Some(v) = line.strip_prefix("out_time_us=") {
                                if let Ok(us) = v.trim().parse::<i64>() {
                                    if out_time.is_none_or(|t| us > t) {
                                        out_time = Some(us);
                                        last_advance = Instant::now();
                                        let d = Duration::from_micros(us.max(0).unsigned_abs());
                                        let _ = events.try_send(SegmenterEvent::Progress(d));
                                    }
                                }
                            }
                        }
                        Ok(None) | Err(_) => stdout_open = false,
                    }
                }
                status = child.wait(), if !stdout_open => {
                    break status.map_err(MediaError::Io);
                }
                _ = tick.tick() => {
                    if let Err(e) = self.report_segments(spec, &mut tails, &events).await {
                        break Err(e);
                    }
                    if events.is_closed() {
                        break Err(MediaError::Invalid("stopped".into()));
                    }
                    if let Some(limit) = spec.stall_timeout {
                        if last_advance.elapsed() > limit {
                            break Err(MediaError::Stalled { after: limit });
                        }
                    }
                    if let Some(limit) = spec.timeout {
                        if started.elapsed() > limit {
                            break Err(MediaError::Timeout { tool: tool.clone(), after: limit });
                        }
                    }
                }
            }
        };
        match outcome {
            Ok(status) => {
                let stderr = stderr_task.await.unwrap_or_default();
                // The segments ffmpeg completed last, even when it failed: they are whole.
                self.report_segments(spec, &mut tails, &events).await?;
                if status.success() {
                    Ok(())
                } else {
                    Err(MediaError::Failed {
                        tool,
                        code: status.code(),
                        stderr: stderr.trim_end().to_owned(),
                    })
                }
            }
            Err(e) => {
                let _ = child.kill().await;
                stderr_task.abort();
                // Segments completed before the stop are still reported.
                if !events.is_closed() {
                    let _ = self.report_segments(spec, &mut tails, &events).await;
                }
                Err(e)
            }
        }
    }

    async fn report_segments(
        &self,
        spec: &SegmenterSpec,
        tails: &mut [ListTail],
        events: &mpsc::Sender<SegmenterEvent>,
    ) -> Result<(), MediaError> {
        for (output, tail) in tails.iter_mut().enumerate() {
            for line in tail.read_new().await? {
                let seg = self.parse_list_line(&spec.dir, output, tail.sequence, &line)?;
                // A fragmented MP4 file's own timeline starts at 0: its caller places it.
                let seg = if seg.sequence == 0 && spec.format == SegmentFormat::Ts {
                    self.with_probed_start(seg).await?
                } else {
                    seg
                };
                tail.sequence += 1;
                if events.send(SegmenterEvent::Segment(seg)).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn parse_list_line(
        &self,
        dir: &Path,
        output: usize,
        sequence: u32,
        line: &str,
    ) -> Result<CompletedSegment, MediaError> {
        let bad = || self.output_error(&self.ffmpeg, format!("segment list line {line:?}"));
        let mut parts = line.split(',');
        let name = parts.next().ok_or_else(bad)?;
        let start = parts.next().and_then(seconds_to_ticks).ok_or_else(bad)?;
        let end = parts.next().and_then(seconds_to_ticks).ok_or_else(bad)?;
        if name.is_empty() || name.contains('/') {
            return Err(bad());
        }
        let path = dir.join(name);
        let size = std::fs::metadata(&path).map_err(MediaError::Io)?.len();
        Ok(CompletedSegment {
            output,
            sequence,
            path,
            start,
            end,
            size,
        })
    }

    /// The first segment's start, from the lowest pts in the file.
    async fn with_probed_start(
        &self,
        mut seg: CompletedSegment,
    ) -> Result<CompletedSegment, MediaError> {
        let first = self
            .first_pts_ticks(&seg.path, None, None)
            .await?
            .map(|pts| unwrap_ts(pts, seg.end));
        if let Some(first) = first {
            seg.start = first;
        }
        if seg.start >= seg.end {
            return Err(self.output_error(
                &self.ffmpeg,
                format!("{}: a segment without samples", seg.path.display()),
            ));
        }
        Ok(seg)
    }
}

impl Tools {
    /// The lowest presentation time in `path` (of stream `stream` if given) as 90 kHz
    /// ticks (the file's own timeline), reading at most `packets` packets if given.
    pub async fn first_pts_ticks(
        &self,
        path: &Path,
        packets: Option<u32>,
        stream: Option<u32>,
    ) -> Result<Option<i64>, MediaError> {
        let mut args: Vec<OsString> = vec!["-v".into(), "error".into()];
        if let Some(s) = stream {
            args.push("-select_streams".into());
            args.push(s.to_string().into());
        }
        if let Some(n) = packets {
            args.push("-read_intervals".into());
            args.push(format!("%+#{n}").into());
        }
        for a in ["-show_entries", "packet=pts_time", "-of", "csv=p=0"] {
            args.push(a.into());
        }
        args.push(path.as_os_str().to_owned());
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(OsString::as_os_str).collect();
        let mut lowest: Option<i64> = None;
        crate::run::run_lines(&self.ffprobe, &refs, self.probe_timeout, |line| {
            let v = line.trim().trim_end_matches(',');
            if let Some(t) = seconds_to_ticks(v) {
                lowest = Some(lowest.map_or(t, |l| l.min(t)));
            }
            Ok(())
        })
        .await?;
        Ok(lowest)
    }
}

/// A fragmented MP4 file's init part (`ftyp`, `moov`) and media part (the other
/// top-level boxes: `styp`, `sidx`, `moof`, `mdat`; `mfra` is dropped, as it indexes the
/// whole file). `None` when the bytes are not a sequence of MP4 boxes with a `moov`.
pub fn split_fmp4(bytes: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut init = Vec::new();
    let mut media = Vec::new();
    let mut i = 0usize;
    let mut saw_moov = false;
    while i < bytes.len() {
        let header = bytes.get(i..i + 8)?;
        let mut size = u64::from(u32::from_be_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let kind = &header[4..8];
        if size == 1 {
            let large = bytes.get(i + 8..i + 16)?;
            size = u64::from_be_bytes(large.try_into().ok()?);
        } else if size == 0 {
            size = (bytes.len() - i) as u64;
        }
        let size = usize::try_from(size).ok()?;
        if size < 8 {
            return None;
        }
        let end = i.checked_add(size)?;
        let body = bytes.get(i..end)?;
        match kind {
            b"ftyp" => init.extend_from_slice(body),
            b"moov" => {
                saw_moov = true;
                init.extend_from_slice(body);
            }
            b"mfra" => {}
            _ => media.extend_from_slice(body),
        }
        i = end;
    }
    saw_moov.then_some((init, media))
}

/// The timescale of the (first) track in an MP4 init part: `moov/trak/mdia/mdhd`.
pub fn mp4_timescale(init: &[u8]) -> Option<u32> {
    let moov = child_box(init, b"moov")?;
    let trak = child_box(moov, b"trak")?;
    let mdia = child_box(trak, b"mdia")?;
    let mdhd = child_box(mdia, b"mdhd")?;
    let version = *mdhd.first()?;
    let at = if version == 1 { 4 + 8 + 8 } else { 4 + 4 + 4 };
    let b = mdhd.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The body of the first box of type `kind` directly inside `parent` (a sequence of
/// boxes).
fn child_box<'a>(parent: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    let mut i = 0usize;
    while i + 8 <= parent.len() {
        let size = u32::from_be_bytes(parent.get(i..i + 4)?.try_into().ok()?) as usize;
        if size < 8 {
            return None;
        }
        let end = i.checked_add(size)?;
        if &parent[i + 4..i + 8] == kind {
            return parent.get(i + 8..end);
        }
        i = end;
    }
    None
}

/// Adds `delta` (in the track's timescale) to the decode time (`tfdt`) of every fragment
/// in a media part, so that fragments cut into separate files continue one timeline.
/// `None` when a fragment has no `tfdt` or the time would not fit.
pub fn shift_tfdt(media: &mut [u8], delta: i64) -> Option<()> {
    let mut i = 0usize;
    while i + 8 <= media.len() {
        let size = u32::from_be_bytes(media.get(i..i + 4)?.try_into().ok()?) as usize;
        if size < 8 {
            return None;
        }
        let end = i.checked_add(size)?;
        if &media[i + 4..i + 8] == b"moof" {
            let moof = media.get_mut(i + 8..end)?;
            let mut j = 0usize;
            while j + 8 <= moof.len() {
                let tsize = u32::from_be_bytes(moof.get(j..j + 4)?.try_into().ok()?) as usize;
                if tsize < 8 {
                    return None;
                }
                let tend = j.checked_add(tsize)?;
                if &moof[j + 4..j + 8] == b"traf" {
                    let traf = moof.get_mut(j + 8..tend)?;
                    let mut k = 0usize;
                    let mut found = false;
                    while k + 8 <= traf.len() {
                        let bsize =
                            u32::from_be_bytes(traf.get(k..k + 4)?.try_into().ok()?) as usize;
                        if bsize < 8 {
                            return None;
                        }
                        if &traf[k + 4..k + 8] == b"tfdt" {
                            let version = *traf.get(k + 8)?;
                            if version == 1 {
                                let f = traf.get_mut(k + 12..k + 20)?;
                                let t =
                                    i64::from_be_bytes(f.try_into().ok()?).checked_add(delta)?;
                                if t < 0 {
                                    return None;
                                }
                                f.copy_from_slice(&t.to_be_bytes());
                            } else {
                                let f = traf.get_mut(k + 12..k + 16)?;
                                let t = i64::from(u32::from_be_bytes(f.try_into().ok()?))
                                    .checked_add(delta)?;
                                f.copy_from_slice(&u32::try_from(t).ok()?.to_be_bytes());
                            }
                            found = true;
                        }
                        k = k.checked_add(bsize)?;
                    }
                    if !found {
                        return None;
                    }
                }
                j = tend;
            }
        }
        i = end;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_times_are_exact_ticks() {
        assert_eq!(seconds_to_ticks("2.080000"), Some(187_200));
        assert_eq!(seconds_to_ticks("2.002667"), Some(180_240));
        assert_eq!(seconds_to_ticks("-0.021333"), Some(-1_920));
        // 30000/1001 fps: frame 1 at 3003 ticks = 0.033366666 s, printed 0.033367.
        assert_eq!(seconds_to_ticks("0.033367"), Some(3_003));
    }

    #[test]
    fn ticks_and_nanos_round_trip() {
        for t in [0, 1, 3003, 3600, 90_000, TS_WRAP + 7, -1920] {
            assert_eq!(nanos_to_ticks(ticks_to_nanos(t).as_nanos()), t);
        }
        assert_eq!(ticks_to_nanos(3003).as_nanos(), 33_366_667);
    }

    #[test]
    fn fmp4_splits_into_init_and_media() {
        let bx = |kind: &[u8; 4], len: usize| {
            let mut b = u32::try_from(len + 8).unwrap_or(0).to_be_bytes().to_vec();
            b.extend_from_slice(kind);
            b.extend(std::iter::repeat_n(7u8, len));
            b
        };
        let file = [
            bx(b"ftyp", 4),
            bx(b"moov", 10),
            bx(b"moof", 3),
            bx(b"mdat", 5),
            bx(b"mfra", 2),
        ]
        .concat();
        let (init, media) = split_fmp4(&file).unwrap_or_default();
        assert_eq!(init, [bx(b"ftyp", 4), bx(b"moov", 10)].concat());
        assert_eq!(media, [bx(b"moof", 3), bx(b"mdat", 5)].concat());
        assert_eq!(split_fmp4(&file[..20]), None);
        assert_eq!(split_fmp4(&bx(b"mdat", 5)), None);
    }

    #[test]
    fn unwrap_picks_the_nearest_turn() {
        assert_eq!(unwrap_ts(100, 50), 100);
        assert_eq!(unwrap_ts(100, TS_WRAP + 50), TS_WRAP + 100);
        assert_eq!(unwrap_ts(TS_WRAP - 10, TS_WRAP + 5), TS_WRAP - 10);
        assert_eq!(unwrap_ts(5, TS_WRAP - 10), TS_WRAP + 5);
    }
}
