//! [`TimeRange`]: `[start_end)` with inclusive/exclusive bounds, open ends, `_` and `()`.

use std::fmt;
use std::str::FromStr;

use crate::{TimeError, Timestamp};

/// One end of a [`TimeRange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bound {
    Unbounded,
    Inclusive(Timestamp),
    Exclusive(Timestamp),
}

/// A TAMS timerange. `Never` is the empty range `()`; every other value is a pair of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeRange {
    Never,
    Range { start: Bound, end: Bound },
}

impl TimeRange {
    pub const ETERNITY: TimeRange = TimeRange::Range { start: Bound::Unbounded, end: Bound::Unbounded };

    /// `[start_end)`
    pub fn half_open(start: Timestamp, end: Timestamp) -> TimeRange {
        TimeRange::Range { start: Bound::Inclusive(start), end: Bound::Exclusive(end) }.normalised()
    }

    /// A range whose bounds admit no timestamp becomes `Never`.
    pub fn normalised(self) -> TimeRange {
        match self.nanos_half_open() {
            None => TimeRange::Never,
            Some(_) => self,
        }
    }

    /// The range as integer half-open bounds `[start, end)`; `None` start/end mean unbounded;
    /// returns `None` when the range is empty.
    pub fn nanos_half_open(self) -> Option<(Option<i128>, Option<i128>)> {
        let TimeRange::Range { start, end } = self else { return None };
        let s = match start {
            Bound::Unbounded => None,
            Bound::Inclusive(t) => Some(i128::from(t.as_nanos())),
            Bound::Exclusive(t) => Some(i128::from(t.as_nanos()) + 1),
        };
        let e = match end {
            Bound::Unbounded => None,
            Bound::Inclusive(t) => Some(i128::from(t.as_nanos()) + 1),
            Bound::Exclusive(t) => Some(i128::from(t.as_nanos())),
        };
        match (s, e) {
            (Some(s), Some(e)) if s >= e => None,
            _ => Some((s, e)),
        }
    }

    pub fn is_empty(self) -> bool {
        self.nanos_half_open().is_none()
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (start, end) = match self {
            TimeRange::Never => return f.write_str("()"),
            TimeRange::Range { start, end } => (start, end),
        };
        match (start, end) {
            (Bound::Unbounded, Bound::Unbounded) => return f.write_str("_"),
            (Bound::Inclusive(a), Bound::Inclusive(b)) if a == b => return write!(f, "[{a}]"),
            _ => {}
        }
        match start {
            Bound::Unbounded => {}
            Bound::Inclusive(t) => write!(f, "[{t}")?,
            Bound::Exclusive(t) => write!(f, "({t}")?,
        }
        f.write_str("_")?;
        match end {
            Bound::Unbounded => Ok(()),
            Bound::Inclusive(t) => write!(f, "{t}]"),
            Bound::Exclusive(t) => write!(f, "{t})"),
        }
    }
}

impl FromStr for TimeRange {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<TimeRange, TimeError> {
        let bad = |why: &str| TimeError::Syntax(format!("invalid timerange {s:?}: {why}"));
        if s == "()" || s == "[]" || s == "(]" || s == "[)" {
            return Ok(TimeRange::Never);
        }
        let (open, rest) = match s.as_bytes().first() {
            Some(b'[') => (Some(true), &s[1..]),
            Some(b'(') => (Some(false), &s[1..]),
            _ => (None, s),
        };
        let (rest, close) = match rest.as_bytes().last() {
            Some(b']') => (&rest[..rest.len() - 1], Some(true)),
            Some(b')') => (&rest[..rest.len() - 1], Some(false)),
            _ => (rest, None),
        };
        let Some((a, b)) = rest.split_once('_') else {
            // Instantaneous: `[t]`, or a bare `t`.
            if rest.is_empty() {
                return Err(bad("empty"));
            }
            if open == Some(false) || close == Some(false) {
                return Err(bad("an instantaneous timerange cannot have exclusive markers"));
            }
            let t: Timestamp = rest.parse()?;
            return Ok(TimeRange::Range { start: Bound::Inclusive(t), end: Bound::Inclusive(t) });
        };
        let start = if a.is_empty() {
            Bound::Unbounded
        } else {
            let t: Timestamp = a.parse()?;
            if open == Some(false) { Bound::Exclusive(t) } else { Bound::Inclusive(t) }
        };
        let end = if b.is_empty() {
            Bound::Unbounded
        } else {
            let t: Timestamp = b.parse()?;
            if close == Some(true) { Bound::Inclusive(t) } else { Bound::Exclusive(t) }
        };
        Ok(TimeRange::Range { start, end }.normalised())
    }
}
