//! [`Timestamp`]: a signed count of nanoseconds, written `{sign?}{seconds}:{nanoseconds}`.

use std::fmt;
use std::str::FromStr;

use crate::TimeError;

/// A TAMS timestamp: signed integer nanoseconds since the timeline's origin.
///
/// Range: [`Timestamp::MIN`] to [`Timestamp::MAX`] (about ±292 years around the origin);
/// anything outside is [`TimeError::OutOfRange`], never a wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    nanos: i64,
}

impl Timestamp {
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;
    pub const ZERO: Timestamp = Timestamp { nanos: 0 };
    pub const MIN: Timestamp = Timestamp { nanos: i64::MIN };
    pub const MAX: Timestamp = Timestamp { nanos: i64::MAX };

    pub const fn from_nanos(nanos: i64) -> Timestamp {
        Timestamp { nanos }
    }

    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Seconds and nanoseconds parts; `-1:500000000` is -1.5 s.
    pub fn from_parts(negative: bool, secs: u64, subsec_nanos: u32) -> Result<Timestamp, TimeError> {
        if subsec_nanos >= 1_000_000_000 {
            return Err(TimeError::Syntax("nanoseconds must be below 1000000000".into()));
        }
        let total = i128::from(secs) * 1_000_000_000 + i128::from(subsec_nanos);
        let total = if negative { -total } else { total };
        i64::try_from(total).map(Timestamp::from_nanos).map_err(|_| TimeError::OutOfRange)
    }

    pub fn checked_add(self, other: Timestamp) -> Option<Timestamp> {
        self.nanos.checked_add(other.nanos).map(Timestamp::from_nanos)
    }

    pub fn checked_sub(self, other: Timestamp) -> Option<Timestamp> {
        self.nanos.checked_sub(other.nanos).map(Timestamp::from_nanos)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = i128::from(self.nanos);
        let sign = if n < 0 { "-" } else { "" };
        let a = n.abs();
        write!(f, "{sign}{}:{}", a / 1_000_000_000, a % 1_000_000_000)
    }
}

impl FromStr for Timestamp {
    type Err = TimeError;

    /// Parses exactly the spec pattern `^-?(0|[1-9][0-9]*):(0|[1-9][0-9]{0,8})$`.
    fn from_str(s: &str) -> Result<Timestamp, TimeError> {
        let bad = || TimeError::Syntax(format!("invalid timestamp {s:?}: expected {{sign?}}{{seconds}}:{{nanoseconds}}, e.g. \"10:500000000\""));
        let (negative, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (secs, nanos) = rest.split_once(':').ok_or_else(bad)?;
        let digits = |d: &str, max_len: usize| {
            !d.is_empty()
                && d.len() <= max_len
                && d.bytes().all(|b| b.is_ascii_digit())
                && (d == "0" || !d.starts_with('0'))
        };
        if !digits(secs, usize::MAX) || !digits(nanos, 9) {
            return Err(bad());
        }
        let secs: u64 = secs.parse().map_err(|_| TimeError::OutOfRange)?;
        let nanos: u32 = nanos.parse().map_err(|_| bad())?;
        Timestamp::from_parts(negative, secs, nanos)
    }
}
