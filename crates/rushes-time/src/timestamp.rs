//! [`Timestamp`]: a signed count of nanoseconds, written `{sign?}{seconds}:{nanoseconds}`.

use std::fmt;
use std::str::FromStr;

use crate::{Rational, TimeError};

/// How a conversion that cannot be exact picks an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Toward negative infinity: the largest integer not above the exact value.
    Floor,
    /// To the closest integer; an exact half rounds away from zero (2.5 → 3, -2.5 → -3),
    /// as BBC's `mediatimestamp` does with `ROUND_NEAREST`.
    Nearest,
    /// Toward positive infinity: the smallest integer not below the exact value.
    Ceil,
}

/// A TAMS timestamp: signed integer nanoseconds since the timeline's origin.
///
/// Range: [`Timestamp::MIN`] (`-9223372036:854775808`) to [`Timestamp::MAX`]
/// (`9223372036:854775807`), about ±292 years around the origin; this holds every TAI
/// time from 1677 to 2262. The text format allows more (PTP carries 48-bit seconds);
/// anything outside the range is [`TimeError::OutOfRange`], never a wrap or a panic.
///
/// Ordering is numeric. Arithmetic is checked: `checked_*` methods return `None` on
/// overflow; conversions return [`TimeError::OutOfRange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    nanos: i64,
}

/// 10^9 as an i128, for intermediate arithmetic.
const NANOS_PER_SEC_I128: i128 = 1_000_000_000;

impl Timestamp {
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;
    /// `0:0`, the timeline's origin.
    pub const ZERO: Timestamp = Timestamp { nanos: 0 };
    /// `-9223372036:854775808`, the earliest representable timestamp.
    pub const MIN: Timestamp = Timestamp { nanos: i64::MIN };
    /// `9223372036:854775807`, the latest representable timestamp.
    pub const MAX: Timestamp = Timestamp { nanos: i64::MAX };
    /// The smallest positive step, `0:1`.
    pub const NANOSECOND: Timestamp = Timestamp { nanos: 1 };

    pub const fn from_nanos(nanos: i64) -> Timestamp {
        Timestamp { nanos }
    }

    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Whole seconds; `OutOfRange` beyond ±9223372036 s.
    pub fn from_secs(secs: i64) -> Result<Timestamp, TimeError> {
        secs.checked_mul(Self::NANOS_PER_SEC)
            .map(Timestamp::from_nanos)
            .ok_or(TimeError::OutOfRange)
    }

    /// Seconds and nanoseconds parts as written in text; `(true, 1, 500000000)` is
    /// `-1:500000000`, that is -1.5 s. A negative zero is zero.
    pub fn from_parts(
        negative: bool,
        secs: u64,
        subsec_nanos: u32,
    ) -> Result<Timestamp, TimeError> {
        if subsec_nanos >= 1_000_000_000 {
            return Err(TimeError::Syntax(
                "nanoseconds must be below 1000000000".into(),
            ));
        }
        let total = i128::from(secs) * NANOS_PER_SEC_I128 + i128::from(subsec_nanos);
        let total = if negative { -total } else { total };
        i64::try_from(total)
            .map(Timestamp::from_nanos)
            .map_err(|_| TimeError::OutOfRange)
    }

    /// The parts of the text form: `(negative, seconds, nanoseconds)`, the inverse of
    /// [`Timestamp::from_parts`]. `-1:500000000` gives `(true, 1, 500000000)`.
    pub fn to_parts(self) -> (bool, u64, u32) {
        let magnitude = self.nanos.unsigned_abs();
        let secs = magnitude / 1_000_000_000;
        // The remainder is below 10^9, so it fits in u32.
        let subsec = (magnitude % 1_000_000_000) as u32;
        (self.nanos < 0, secs, subsec)
    }

    /// True for timestamps before the origin.
    pub const fn is_negative(self) -> bool {
        self.nanos < 0
    }

    pub fn checked_add(self, other: Timestamp) -> Option<Timestamp> {
        self.nanos
            .checked_add(other.nanos)
            .map(Timestamp::from_nanos)
    }

    pub fn checked_sub(self, other: Timestamp) -> Option<Timestamp> {
        self.nanos
            .checked_sub(other.nanos)
            .map(Timestamp::from_nanos)
    }

    /// `-self`; `None` only for [`Timestamp::MIN`].
    pub fn checked_neg(self) -> Option<Timestamp> {
        self.nanos.checked_neg().map(Timestamp::from_nanos)
    }

