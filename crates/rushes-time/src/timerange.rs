//! [`TimeRange`]: `[start_end)` with inclusive/exclusive bounds, open ends, `_` and `()`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::{TimeError, Timestamp};

/// One end of a [`TimeRange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bound {
    /// No limit: the range extends to negative (start) or positive (end) infinity.
    Unbounded,
    /// The timestamp is in the range (`[` or `]`).
    Inclusive(Timestamp),
    /// The timestamp is not in the range (`(` or `)`).
    Exclusive(Timestamp),
}

impl Bound {
    /// The timestamp written at this end, if any.
    pub const fn timestamp(self) -> Option<Timestamp> {
        match self {
            Bound::Unbounded => None,
            Bound::Inclusive(t) | Bound::Exclusive(t) => Some(t),
        }
    }

    /// As a start: the first included nanosecond; `None` is negative infinity.
    fn start_key(self) -> Option<i128> {
        match self {
            Bound::Unbounded => None,
            Bound::Inclusive(t) => Some(i128::from(t.as_nanos())),
            Bound::Exclusive(t) => Some(i128::from(t.as_nanos()) + 1),
        }
    }

    /// As an end: the first excluded nanosecond; `None` is positive infinity.
    fn end_key(self) -> Option<i128> {
        match self {
            Bound::Unbounded => None,
            Bound::Inclusive(t) => Some(i128::from(t.as_nanos()) + 1),
            Bound::Exclusive(t) => Some(i128::from(t.as_nanos())),
        }
    }

    /// A total order of the written form, used only to break ties in [`TimeRange`]'s `Ord`.
    fn repr(self) -> (u8, i64) {
        match self {
            Bound::Unbounded => (0, 0),
            Bound::Inclusive(t) => (1, t.as_nanos()),
            Bound::Exclusive(t) => (2, t.as_nanos()),
        }
    }

    fn checked_shift(self, by: Timestamp) -> Result<Bound, TimeError> {
        let shift = |t: Timestamp| t.checked_add(by).ok_or(TimeError::OutOfRange);
        Ok(match self {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Inclusive(t) => Bound::Inclusive(shift(t)?),
            Bound::Exclusive(t) => Bound::Exclusive(shift(t)?),
        })
    }
}

/// The first representable nanosecond: where an unbounded start effectively begins.
const FIRST: i128 = i64::MIN as i128;
/// One past the last representable nanosecond: where an unbounded end effectively ends.
const PAST_LAST: i128 = i64::MAX as i128 + 1;

/// Start keys in the order of the timestamps they admit; an open start admits from
/// [`Timestamp::MIN`], the same as `[MIN`.
fn cmp_start(a: Option<i128>, b: Option<i128>) -> Ordering {
    a.unwrap_or(FIRST).cmp(&b.unwrap_or(FIRST))
}

/// End keys in the order of the timestamps they admit; an open end admits up to
/// [`Timestamp::MAX`], the same as `MAX]`.
fn cmp_end(a: Option<i128>, b: Option<i128>) -> Ordering {
    a.unwrap_or(PAST_LAST).cmp(&b.unwrap_or(PAST_LAST))
}

/// A TAMS timerange. `Never` is the empty range `()`; every other value is a pair of bounds.
///
/// **Model.** Timestamps have nanosecond resolution, so a range is the set of whole
/// nanoseconds it contains. `[0:0_1:0)` and `[0:0_0:999999999]` hold the same instants:
/// they differ under `==` (which compares the written form) but agree under
/// [`TimeRange::normalised_eq`]. A range that holds no nanosecond, such as `(0:0_0:1)`
/// or `[2:0_1:0]` (or `(9223372036:854775807_`, past [`Timestamp::MAX`]), is empty;
/// [`TimeRange::normalised`] (applied by `FromStr` and every
/// operation here) turns it into `Never`.
///
/// **Text.** `FromStr` accepts exactly the spec's pattern; see its documentation for the
/// forms and their meaning. `Display` writes the preferred form (`()`, `_`, `[t]`,
/// markers only on bounded ends) and round-trips: `s.to_string().parse() == Ok(s.normalised())`.
///
/// **Order.** `Ord` sorts by the first timestamp held (an open start sorts with
/// [`Timestamp::MIN`]; `Never` before everything), then by the last, then by written
/// form so that it agrees with `==`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeRange {
    Never,
    Range { start: Bound, end: Bound },
}

