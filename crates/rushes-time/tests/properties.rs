//! Property tests: text round-trips and the algebra of timeranges, checked against a
//! brute-force model (membership of sample timestamps).
//!
//! Each property is a function in [`check`], run by `proptest!` on generated values and
//! by [`recorded_cases`] on every failing case found so far, written out as values.
//! Failures are not persisted to seed files (`failure_persistence: None`): a seed replays
//! a different value as soon as a strategy changes, so a new minimal failing input goes
//! into [`recorded_cases`] instead.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rushes_time::{Bound, Rational, Rounding, TimeError, TimeRange, Timestamp};

/// Timestamps biased toward collisions: a small window (so bounds often coincide or
/// touch), plus the full range and the limits.
fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        4 => (-20i64..20).prop_map(Timestamp::from_nanos),
        2 => any::<i64>().prop_map(Timestamp::from_nanos),
        1 => prop_oneof![Just(Timestamp::MIN), Just(Timestamp::MAX), Just(Timestamp::from_nanos(i64::MIN + 1)),
            Just(Timestamp::from_nanos(i64::MAX - 1))],
    ]
}

fn bound() -> impl Strategy<Value = Bound> {
    prop_oneof![
        1 => Just(Bound::Unbounded),
        3 => timestamp().prop_map(Bound::Inclusive),
        3 => timestamp().prop_map(Bound::Exclusive),
    ]
}

/// Any value of the type, including empty `Range`s that are not normalised.
fn any_range() -> impl Strategy<Value = TimeRange> {
    prop_oneof![
        1 => Just(TimeRange::Never),
        10 => (bound(), bound()).prop_map(|(start, end)| TimeRange::Range { start, end }),
    ]
}

/// Timestamps at which to probe membership: every bound of the ranges, one either side,
/// the limits and a few others.
fn probes(ranges: &[TimeRange], extra: &[Timestamp]) -> Vec<Timestamp> {
    let mut out: Vec<Timestamp> = vec![Timestamp::MIN, Timestamp::MAX, Timestamp::ZERO];
    out.extend_from_slice(extra);
    for r in ranges {
        for b in [r.start(), r.end()].into_iter().flatten() {
            if let Some(t) = b.timestamp() {
                out.push(t);
                out.extend(t.checked_add(Timestamp::NANOSECOND));
                out.extend(t.checked_sub(Timestamp::NANOSECOND));
            }
        }
    }
    out
}

/// Shifts: mostly small (near the small timestamps of [`timestamp`]), some anywhere,
/// and the limits, so that shifts past the representable range are common.
fn shift_by() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        4 => (-50i64..50).prop_map(Timestamp::from_nanos),
        1 => any::<i64>().prop_map(Timestamp::from_nanos),
        1 => prop_oneof![Just(Timestamp::MIN), Just(Timestamp::MAX), Just(Timestamp::NANOSECOND),
            Just(Timestamp::from_nanos(-1))],
    ]
}

/// Sample counts: mostly within a billion of zero, where most results fit; some
/// anywhere, where most are out of range.
fn count() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => -1_000_000_000i64..1_000_000_000,
        1 => any::<i64>(),
    ]
}

fn rate() -> impl Strategy<Value = Rational> {
    prop_oneof![
        Just((25, 1)),
        Just((30000, 1001)),
        Just((48000, 1)),
        Just((24000, 1001)),
        Just((60000, 1001)),
        (1u64..1_000_000, 1u64..10_000),
    ]
    .prop_map(|(n, d)| Rational::new(n, d).unwrap())
}

/// The properties, one function each, so that generated and recorded cases run the same code.
mod check {
    use super::*;

    pub fn timestamp_text_round_trips(t: Timestamp) -> Result<(), TestCaseError> {
        let text = t.to_string();
        prop_assert_eq!(text.parse::<Timestamp>(), Ok(t));
        let (neg, secs, nanos) = t.to_parts();
        prop_assert_eq!(Timestamp::from_parts(neg, secs, nanos), Ok(t));
        Ok(())
    }

    pub fn timestamp_order_is_numeric(a: Timestamp, b: Timestamp) -> Result<(), TestCaseError> {
        prop_assert_eq!(a.cmp(&b), a.as_nanos().cmp(&b.as_nanos()));
        match a.checked_sub(b) {
            Some(d) => prop_assert_eq!(d.checked_add(b), Some(a)),
            None => prop_assert!(i64::try_from(
                i128::from(a.as_nanos()) - i128::from(b.as_nanos())
            )
            .is_err()),
        }
        Ok(())
    }

