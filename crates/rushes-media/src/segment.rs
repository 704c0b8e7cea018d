//! Stream copy into MPEG-TS segments with ffmpeg's segment muxer, each segment's packets probed.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::run::run_lines;
use crate::{MediaError, Packet, Tools};

/// What one segment file holds of one of the mapped streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentStream {
    /// The stream's index in the input file (an entry of the `stream_map`).
    pub input_index: u32,
    /// The stream's index in the segment file (its position in the `stream_map`).
    pub output_index: u32,
    /// The segment's packets of this stream, in file (decode) order; times in the
    /// input stream's time base ticks, which MPEG-TS keeps (1/90000).
    pub packets: Vec<Packet>,
    /// The lowest pts of these packets: the segment's first presented frame.
    pub first_pts: Option<i64>,
    /// The highest `pts + duration`: where the next segment's first frame starts.
    pub end_pts: Option<i64>,
}

impl SegmentStream {
    /// True when the segment's first packet of this stream is a key frame, so the
    /// segment decodes on its own.
    pub fn starts_with_key(&self) -> bool {
        self.packets.first().is_some_and(|p| p.key)
    }
}

/// One MPEG-TS segment file that [`Tools::segment_ts`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// The segment's number, from 0, in timeline order.
    pub sequence: u32,
    pub path: PathBuf,
    /// One entry per mapped stream, in `stream_map` order.
    pub streams: Vec<SegmentStream>,
}

impl Tools {
    /// Copies the streams `stream_map` (ffprobe indexes in `input`) without re-encoding
    /// into MPEG-TS segments of about `target` each in `out_dir` (created if needed), cut
    /// at key frames of the first video stream, with the input's own timestamps kept
    /// unchanged (`-copyts`, `-reset_timestamps 0`, no mux delay): a packet has the same
    /// pts in its segment as in `input`. The segment muxer cuts at the first key frame at
    /// or after each multiple of `target` on the input's timeline.
    ///
    /// Each returned [`SegmentFile`] carries its packets per stream, probed from the
    /// written file, so a caller can give it an exact timerange.
    pub async fn segment_ts(
        &self,
        input: &Path,
        stream_map: &[u32],
        target: Duration,
        out_dir: &Path,
    ) -> Result<Vec<SegmentFile>, MediaError> {
        if stream_map.is_empty() {
            return Err(MediaError::Invalid("no streams to segment".into()));
        }
        if target.is_zero() {
            return Err(MediaError::Invalid(
                "the segment duration must be above zero".into(),
            ));
        }
        tokio::fs::create_dir_all(out_dir)
            .await
            .map_err(MediaError::Io)?;
        let list = out_dir.join("segments.csv");
        let pattern = out_dir.join("segment%06d.ts");
        let segment_time = format!("{}.{:09}", target.as_secs(), target.subsec_nanos());

        let mut args: Vec<OsString> = [
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            "-y",
            "-copyts",
            "-i",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.push(input.as_os_str().to_owned());
        for index in stream_map {
            args.push("-map".into());
            args.push(format!("0:{index}").into());
        }
        for a in [
            "-c",
            "copy",
            // The MPEG-TS muxer otherwise adds 1.4 s to every timestamp.
            "-muxdelay",
            "0",
            "-muxpreload",
            "0",
            "-f",
            "segment",
            "-segment_format",
            "mpegts",
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
        args.push(list.as_os_str().to_owned());
        args.push(pattern.as_os_str().to_owned());
        let arg_refs: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
        run_lines(&self.ffmpeg, &arg_refs, self.ffmpeg_timeout, |_| Ok(())).await?;

        let listing = tokio::fs::read_to_string(&list)
            .await
            .map_err(MediaError::Io)?;
        let mut files = Vec::new();
        for line in listing.lines().filter(|l| !l.trim().is_empty()) {
            let name = line.split(',').next().unwrap_or_default();
            if name.is_empty() || name.contains('/') {
                return Err(self.output_error(
                    &self.ffmpeg,
                    format!("segment list line not understood: {line:?}"),
                ));
            }
            files.push(out_dir.join(name));
        }

        let mut out = Vec::with_capacity(files.len());
        for (sequence, path) in files.into_iter().enumerate() {
            let mut streams: Vec<SegmentStream> = stream_map
                .iter()
                .enumerate()
                .map(|(i, &input_index)| SegmentStream {
                    input_index,
                    output_index: u32::try_from(i).unwrap_or(u32::MAX),
                    packets: Vec::new(),
                    first_pts: None,
                    end_pts: None,
                })
                .collect();
            for (index, packet) in self.packet_list(&path, None).await? {
                let Some(s) = streams.get_mut(index as usize) else {
                    return Err(self.output_error(
                        &self.ffprobe,
                        format!("{}: unexpected stream {index}", path.display()),
                    ));
                };
                if let Some(pts) = packet.pts {
                    s.first_pts = Some(s.first_pts.map_or(pts, |f| f.min(pts)));
                }
                if let Some(end) = packet.end() {
                    s.end_pts = Some(s.end_pts.map_or(end, |e| e.max(end)));
                }
                s.packets.push(packet);
            }
            out.push(SegmentFile {
                sequence: u32::try_from(sequence).unwrap_or(u32::MAX),
                path,
                streams,
            });
        }
        Ok(out)
    }
}