impl TimeRange {
    /// `_`, the whole timeline.
    pub const ETERNITY: TimeRange = TimeRange::Range {
        start: Bound::Unbounded,
        end: Bound::Unbounded,
    };

    /// A range from two bounds, [normalised](TimeRange::normalised).
    pub fn new(start: Bound, end: Bound) -> TimeRange {
        TimeRange::Range { start, end }.normalised()
    }

    /// `[start_end)`
    pub fn half_open(start: Timestamp, end: Timestamp) -> TimeRange {
        TimeRange::Range {
            start: Bound::Inclusive(start),
            end: Bound::Exclusive(end),
        }
        .normalised()
    }

    /// `[start_end]`
    pub fn inclusive(start: Timestamp, end: Timestamp) -> TimeRange {
        TimeRange::Range {
            start: Bound::Inclusive(start),
            end: Bound::Inclusive(end),
        }
        .normalised()
    }

    /// `[t]`, the instantaneous range holding only `t`.
    pub const fn instant(t: Timestamp) -> TimeRange {
        TimeRange::Range {
            start: Bound::Inclusive(t),
            end: Bound::Inclusive(t),
        }
    }

    /// `[t_`, from `t` on.
    pub const fn starting_at(t: Timestamp) -> TimeRange {
        TimeRange::Range {
            start: Bound::Inclusive(t),
            end: Bound::Unbounded,
        }
    }

    /// `_t)`, everything before `t`.
    pub const fn ending_before(t: Timestamp) -> TimeRange {
        TimeRange::Range {
            start: Bound::Unbounded,
            end: Bound::Exclusive(t),
        }
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
        let TimeRange::Range { start, end } = self else {
            return None;
        };
        let s = start.start_key();
        let e = end.end_key();
        // `(MAX_` and `_MIN)` admit no representable timestamp, so they are empty too.
        if s.unwrap_or(FIRST) >= e.unwrap_or(PAST_LAST) {
            return None;
        }
        Some((s, e))
    }

    /// The timestamps held as `[first, past_last)` in i128 nanoseconds, open ends at the
    /// limits of [`Timestamp`]; `None` when empty.
    fn span(self) -> Option<(i128, i128)> {
        self.nanos_half_open()
            .map(|(s, e)| (s.unwrap_or(FIRST), e.unwrap_or(PAST_LAST)))
    }

    /// True when the range holds no timestamp: `()` or any range whose bounds admit none.
    pub fn is_empty(self) -> bool {
        self.nanos_half_open().is_none()
    }

    /// The start bound as written; `None` for `Never`.
    pub const fn start(self) -> Option<Bound> {
        match self {
            TimeRange::Never => None,
            TimeRange::Range { start, .. } => Some(start),
        }
    }

    /// The end bound as written; `None` for `Never`.
    pub const fn end(self) -> Option<Bound> {
        match self {
            TimeRange::Never => None,
            TimeRange::Range { end, .. } => Some(end),
        }
    }

    /// `_`: unbounded at both ends.
    pub fn is_eternity(self) -> bool {
        self == TimeRange::ETERNITY
    }

    /// Bounded and holding exactly one timestamp, e.g. `[5:0]`, `[5:0_5:0]` or `[5:0_5:1)`.
    pub fn is_instantaneous(self) -> bool {
        matches!(self.nanos_half_open(), Some((Some(s), Some(e))) if s + 1 == e)
    }

    /// Bounded at both ends (and so not `Never`, not empty).
    pub fn is_bounded(self) -> bool {
        matches!(self.nanos_half_open(), Some((Some(_), Some(_))))
    }