    pub fn timerange_text_round_trips(r: TimeRange) -> Result<(), TestCaseError> {
        let text = r.to_string();
        prop_assert_eq!(text.parse::<TimeRange>(), Ok(r.normalised()), "{}", text);
        // Parsed values are normalised already, so printing and parsing again is exact.
        let parsed: TimeRange = text.parse().unwrap();
        prop_assert_eq!(parsed.to_string().parse::<TimeRange>(), Ok(parsed));
        Ok(())
    }

    pub fn normalised_eq_is_set_equality(a: TimeRange, b: TimeRange) -> Result<(), TestCaseError> {
        // Probing every bound and its neighbours finds any difference.
        let same = probes(&[a, b], &[])
            .into_iter()
            .all(|t| a.contains(t) == b.contains(t));
        prop_assert_eq!(a.normalised_eq(b), same);
        prop_assert_eq!(a.normalised().normalised_eq(a), true);
        Ok(())
    }

    pub fn overlap_is_symmetric_and_means_a_shared_instant(
        a: TimeRange,
        b: TimeRange,
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(a.overlaps(b), b.overlaps(a));
        let shared = probes(&[a, b], &[])
            .into_iter()
            .any(|t| a.contains(t) && b.contains(t));
        prop_assert_eq!(a.overlaps(b), shared);
        Ok(())
    }

    pub fn intersection_is_in_both(a: TimeRange, b: TimeRange) -> Result<(), TestCaseError> {
        let i = a.intersection(b);
        prop_assert!(a.contains_range(i) && b.contains_range(i));
        prop_assert!(i.normalised_eq(b.intersection(a)));
        for t in probes(&[a, b], &[]) {
            prop_assert_eq!(i.contains(t), a.contains(t) && b.contains(t), "at {}", t);
        }
        Ok(())
    }

    pub fn subtraction_and_intersection_cover_the_original(
        a: TimeRange,
        b: TimeRange,
    ) -> Result<(), TestCaseError> {
        let (before, after) = a.subtract(b);
        let i = a.intersection(b);
        prop_assert!(!before.overlaps(after) && !before.overlaps(i) && !after.overlaps(i));
        prop_assert!(!before.overlaps(b) && !after.overlaps(b));
        for t in probes(&[a, b], &[]) {
            let pieces = [before, i, after].iter().filter(|r| r.contains(t)).count();
            prop_assert_eq!(pieces, usize::from(a.contains(t)), "at {}", t);
        }
        // The pieces are in order.
        if let (Some((_, Some(e))), Some((Some(s), _))) =
            (before.nanos_half_open(), after.nanos_half_open())
        {
            prop_assert!(e <= s);
        }
        Ok(())
    }

    pub fn union_is_one_range_or_none(a: TimeRange, b: TimeRange) -> Result<(), TestCaseError> {
        let encompassing = a.extend_to_encompass(b);
        prop_assert!(encompassing.contains_range(a) && encompassing.contains_range(b));
        match a.union(b) {
            Some(u) => {
                prop_assert_eq!(u, encompassing);
                for t in probes(&[a, b], &[]) {
                    prop_assert_eq!(u.contains(t), a.contains(t) || b.contains(t), "at {}", t);
                }
            }
            None => {
                // A gap: some instant of the extent is in neither.
                let ts = probes(&[a, b], &[]);
                prop_assert!(ts
                    .into_iter()
                    .any(|t| encompassing.contains(t) && !a.contains(t) && !b.contains(t)));
            }
        }
        prop_assert_eq!(a.union(b).is_some(), b.union(a).is_some());
        Ok(())
    }

    pub fn contains_range_agrees_with_membership(
        a: TimeRange,
        b: TimeRange,
    ) -> Result<(), TestCaseError> {
        let subset = probes(&[a, b], &[])
            .into_iter()
            .all(|t| !b.contains(t) || a.contains(t));
        // Probing bounds is enough to refute, and a contained range must pass every probe.
        if a.contains_range(b) {
            prop_assert!(subset);
        } else {
            prop_assert!(!subset);
        }
        Ok(())
    }