    /// The magnitude; `None` only for [`Timestamp::MIN`], whose magnitude is one
    /// nanosecond beyond [`Timestamp::MAX`].
    pub fn checked_abs(self) -> Option<Timestamp> {
        self.nanos.checked_abs().map(Timestamp::from_nanos)
    }

    /// The magnitude as unsigned nanoseconds; never fails.
    pub const fn unsigned_abs_nanos(self) -> u64 {
        self.nanos.unsigned_abs()
    }

    /// The timestamp of sample `count` at `rate` samples per second, with sample 0 at
    /// `0:0`: `count / rate` seconds, rounded down to a whole nanosecond.
    ///
    /// Rounding down makes the count come back with [`Rounding::Ceil`] or
    /// [`Rounding::Nearest`] in [`Timestamp::to_count`] for every rate below 1 GHz.
    /// For negative counts this differs from `mediatimestamp`, which truncates toward
    /// zero (that is [`Rounding::Ceil`] here).
    pub fn from_count(count: i64, rate: Rational) -> Result<Timestamp, TimeError> {
        Timestamp::from_count_rounded(count, rate, Rounding::Floor)
    }

    /// [`Timestamp::from_count`] with the rounding to whole nanoseconds chosen.
    pub fn from_count_rounded(
        count: i64,
        rate: Rational,
        rounding: Rounding,
    ) -> Result<Timestamp, TimeError> {
        // count * 10^9 * den / num
        let mul = u128::from(rate.denominator()) * 1_000_000_000;
        let div = u128::from(rate.numerator());
        let n = mul_div(count, mul, div, rounding).ok_or(TimeError::OutOfRange)?;
        i64::try_from(n)
            .map(Timestamp::from_nanos)
            .map_err(|_| TimeError::OutOfRange)
    }

    /// The sample count at `rate` samples per second for this timestamp: exactly
    /// `self × rate`, rounded as asked when that is not an integer.
    ///
    /// [`Rounding::Floor`] gives the sample that is active at this time (the last one
    /// starting at or before it); [`Rounding::Ceil`] the first sample starting at or after it.
    pub fn to_count(self, rate: Rational, rounding: Rounding) -> Result<i64, TimeError> {
        // nanos * num / (10^9 * den)
        let mul = u128::from(rate.numerator());
        let div = u128::from(rate.denominator()) * 1_000_000_000;
        let n = mul_div(self.nanos, mul, div, rounding).ok_or(TimeError::OutOfRange)?;
        i64::try_from(n).map_err(|_| TimeError::OutOfRange)
    }

    /// The nearest timestamp at or before/after/closest to this one (per `rounding`)
    /// that is an exact sample time at `rate`, that is `from_count(to_count(rate, rounding))`.
    pub fn align_to_rate(self, rate: Rational, rounding: Rounding) -> Result<Timestamp, TimeError> {
        let count = self.to_count(rate, rounding)?;
        Timestamp::from_count(count, rate)
    }
}

/// `a × mul / div` rounded as asked, exact, without overflowing.
///
/// Requires `min(mul, div) <= u64::MAX` and `div > 0`, true for both uses above
/// (one of them is a `u64` rate part, the other a `u64` times 10^9).
/// `None` if the result does not fit in an i128 (so is far outside i64 anyway).
fn mul_div(a: i64, mul: u128, div: u128, rounding: Rounding) -> Option<i128> {
    // a × mul / div = a × q + a × r / div, with mul = q × div + r, 0 <= r < div.
    // |a × r| < 2^63 × 2^64 = 2^127, so it fits in an i128.
    let q = i128::try_from(mul / div).ok()?;
    let r = i128::try_from(mul % div).ok()?;
    let d = i128::try_from(div).ok()?;
    let a = i128::from(a);
    let whole = a.checked_mul(q)?;
    let frac = div_round(a.checked_mul(r)?, d, rounding);
    whole.checked_add(frac)
}

/// `n / d` for `d > 0`, rounded as asked.
fn div_round(n: i128, d: i128, rounding: Rounding) -> i128 {
    let floor = n.div_euclid(d);
    let rem = n.rem_euclid(d); // 0 <= rem < d
    if rem == 0 {
        return floor;
    }
    match rounding {
        Rounding::Floor => floor,
        Rounding::Ceil => floor + 1,
        Rounding::Nearest => {
            // Compare rem with d - rem to avoid overflowing 2 × rem.
            let above = d - rem;
            match rem.cmp(&above) {
                std::cmp::Ordering::Less => floor,
                std::cmp::Ordering::Greater => floor + 1,
                // An exact half: away from zero.
                std::cmp::Ordering::Equal => {
                    if n < 0 {
                        floor
                    } else {
                        floor + 1
                    }
                }
            }
        }
    }
}