    /// True when `t` is in the range.
    pub fn contains(self, t: Timestamp) -> bool {
        let t = i128::from(t.as_nanos());
        self.span().is_some_and(|(s, e)| s <= t && t < e)
    }

    /// True when every timestamp of `other` is in `self`. The empty range is in every range.
    pub fn contains_range(self, other: TimeRange) -> bool {
        let Some((os, oe)) = other.nanos_half_open() else {
            return true;
        };
        let Some((s, e)) = self.nanos_half_open() else {
            return false;
        };
        cmp_start(s, os).is_le() && cmp_end(oe, e).is_le()
    }

    /// True when some timestamp is in both. Touching ranges `[a_b)` and `[b_c)` do not overlap.
    pub fn overlaps(self, other: TimeRange) -> bool {
        !self.intersection(other).is_empty()
    }

    /// The timestamps in both ranges. The tighter bound of each end is kept as written.
    pub fn intersection(self, other: TimeRange) -> TimeRange {
        let (TimeRange::Range { start: s1, end: e1 }, TimeRange::Range { start: s2, end: e2 }) =
            (self.normalised(), other.normalised())
        else {
            return TimeRange::Never;
        };
        let start = if cmp_start(s2.start_key(), s1.start_key()).is_gt() {
            s2
        } else {
            s1
        };
        let end = if cmp_end(e2.end_key(), e1.end_key()).is_lt() {
            e2
        } else {
            e1
        };
        TimeRange::new(start, end)
    }

    /// The smallest range holding both (and any gap between them). An empty range adds nothing.
    pub fn extend_to_encompass(self, other: TimeRange) -> TimeRange {
        let (a, b) = (self.normalised(), other.normalised());
        let (TimeRange::Range { start: s1, end: e1 }, TimeRange::Range { start: s2, end: e2 }) =
            (a, b)
        else {
            return if a.is_empty() { b } else { a };
        };
        let start = if cmp_start(s2.start_key(), s1.start_key()).is_lt() {
            s2
        } else {
            s1
        };
        let end = if cmp_end(e2.end_key(), e1.end_key()).is_gt() {
            e2
        } else {
            e1
        };
        TimeRange::new(start, end)
    }

    /// The union when it is one range: the ranges overlap or touch (`[a_b)` and `[b_c)`
    /// give `[a_c)`), or one is empty. `None` when a gap separates them.
    pub fn union(self, other: TimeRange) -> Option<TimeRange> {
        let (Some((s1, e1)), Some((s2, e2))) = (self.nanos_half_open(), other.nanos_half_open())
        else {
            return Some(self.extend_to_encompass(other));
        };
        // Joined when the later start is not after the earlier end.
        let later_start = if cmp_start(s1, s2).is_ge() { s1 } else { s2 };
        let earlier_end = if cmp_end(e1, e2).is_le() { e1 } else { e2 };
        let joined = match (later_start, earlier_end) {
            (Some(s), Some(e)) => s <= e,
            _ => true,
        };
        joined.then(|| self.extend_to_encompass(other))
    }

    /// The timestamps of `self` that are not in `other`: the part before `other` and the
    /// part after it, either of which may be `Never`. When `other` is empty the whole of
    /// `self` is returned as the first part.
    pub fn subtract(self, other: TimeRange) -> (TimeRange, TimeRange) {
        let TimeRange::Range { start, end } = other.normalised() else {
            return (self.normalised(), TimeRange::Never);
        };
        let before = match start {
            Bound::Unbounded => TimeRange::Never,
            Bound::Inclusive(t) => self.intersection(TimeRange::ending_before(t)),
            Bound::Exclusive(t) => {
                self.intersection(TimeRange::new(Bound::Unbounded, Bound::Inclusive(t)))
            }
        };
        let after = match end {
            Bound::Unbounded => TimeRange::Never,
            Bound::Inclusive(t) => {
                self.intersection(TimeRange::new(Bound::Exclusive(t), Bound::Unbounded))
            }
            Bound::Exclusive(t) => self.intersection(TimeRange::starting_at(t)),
        };
        (before, after)
    }