    pub fn ordering_is_total_and_by_start(a: TimeRange, b: TimeRange) -> Result<(), TestCaseError> {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a.cmp(&b) == std::cmp::Ordering::Equal, a == b);
        if let (Some((sa, _)), Some((sb, _))) = (a.nanos_half_open(), b.nanos_half_open()) {
            // An open start admits from Timestamp::MIN, and sorts with it.
            let first = i128::from(i64::MIN);
            let (sa, sb) = (sa.unwrap_or(first), sb.unwrap_or(first));
            if sa < sb {
                prop_assert!(a < b);
            }
        }
        Ok(())
    }

    /// Every property of two ranges, for the recorded cases.
    pub fn all_of_two_ranges(a: TimeRange, b: TimeRange) -> Result<(), TestCaseError> {
        normalised_eq_is_set_equality(a, b)?;
        overlap_is_symmetric_and_means_a_shared_instant(a, b)?;
        intersection_is_in_both(a, b)?;
        subtraction_and_intersection_cover_the_original(a, b)?;
        union_is_one_range_or_none(a, b)?;
        contains_range_agrees_with_membership(a, b)?;
        ordering_is_total_and_by_start(a, b)
    }

    /// `t + by` when representable.
    fn plus(t: Timestamp, by: Timestamp) -> Option<Timestamp> {
        t.checked_add(by)
    }

    pub fn shift_moves_every_instant(
        r: TimeRange,
        by: Timestamp,
        t: Timestamp,
    ) -> Result<(), TestCaseError> {
        // Model: the shift is representable when every written bound still fits and the
        // first and last timestamps held (where bounded) still fit, so that the result
        // holds as many timestamps as `r`, however they are written.
        let fits = |n: i128| i64::try_from(n + i128::from(by.as_nanos())).is_ok();
        let representable = match r.nanos_half_open() {
            None => true,
            Some((first, past_last)) => {
                [r.start(), r.end()]
                    .into_iter()
                    .flatten()
                    .filter_map(Bound::timestamp)
                    .all(|b| plus(b, by).is_some())
                    && first.is_none_or(fits)
                    && past_last.is_none_or(|e| fits(e - 1))
            }
        };
        match r.shift(by) {
            Ok(s) => {
                prop_assert!(representable, "{} shifted by {} gave {}", r, by, s);
                prop_assert_eq!(s.is_empty(), r.is_empty());
                for t in probes(&[r], &[t]) {
                    if let Some(moved) = plus(t, by) {
                        prop_assert_eq!(s.contains(moved), r.contains(t), "at {}", t);
                    }
                }
                prop_assert_eq!(s.duration(), r.normalised().duration());
                if let Some(back) = by.checked_neg() {
                    prop_assert_eq!(s.shift(back), Ok(r.normalised()));
                }
            }
            Err(e) => {
                prop_assert_eq!(e, TimeError::OutOfRange);
                prop_assert!(!representable, "{} shifted by {}", r, by);
            }
        }
        Ok(())
    }

    pub fn counts_round_trip(count: i64, rate: Rational) -> Result<(), TestCaseError> {
        // Model: count / rate seconds, floored to a nanosecond, exactly in i128
        // (|count| × den × 10^9 < 2^63 × 2^14 × 2^30 fits).
        let exact = |c: i64| {
            (i128::from(c) * i128::from(rate.denominator()) * 1_000_000_000)
                .div_euclid(i128::from(rate.numerator()))
        };
        let t = match i64::try_from(exact(count)) {
            Ok(n) => {
                let t = Timestamp::from_count(count, rate);
                prop_assert_eq!(t, Ok(Timestamp::from_nanos(n)));
                Timestamp::from_nanos(n)
            }
            Err(_) => {
                // Sample `count` lies past the limits of the timeline.
                prop_assert_eq!(
                    Timestamp::from_count(count, rate),
                    Err(TimeError::OutOfRange)
                );
                return Ok(());
            }
        };
        // The rates here are below 1 GHz, so a sample period exceeds a nanosecond.
        prop_assert_eq!(t.to_count(rate, Rounding::Ceil), Ok(count));
        prop_assert_eq!(t.to_count(rate, Rounding::Nearest), Ok(count));
        let Some(following) = count.checked_add(1) else {
            return Ok(());
        };
        match Timestamp::from_count(following, rate) {
            Ok(next) => {
                prop_assert!(next > t);
                prop_assert_eq!(
                    next.checked_sub(Timestamp::NANOSECOND)
                        .unwrap()
                        .to_count(rate, Rounding::Floor),
                    Ok(count)
                );
            }
            Err(e) => {
                prop_assert_eq!(e, TimeError::OutOfRange);
                prop_assert!(i64::try_from(exact(following)).is_err());
            }
        }
        Ok(())
    }

    pub fn to_count_brackets_the_exact_value(n: i64, rate: Rational) -> Result<(), TestCaseError> {
        let t = Timestamp::from_nanos(n);
        let floor = t.to_count(rate, Rounding::Floor).unwrap();
        let ceil = t.to_count(rate, Rounding::Ceil).unwrap();
        let nearest = t.to_count(rate, Rounding::Nearest).unwrap();
        // floor <= n·rate < floor + 1, checked exactly in i128.
        let scaled = i128::from(n) * i128::from(rate.numerator());
        let unit = i128::from(rate.denominator()) * 1_000_000_000;
        prop_assert!(i128::from(floor) * unit <= scaled && scaled < (i128::from(floor) + 1) * unit);
        prop_assert!(ceil == floor || ceil == floor + 1);
        prop_assert_eq!(ceil == floor, scaled == i128::from(floor) * unit);
        prop_assert!(nearest == floor || nearest == ceil);
        let below = scaled - i128::from(floor) * unit;
        let above = i128::from(ceil) * unit - scaled;
        if below != above {
            prop_assert_eq!(nearest, if below < above { floor } else { ceil });
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn timestamp_text_round_trips(t in timestamp()) {
        check::timestamp_text_round_trips(t)?;
    }

    #[test]
    fn timestamp_order_is_numeric(a in timestamp(), b in timestamp()) {
        check::timestamp_order_is_numeric(a, b)?;
    }

    #[test]
    fn timerange_text_round_trips(r in any_range()) {
        check::timerange_text_round_trips(r)?;
    }

    #[test]
    fn normalised_eq_is_set_equality(a in any_range(), b in any_range()) {
        check::normalised_eq_is_set_equality(a, b)?;
    }

    #[test]
    fn overlap_is_symmetric_and_means_a_shared_instant(a in any_range(), b in any_range()) {
        check::overlap_is_symmetric_and_means_a_shared_instant(a, b)?;
    }

    #[test]
    fn intersection_is_in_both(a in any_range(), b in any_range()) {
        check::intersection_is_in_both(a, b)?;
    }

    #[test]
    fn subtraction_and_intersection_cover_the_original(a in any_range(), b in any_range()) {
        check::subtraction_and_intersection_cover_the_original(a, b)?;
    }

    #[test]
    fn union_is_one_range_or_none(a in any_range(), b in any_range()) {
        check::union_is_one_range_or_none(a, b)?;
    }

    #[test]
    fn contains_range_agrees_with_membership(a in any_range(), b in any_range()) {
        check::contains_range_agrees_with_membership(a, b)?;
    }

    #[test]
    fn shift_moves_every_instant(r in any_range(), by in shift_by(), t in -100i64..100) {
        check::shift_moves_every_instant(r, by, Timestamp::from_nanos(t))?;
    }

    #[test]
    fn ordering_is_total_and_by_start(a in any_range(), b in any_range()) {
        check::ordering_is_total_and_by_start(a, b)?;
    }

    #[test]
    fn counts_round_trip(count in count(), rate in rate()) {
        check::counts_round_trip(count, rate)?;
    }

    #[test]
    fn to_count_brackets_the_exact_value(n in any::<i64>(), rate in rate()) {
        check::to_count_brackets_the_exact_value(n, rate)?;
    }
}

/// Minimal failing inputs proptest has found, kept as values so they run on every test
/// run whatever the strategies become.
#[test]
fn recorded_cases() {
    let range = |start, end| TimeRange::Range { start, end };
    let past_last = range(Bound::Exclusive(Timestamp::MAX), Bound::Unbounded);
    let pairs = [
        (TimeRange::Never, past_last),
        (past_last, TimeRange::ETERNITY),
        (
            TimeRange::ETERNITY,
            range(
                Bound::Inclusive(Timestamp::MIN),
                Bound::Inclusive(Timestamp::ZERO),
            ),
        ),
    ];
    for (a, b) in pairs {
        check::all_of_two_ranges(a, b).unwrap();
        check::all_of_two_ranges(b, a).unwrap();
    }

    // Sample -172652206 at 1/54 Hz is 54 × 172652206 s before the origin, past
    // Timestamp::MIN: OutOfRange, which the property once unwrapped.
    let slow = Rational::new(1, 54).unwrap();
    check::counts_round_trip(-172_652_206, slow).unwrap();
    assert_eq!(
        Timestamp::from_count(-172_652_206, slow),
        Err(TimeError::OutOfRange)
    );

    // `(MAX-1ns_` holds only MAX; one nanosecond later it would hold nothing, and the
    // shift once returned that empty range instead of OutOfRange.
    let only_max = range(
        Bound::Exclusive(Timestamp::from_nanos(i64::MAX - 1)),
        Bound::Unbounded,
    );
    check::shift_moves_every_instant(only_max, Timestamp::NANOSECOND, Timestamp::ZERO).unwrap();
    assert_eq!(
        only_max.shift(Timestamp::NANOSECOND),
        Err(TimeError::OutOfRange)
    );
}