impl fmt::Display for Timestamp {
    /// The spec's canonical form: `{sign?}{seconds}:{nanoseconds}`, no leading zeros,
    /// a `-` only for negative values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (negative, secs, nanos) = self.to_parts();
        let sign = if negative { "-" } else { "" };
        write!(f, "{sign}{secs}:{nanos}")
    }
}

impl FromStr for Timestamp {
    type Err = TimeError;

    /// Parses exactly the spec pattern `^-?(0|[1-9][0-9]*):(0|[1-9][0-9]{0,8})$`.
    /// Well-formed text beyond [`Timestamp::MIN`]..=[`Timestamp::MAX`] is `OutOfRange`.
    fn from_str(s: &str) -> Result<Timestamp, TimeError> {
        let bad = || {
            TimeError::Syntax(format!(
                "invalid timestamp {s:?}: expected {{sign?}}{{seconds}}:{{nanoseconds}} without leading zeros, e.g. \"10:500000000\""
            ))
        };
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
        // Digits only, so the only failure left is a value too large for u64.
        let secs: u64 = secs.parse().map_err(|_| TimeError::OutOfRange)?;
        let nanos: u32 = nanos.parse().map_err(|_| bad())?;
        Timestamp::from_parts(negative, secs, nanos)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn limits_are_documented_values() {
        assert_eq!(Timestamp::MAX.to_string(), "9223372036:854775807");
        assert_eq!(Timestamp::MIN.to_string(), "-9223372036:854775808");
        assert_eq!(ts("9223372036:854775807"), Timestamp::MAX);
        assert_eq!(ts("-9223372036:854775808"), Timestamp::MIN);
        assert_eq!(
            "9223372036:854775808".parse::<Timestamp>(),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            "-9223372036:854775809".parse::<Timestamp>(),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            "123456789012345678901234567890:0".parse::<Timestamp>(),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            "-123456789012345678901234567890:999999999".parse::<Timestamp>(),
            Err(TimeError::OutOfRange)
        );
    }

    #[test]
    fn parse_and_format() {
        assert_eq!(ts("0:0").as_nanos(), 0);
        assert_eq!(ts("-0:0"), Timestamp::ZERO);
        assert_eq!(ts("-0:0").to_string(), "0:0");
        assert_eq!(ts("1:40000000").as_nanos(), 1_040_000_000);
        assert_eq!(ts("-1:500000000").as_nanos(), -1_500_000_000);
        assert_eq!(ts("-0:1").as_nanos(), -1);
        assert_eq!(ts("0:999999999").as_nanos(), 999_999_999);
        assert_eq!(Timestamp::from_nanos(-1).to_string(), "-0:1");
        assert_eq!(ts("1694429247:40000000").to_string(), "1694429247:40000000");
    }

    #[test]
    fn rejects_text_outside_the_pattern() {
        for bad in [
            "",
            ":",
            "1",
            "1:",
            ":1",
            "01:0",
            "1:00",
            "1:05",
            "1:1000000000",
            "+1:0",
            "--1:0",
            "1.5",
            " 1:0",
            "1:0 ",
            "1:0:0",
            "a:0",
            "1:a",
            "-",
            "-:0",
            "1:0000000000",
        ] {
            assert!(
                matches!(bad.parse::<Timestamp>(), Err(TimeError::Syntax(_))),
                "{bad:?} should be a syntax error"
            );
        }
    }

    #[test]
    fn parts_round_trip() {
        for n in [0, 1, -1, 999_999_999, -1_000_000_000, i64::MAX, i64::MIN] {
            let t = Timestamp::from_nanos(n);
            let (neg, s, ns) = t.to_parts();
            assert_eq!(Timestamp::from_parts(neg, s, ns), Ok(t));
        }
        assert_eq!(Timestamp::from_parts(true, 0, 0), Ok(Timestamp::ZERO));
        assert!(Timestamp::from_parts(false, 0, 1_000_000_000).is_err());
        assert_eq!(
            Timestamp::from_parts(false, u64::MAX, 0),
            Err(TimeError::OutOfRange)
        );
    }

    #[test]
    fn checked_arithmetic_at_the_limits() {
        assert_eq!(Timestamp::MAX.checked_add(Timestamp::NANOSECOND), None);
        assert_eq!(Timestamp::MIN.checked_sub(Timestamp::NANOSECOND), None);
        assert_eq!(Timestamp::MIN.checked_abs(), None);
        assert_eq!(Timestamp::MIN.checked_neg(), None);
        assert_eq!(Timestamp::MIN.unsigned_abs_nanos(), 1u64 << 63);
        assert_eq!(
            Timestamp::MAX.checked_neg(),
            Some(Timestamp::from_nanos(-i64::MAX))
        );
        assert_eq!(ts("-1:5").checked_abs(), Some(ts("1:5")));
        assert_eq!(
            Timestamp::MAX.checked_add(Timestamp::MIN),
            Some(Timestamp::from_nanos(-1))
        );
        assert_eq!(
            Timestamp::from_secs(9_223_372_037),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            Timestamp::from_secs(-9_223_372_036),
            Ok(ts("-9223372036:0"))
        );
        assert!(ts("-1:0") < ts("-0:999999999"));
        assert!(ts("-0:1") < Timestamp::ZERO);
    }

    #[test]
    fn counts_at_common_rates() {
        let r25 = Rational::new(25, 1).unwrap();
        let ntsc = Rational::new(30000, 1001).unwrap();
        let r48k = Rational::new(48000, 1).unwrap();
        assert_eq!(Timestamp::from_count(26, r25), Ok(ts("1:40000000")));
        assert_eq!(ts("1:40000000").to_count(r25, Rounding::Floor), Ok(26));
        assert_eq!(Timestamp::from_count(1, ntsc), Ok(ts("0:33366666")));
        assert_eq!(Timestamp::from_count(-1, ntsc), Ok(ts("-0:33366667")));
        assert_eq!(
            Timestamp::from_count_rounded(-1, ntsc, Rounding::Ceil),
            Ok(ts("-0:33366666"))
        );
        assert_eq!(
            Timestamp::from_count_rounded(1, ntsc, Rounding::Nearest),
            Ok(ts("0:33366667"))
        );
        assert_eq!(Timestamp::from_count(30000, ntsc), Ok(ts("1001:0")));
        assert_eq!(ts("0:33366666").to_count(ntsc, Rounding::Floor), Ok(0));
        assert_eq!(ts("0:33366666").to_count(ntsc, Rounding::Ceil), Ok(1));
        assert_eq!(ts("0:33366666").to_count(ntsc, Rounding::Nearest), Ok(1));
        assert_eq!(Timestamp::from_count(48000, r48k), Ok(ts("1:0")));
        assert_eq!(ts("0:10416").to_count(r48k, Rounding::Nearest), Ok(0));
        assert_eq!(ts("0:10417").to_count(r48k, Rounding::Nearest), Ok(1));
        // Exact halves round away from zero.
        assert_eq!(ts("0:20000000").to_count(r25, Rounding::Nearest), Ok(1));
        assert_eq!(ts("-0:20000000").to_count(r25, Rounding::Nearest), Ok(-1));
        assert_eq!(ts("-0:1").to_count(r25, Rounding::Floor), Ok(-1));
        assert_eq!(ts("-0:1").to_count(r25, Rounding::Ceil), Ok(0));
        assert_eq!(
            ts("1:0").align_to_rate(ntsc, Rounding::Floor),
            Ok(Timestamp::from_count(29, ntsc).unwrap())
        );
    }

    #[test]
    fn counts_at_the_limits() {
        let r25 = Rational::new(25, 1).unwrap();
        let max_rate = Rational::new(u64::MAX, 1).unwrap();
        let min_rate = Rational::new(1, u64::MAX).unwrap();
        assert_eq!(
            Timestamp::MAX.to_count(r25, Rounding::Floor),
            Ok(230_584_300_921)
        );
        assert_eq!(
            Timestamp::MIN.to_count(r25, Rounding::Ceil),
            Ok(-230_584_300_921)
        );
        assert_eq!(
            Timestamp::from_count(i64::MAX, r25),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            Timestamp::from_count(i64::MIN, min_rate),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            Timestamp::from_count(i64::MAX, max_rate),
            Ok(Timestamp::from_nanos(499_999_999))
        );
        assert_eq!(
            Timestamp::MAX.to_count(max_rate, Rounding::Ceil),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(Timestamp::MIN.to_count(min_rate, Rounding::Floor), Ok(-1));
        assert_eq!(Timestamp::MAX.to_count(min_rate, Rounding::Nearest), Ok(0));
        let big = Rational::new(u64::MAX, u64::MAX - 1).unwrap();
        assert!(Timestamp::MAX.to_count(big, Rounding::Nearest).is_ok());
        assert!(Timestamp::from_count(i64::MIN, big).is_err());
        assert_eq!(Timestamp::from_count(0, big), Ok(Timestamp::ZERO));
    }
}