    /// End timestamp minus start timestamp, as written (markers do not change it, so
    /// `[t]` has zero duration, as the spec says of instantaneous ranges, and
    /// `[0:0_10:0)` lasts `10:0`). Empty ranges last zero.
    ///
    /// `None` when either end is unbounded, or when the difference exceeds
    /// [`Timestamp::MAX`] (only for ranges spanning more than half the representable time).
    pub fn duration(self) -> Option<Timestamp> {
        if self.is_empty() {
            return Some(Timestamp::ZERO);
        }
        let TimeRange::Range { start, end } = self else {
            return Some(Timestamp::ZERO);
        };
        end.timestamp()?.checked_sub(start.timestamp()?)
    }

    /// Both bounds moved by `by` (negative moves earlier); `OutOfRange` rather than a wrap.
    /// `Never` (and every empty range) becomes `Never`.
    ///
    /// `OutOfRange` also when a written bound still fits but every timestamp held would
    /// move past the limits: `(9223372036:854775806_` holds only [`Timestamp::MAX`], so
    /// shifting it one nanosecond later would give `(9223372036:854775807_`, which holds
    /// nothing. A shift never turns a range that holds timestamps into an empty one.
    pub fn shift(self, by: Timestamp) -> Result<TimeRange, TimeError> {
        match self.normalised() {
            TimeRange::Never => Ok(TimeRange::Never),
            TimeRange::Range { start, end } => {
                let shifted = TimeRange::Range {
                    start: start.checked_shift(by)?,
                    end: end.checked_shift(by)?,
                };
                // Both ends bounded: a translation keeps start before end. With an open
                // end, the held timestamps can leave the representable range entirely.
                if shifted.is_empty() {
                    return Err(TimeError::OutOfRange);
                }
                Ok(shifted)
            }
        }
    }

    /// True when both hold the same timestamps, however written: `[0:0_1:0)` and
    /// `[0:0_0:999999999]` are equal here, as are all empty ranges. At the limits an open
    /// end holds what the limit does: `[0:0_` equals `[0:0_9223372036:854775807]`.
    pub fn normalised_eq(self, other: TimeRange) -> bool {
        self.span() == other.span()
    }
}

impl PartialOrd for TimeRange {
    fn partial_cmp(&self, other: &TimeRange) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TimeRange {
    fn cmp(&self, other: &TimeRange) -> Ordering {
        match (*self, *other) {
            (TimeRange::Never, TimeRange::Never) => Ordering::Equal,
            (TimeRange::Never, TimeRange::Range { .. }) => Ordering::Less,
            (TimeRange::Range { .. }, TimeRange::Never) => Ordering::Greater,
            (TimeRange::Range { start: s1, end: e1 }, TimeRange::Range { start: s2, end: e2 }) => {
                cmp_start(s1.start_key(), s2.start_key())
                    .then_with(|| cmp_end(e1.end_key(), e2.end_key()))
                    .then_with(|| s1.repr().cmp(&s2.repr()))
                    .then_with(|| e1.repr().cmp(&e2.repr()))
            }
        }
    }
}

impl fmt::Display for TimeRange {
    /// `()` for every empty range, `_` for eternity, `[t]` for `[t_t]`; otherwise
    /// `{marker}{start}_{end}{marker}` with markers only on bounded ends (`[0:0_`, `_10:0)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (start, end) = match self.normalised() {
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

