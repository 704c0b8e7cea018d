//! `ffprobe -show_packets` of one stream, parsed line by line, and pts to TAMS time.

use std::ffi::OsStr;
use std::path::Path;

use rushes_time::{Rational, Rounding, TimeError, Timestamp};

use crate::run::run_lines;
use crate::{MediaError, Tools};

/// One packet of a stream, in decode order; times in the stream's time base ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Presentation timestamp; `None` when the container does not carry one.
    pub pts: Option<i64>,
    /// Decode timestamp; `None` when the container does not carry one.
    pub dts: Option<i64>,
    /// Duration; `None` when unknown.
    pub duration: Option<i64>,
    /// A key frame: decoding can start here.
    pub key: bool,
    /// Bytes of payload.
    pub size: u64,
}

impl Packet {
    /// `pts + duration`, the end of this packet's presentation interval.
    pub fn end(&self) -> Option<i64> {
        self.pts?.checked_add(self.duration?)
    }
}

/// A time in ticks of `time_base` (seconds per tick, e.g. 1/90000) as a TAMS timestamp:
/// exactly `ticks × time_base` seconds, rounded to a whole nanosecond as asked.
///
/// Integer arithmetic only. For a 1/90000 time base, ticks that are whole multiples of
/// 9 are whole nanoseconds (every 25 fps frame at 3600 ticks is exact); a frame at
/// 30000/1001 fps is not a whole number of nanoseconds and needs the rounding.
pub fn ticks_to_timestamp(
    ticks: i64,
    time_base: Rational,
    rounding: Rounding,
) -> Result<Timestamp, TimeError> {
    // time_base seconds per tick is a rate of 1/time_base ticks per second.
    let rate = Rational::new(time_base.denominator(), time_base.numerator())?;
    Timestamp::from_count_rounded(ticks, rate, rounding)
}

impl Tools {
    /// Every packet of stream `stream` (ffprobe's index in the file), in file order,
    /// from `ffprobe -show_packets`. The output is parsed a line at a time as ffprobe
    /// prints it, so only the packets themselves are held in memory.
    pub async fn packets(&self, path: &Path, stream: u32) -> Result<Vec<Packet>, MediaError> {
        let out = self.packet_list(path, Some(stream)).await?;
        Ok(out.into_iter().map(|(_, p)| p).collect())
    }

    /// The packets of one stream, or of every stream with their stream index.
    pub(crate) async fn packet_list(
        &self,
        path: &Path,
        stream: Option<u32>,
    ) -> Result<Vec<(u32, Packet)>, MediaError> {
        let mut args: Vec<&OsStr> = vec!["-v".as_ref(), "error".as_ref()];
        let select = stream.map(|s| s.to_string());
        if let Some(select) = &select {
            args.push(OsStr::new("-select_streams"));
            args.push(OsStr::new(select.as_str()));
        }
        args.extend(
            [
                "-show_entries",
                "packet=stream_index,pts,dts,duration,size,flags",
                "-of",
                "compact=p=0:nk=0",
            ]
            .map(OsStr::new),
        );
        args.push(path.as_os_str());
        let mut out = Vec::new();
        run_lines(&self.ffprobe, &args, self.probe_timeout, |line| {
            if let Some(p) = parse_packet_line(line)
                .map_err(|m| self.output_error(&self.ffprobe, format!("{m} in {line:?}")))?
            {
                out.push(p);
            }
            Ok(())
        })
        .await?;
        Ok(out)
    }
}

/// `stream_index=0|pts=133200|dts=126000|duration=3600|size=5214|flags=K_|` as the
/// stream index and the packet; `None` for a blank line.
fn parse_packet_line(line: &str) -> Result<Option<(u32, Packet)>, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let mut packet = Packet {
        pts: None,
        dts: None,
        duration: None,
        key: false,
        size: 0,
    };
    let mut saw_size = false;
    let mut stream_index = None;
    for field in line.split('|').filter(|f| !f.is_empty()) {
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!("field without '=': {field:?}"));
        };
        let ticks = |v: &str| -> Result<Option<i64>, String> {
            if v == "N/A" {
                Ok(None)
            } else {
                v.parse()
                    .map(Some)
                    .map_err(|_| format!("{key}: not an integer: {v:?}"))
            }
        };
        match key {
            "pts" => packet.pts = ticks(value)?,
            "dts" => packet.dts = ticks(value)?,
            "duration" => packet.duration = ticks(value)?,
            "size" => {
                packet.size = value
                    .parse()
                    .map_err(|_| format!("size: not an integer: {value:?}"))?;
                saw_size = true;
            }
            "stream_index" => {
                stream_index = Some(
                    value
                        .parse()
                        .map_err(|_| format!("stream_index: not an integer: {value:?}"))?,
                );
            }
            "flags" => packet.key = value.starts_with('K'),
            _ => {}
        }
    }
    match (stream_index, saw_size) {
        (Some(index), true) => Ok(Some((index, packet))),
        _ => Err("a packet without a stream index or size".into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_compact_line() {
        let (i, p) = parse_packet_line(
            "stream_index=1|pts=133200|dts=126000|duration=3600|size=5214|flags=K_|",
        )
        .unwrap()
        .unwrap();
        assert_eq!(i, 1);
        assert_eq!(p.pts, Some(133_200));
        assert_eq!(p.dts, Some(126_000));
        assert_eq!(p.end(), Some(136_800));
        assert!(p.key);
        assert_eq!(p.size, 5214);
        let (_, p) =
            parse_packet_line("stream_index=0|pts=N/A|dts=N/A|duration=N/A|size=9|flags=__|")
                .unwrap()
                .unwrap();
        assert_eq!((p.pts, p.key), (None, false));
        assert_eq!(parse_packet_line("").unwrap(), None);
        assert!(parse_packet_line("stream_index=0|pts=x|size=1").is_err());
        assert!(parse_packet_line("pts=1|size=1").is_err());
    }

    #[test]
    fn ticks_convert_exactly() {
        let tb = Rational::new(1, 90_000).unwrap();
        let t = ticks_to_timestamp(133_200, tb, Rounding::Floor).unwrap();
        assert_eq!(t.as_nanos(), 1_480_000_000);
        // One 30000/1001 frame at 90 kHz: 3003 ticks = 33366666.67 ns.
        assert_eq!(
            ticks_to_timestamp(3003, tb, Rounding::Floor)
                .unwrap()
                .as_nanos(),
            33_366_666
        );
        assert_eq!(
            ticks_to_timestamp(3003, tb, Rounding::Ceil)
                .unwrap()
                .as_nanos(),
            33_366_667
        );
        assert_eq!(
            ticks_to_timestamp(-90_000, tb, Rounding::Floor)
                .unwrap()
                .as_nanos(),
            -1_000_000_000
        );
    }
}