    /// Parses the spec's pattern
    /// `^(\[|\()?({ts})?(_({ts})?)?(\]|\))?$`, where `{ts}` is a [`Timestamp`]:
    ///
    /// - `[a_b)`, `(a_b]`, ...: `[`/`]` inclusive, `(`/`)` exclusive.
    /// - A missing timestamp is an open end and its marker is ignored: `[0:0_`, `_10:0)`,
    ///   `_` (eternity; also `[_]`, `(_)`).
    /// - A timestamp without a marker is inclusive (`0:0_10:0` is `[0:0_10:0]`), as in
    ///   BBC's `mediatimestamp` and as for the bare instantaneous form.
    /// - `[t]` or a bare `t`: instantaneous. `(t)`, `(t]`, `[t)` are rejected: the spec
    ///   says instantaneous ranges cannot use exclusive markers.
    /// - `()`, or markers alone (`[]`, `(]`, ...) or the empty string: `Never`.
    ///
    /// Ranges that hold no timestamp (end before start, equal ends with an exclusive
    /// marker) parse to `Never`. Timestamps outside [`Timestamp::MIN`]..=[`Timestamp::MAX`]
    /// are [`TimeError::OutOfRange`].
    fn from_str(s: &str) -> Result<TimeRange, TimeError> {
        let bad = |why: &str| {
            TimeError::Syntax(format!(
                "invalid timerange {s:?}: {why}; expected e.g. \"[0:0_10:0)\", \"[5:0]\", \"_\" or \"()\""
            ))
        };
        let timestamp = |t: &str| -> Result<Timestamp, TimeError> {
            t.parse().map_err(|e| match e {
                TimeError::Syntax(_) => bad(&format!("{t:?} is not a timestamp")),
                other => other,
            })
        };
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
            if rest.is_empty() {
                return Ok(TimeRange::Never);
            }
            if open == Some(false) || close == Some(false) {
                return Err(bad(
                    "an instantaneous timerange cannot have exclusive markers",
                ));
            }
            return Ok(TimeRange::instant(timestamp(rest)?));
        };
        let start = if a.is_empty() {
            Bound::Unbounded
        } else {
            let t = timestamp(a)?;
            if open == Some(false) {
                Bound::Exclusive(t)
            } else {
                Bound::Inclusive(t)
            }
        };
        let end = if b.is_empty() {
            Bound::Unbounded
        } else {
            let t = timestamp(b)?;
            if close == Some(false) {
                Bound::Exclusive(t)
            } else {
                Bound::Inclusive(t)
            }
        };
        Ok(TimeRange::new(start, end))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tr(s: &str) -> TimeRange {
        s.parse().unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_form() {
        let t = |s: &str| Bound::Inclusive(ts(s));
        let x = |s: &str| Bound::Exclusive(ts(s));
        let r = |start, end| TimeRange::Range { start, end };
        let cases = [
            ("[0:0_10:0)", r(t("0:0"), x("10:0"))),
            ("(0:0_10:0]", r(x("0:0"), t("10:0"))),
            ("(0:0_10:0)", r(x("0:0"), x("10:0"))),
            ("[0:0_10:0]", r(t("0:0"), t("10:0"))),
            ("0:0_10:0", r(t("0:0"), t("10:0"))),
            ("[0:0_", r(t("0:0"), Bound::Unbounded)),
            ("(5:0_", r(x("5:0"), Bound::Unbounded)),
            ("5:0_", r(t("5:0"), Bound::Unbounded)),
            ("_10:0)", r(Bound::Unbounded, x("10:0"))),
            ("_10:0]", r(Bound::Unbounded, t("10:0"))),
            ("[_10:0)", r(Bound::Unbounded, x("10:0"))),
            ("(_10:0)", r(Bound::Unbounded, x("10:0"))),
            ("[0:0_)", r(t("0:0"), Bound::Unbounded)),
            ("_", TimeRange::ETERNITY),
            ("[_]", TimeRange::ETERNITY),
            ("(_)", TimeRange::ETERNITY),
            ("[_", TimeRange::ETERNITY),
            ("()", TimeRange::Never),
            ("[]", TimeRange::Never),
            ("(]", TimeRange::Never),
            ("[)", TimeRange::Never),
            ("(", TimeRange::Never),
            ("]", TimeRange::Never),
            ("", TimeRange::Never),
            ("[5:0]", TimeRange::instant(ts("5:0"))),
            ("5:0", TimeRange::instant(ts("5:0"))),
            ("[5:0", TimeRange::instant(ts("5:0"))),
            ("[5:0_5:0]", TimeRange::instant(ts("5:0"))),
            ("[-5:5_-1:0)", r(t("-5:5"), x("-1:0"))),
            ("[-0:1_0:1]", r(t("-0:1"), t("0:1"))),
            ("[5:0_5:0)", TimeRange::Never),
            ("(5:0_5:0]", TimeRange::Never),
            ("[6:0_5:0]", TimeRange::Never),
            ("(0:0_0:1)", TimeRange::Never),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<TimeRange>(), Ok(want), "{s:?}");
        }
    }

    #[test]
    fn rejects_text_outside_the_pattern() {
        for bad in [
            "[5:0)",
            "(5:0]",
            "(5:0)",
            "5:0)",
            "[0:0__1:0)",
            "[0:0_1:0_2:0)",
            "[01:0_2:0)",
            "[0:0_2:00)",
            "{0:0_1:0)",
            "[0:0_1:0}",
            "[0:0 _1:0)",
            "[[0:0_1:0)",
            "[0:0_1:0))",
            "x",
            "[a_b)",
            "0:0-1:0",
            "[1.5_2:0)",
            ")(",
        ] {
            assert!(
                matches!(bad.parse::<TimeRange>(), Err(TimeError::Syntax(_))),
                "{bad:?}: {:?}",
                bad.parse::<TimeRange>()
            );
        }
        assert_eq!(
            "[0:0_99999999999:0)".parse::<TimeRange>(),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            "_123456789012345678901234567890:0".parse::<TimeRange>(),
            Err(TimeError::OutOfRange)
        );
    }

    #[test]
    fn formats_preferred_forms() {
        for (s, want) in [
            ("[0:0_10:0)", "[0:0_10:0)"),
            ("0:0_10:0", "[0:0_10:0]"),
            ("[_10:0)", "_10:0)"),
            ("(_)", "_"),
            ("[0:0_0:0]", "[0:0]"),
            ("5:0", "[5:0]"),
            ("[]", "()"),
            ("[3:0_2:0)", "()"),
            ("[-1:500000000_-0:1)", "[-1:500000000_-0:1)"),
        ] {
            assert_eq!(tr(s).to_string(), want, "{s:?}");
        }
        let odd = TimeRange::Range {
            start: Bound::Exclusive(ts("1:0")),
            end: Bound::Exclusive(ts("1:0")),
        };
        assert_eq!(odd.to_string(), "()");
    }

    #[test]
    fn limits() {
        let all = TimeRange::inclusive(Timestamp::MIN, Timestamp::MAX);
        assert_eq!(
            all.to_string(),
            "[-9223372036:854775808_9223372036:854775807]"
        );
        assert_eq!(all.to_string().parse(), Ok(all));
        assert!(all.contains(Timestamp::MIN) && all.contains(Timestamp::MAX));
        assert_eq!(all.duration(), None, "longer than Timestamp::MAX");
        assert!(!all.is_eternity());
        assert!(TimeRange::ETERNITY.contains_range(all));
        // Same timestamps as eternity, though written differently.
        assert!(all.contains_range(TimeRange::ETERNITY));
        assert!(all.normalised_eq(TimeRange::ETERNITY));
        assert_ne!(all, TimeRange::ETERNITY);
        // Nothing representable lies past the limits.
        assert_eq!(tr("(9223372036:854775807_"), TimeRange::Never);
        assert_eq!(tr("_-9223372036:854775808)"), TimeRange::Never);
        assert!(tr("[9223372036:854775807_").contains(Timestamp::MAX));
        assert!(
            !tr("[9223372036:854775807_").is_instantaneous(),
            "open ended"
        );
        assert_eq!(
            TimeRange::instant(Timestamp::MAX).shift(Timestamp::NANOSECOND),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            TimeRange::instant(Timestamp::MIN).shift(Timestamp::from_nanos(-1)),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            TimeRange::ETERNITY.shift(Timestamp::MAX),
            Ok(TimeRange::ETERNITY)
        );
        // Open-ended ranges holding only a limit: the written bound still fits after the
        // shift, but the one timestamp held would not, so the result would be empty.
        assert_eq!(
            tr("(9223372036:854775806_").shift(Timestamp::NANOSECOND),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            tr("_-9223372036:854775807)").shift(Timestamp::from_nanos(-1)),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            tr("(9223372036:854775805_").shift(Timestamp::NANOSECOND),
            Ok(tr("(9223372036:854775806_"))
        );
        assert_eq!(
            tr("[0:0_").shift(Timestamp::MAX),
            Ok(tr("[9223372036:854775807_"))
        );
        assert_eq!(
            TimeRange::half_open(Timestamp::MIN, Timestamp::ZERO).duration(),
            None,
            "9223372036:854775808 does not fit"
        );
        assert_eq!(
            TimeRange::half_open(Timestamp::from_nanos(i64::MIN + 1), Timestamp::ZERO).duration(),
            Some(Timestamp::MAX)
        );
    }

    #[test]
    fn contains_and_overlaps() {
        let a = tr("[0:0_10:0)");
        assert!(a.contains(ts("0:0")));
        assert!(a.contains(ts("9:999999999")));
        assert!(!a.contains(ts("10:0")));
        assert!(!a.contains(ts("-0:1")));
        assert!(!tr("(0:0_10:0)").contains(ts("0:0")));
        assert!(tr("_").contains(Timestamp::MIN));
        assert!(!TimeRange::Never.contains(Timestamp::ZERO));
        assert!(!tr("[0:0_1:0)").overlaps(tr("[1:0_2:0)")));
        assert!(tr("[0:0_1:0]").overlaps(tr("[1:0_2:0)")));
        assert!(!tr("[0:0_1:0]").overlaps(tr("(1:0_2:0)")));
        assert!(tr("[1:0_2:0)").overlaps(tr("[1:0]")));
        assert!(
            !tr("[1:0_2:0)").overlaps(tr("[2:0]")),
            "the spec's edge case"
        );
        assert!(tr("_").overlaps(tr("[2:0]")));
        assert!(!tr("_").overlaps(tr("()")));
        assert!(tr("_5:0)").overlaps(tr("[4:0_")));
        assert!(!tr("_5:0)").overlaps(tr("[5:0_")));
        assert!(a.contains_range(tr("[2:0_3:0]")));
        assert!(a.contains_range(tr("[0:0_9:999999999]")));
        assert!(!a.contains_range(tr("[0:0_10:0]")));
        assert!(a.contains_range(TimeRange::Never));
        assert!(!TimeRange::Never.contains_range(a));
    }

    #[test]
    fn intersection_union_subtraction() {
        assert_eq!(tr("[0:0_10:0)").intersection(tr("(5:0_")), tr("(5:0_10:0)"));
        assert_eq!(
            tr("[0:0_10:0)").intersection(tr("[10:0_")),
            TimeRange::Never
        );
        assert_eq!(tr("_").intersection(tr("[1:0]")), tr("[1:0]"));
        assert_eq!(
            tr("[0:0_10:0)").union(tr("[10:0_20:0)")),
            Some(tr("[0:0_20:0)"))
        );
        assert_eq!(tr("[0:0_10:0)").union(tr("(10:0_20:0)")), None);
        assert_eq!(
            tr("[0:0_10:0]").union(tr("(10:0_20:0)")),
            Some(tr("[0:0_20:0)"))
        );
        assert_eq!(
            tr("[0:0_9:999999999]").union(tr("[10:0_20:0)")),
            Some(tr("[0:0_20:0)"))
        );
        assert_eq!(tr("[0:0_5:0)").union(tr("()")), Some(tr("[0:0_5:0)")));
        assert_eq!(tr("_5:0)").union(tr("[3:0_")), Some(TimeRange::ETERNITY));
        assert_eq!(
            tr("[0:0_1:0)").extend_to_encompass(tr("[5:0]")),
            tr("[0:0_5:0]")
        );
        assert_eq!(
            tr("[0:0_10:0)").subtract(tr("[2:0_3:0)")),
            (tr("[0:0_2:0)"), tr("[3:0_10:0)"))
        );
        assert_eq!(
            tr("[0:0_10:0)").subtract(tr("(2:0_3:0]")),
            (tr("[0:0_2:0]"), tr("(3:0_10:0)"))
        );
        assert_eq!(
            tr("[0:0_10:0)").subtract(tr("_")),
            (TimeRange::Never, TimeRange::Never)
        );
        assert_eq!(
            tr("[0:0_10:0)").subtract(tr("()")),
            (tr("[0:0_10:0)"), TimeRange::Never)
        );
        assert_eq!(
            tr("[0:0_10:0)").subtract(tr("[20:0_")),
            (tr("[0:0_10:0)"), TimeRange::Never)
        );
        assert_eq!(
            tr("[0:0_10:0)").subtract(tr("_-1:0)")),
            (TimeRange::Never, tr("[0:0_10:0)"))
        );
        assert_eq!(tr("_").subtract(tr("[1:0]")), (tr("_1:0)"), tr("(1:0_")));
    }

    #[test]
    fn durations_shifts_and_kinds() {
        assert_eq!(tr("[0:0_10:0)").duration(), Some(ts("10:0")));
        assert_eq!(tr("[5:0]").duration(), Some(Timestamp::ZERO));
        assert_eq!(tr("()").duration(), Some(Timestamp::ZERO));
        assert_eq!(tr("[0:0_").duration(), None);
        assert_eq!(tr("_").duration(), None);
        assert_eq!(tr("[-1:0_1:500000000)").duration(), Some(ts("2:500000000")));
        assert_eq!(tr("[0:0_10:0)").shift(ts("-20:0")), Ok(tr("[-20:0_-10:0)")));
        assert_eq!(tr("(0:0_").shift(ts("1:5")), Ok(tr("(1:5_")));
        assert_eq!(tr("()").shift(ts("1:0")), Ok(TimeRange::Never));
        assert!(tr("[5:0]").is_instantaneous());
        assert!(tr("[5:0_5:0]").is_instantaneous());
        assert!(tr("[5:0_5:1)").is_instantaneous());
        assert!(!tr("[5:0_5:1]").is_instantaneous());
        assert!(!tr("()").is_instantaneous());
        assert!(tr("_").is_eternity() && tr("[_]").is_eternity());
        assert!(!tr("[0:0_").is_eternity());
        assert!(
            tr("[0:0_1:0)").is_bounded() && !tr("[0:0_").is_bounded() && !tr("()").is_bounded()
        );
        assert_eq!(
            tr("[0:0_1:0)").start(),
            Some(Bound::Inclusive(Timestamp::ZERO))
        );
        assert_eq!(tr("[0:0_1:0)").end(), Some(Bound::Exclusive(ts("1:0"))));
        assert_eq!(tr("_1:0)").start(), Some(Bound::Unbounded));
        assert_eq!(tr("()").start(), None);
        assert_eq!(tr("()").end(), None);
    }

    #[test]
    fn normalised_equality_and_order() {
        assert!(tr("[0:0_1:0)").normalised_eq(tr("[0:0_0:999999999]")));
        assert!(tr("(0:0_1:0)").normalised_eq(tr("[0:1_0:999999999]")));
        assert!(tr("[1:0]").normalised_eq(tr("[1:0_1:1)")));
        assert!(tr("()").normalised_eq(TimeRange::Range {
            start: Bound::Exclusive(Timestamp::ZERO),
            end: Bound::Exclusive(Timestamp::ZERO)
        }));
        assert!(!tr("[0:0_1:0)").normalised_eq(tr("[0:0_1:0]")));
        assert_ne!(tr("[0:0_1:0)"), tr("[0:0_0:999999999]"));
        let mut v = [
            tr("[2:0_3:0)"),
            tr("_"),
            tr("()"),
            tr("[0:0_"),
            tr("[0:0_1:0)"),
            tr("(0:0_1:0)"),
            tr("_5:0)"),
        ];
        v.sort();
        let s: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            s,
            [
                "()",
                "_5:0)",
                "_",
                "[0:0_1:0)",
                "[0:0_",
                "(0:0_1:0)",
                "[2:0_3:0)"
            ]
        );
    }
}
