//! Property tests: text round-trips and the algebra of timeranges, checked against a
//! brute-force model (membership of sample timestamps).

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rushes_time::{Bound, Rational, Rounding, TimeRange, Timestamp};

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn timestamp_text_round_trips(t in timestamp()) {
        let text = t.to_string();
        prop_assert_eq!(text.parse::<Timestamp>(), Ok(t));
        let (neg, secs, nanos) = t.to_parts();
        prop_assert_eq!(Timestamp::from_parts(neg, secs, nanos), Ok(t));
    }

    #[test]
    fn timestamp_order_is_numeric(a in timestamp(), b in timestamp()) {
        prop_assert_eq!(a.cmp(&b), a.as_nanos().cmp(&b.as_nanos()));
        match a.checked_sub(b) {
            Some(d) => prop_assert_eq!(d.checked_add(b), Some(a)),
            None => prop_assert!(i64::try_from(i128::from(a.as_nanos()) - i128::from(b.as_nanos())).is_err()),
        }
    }

    #[test]
    fn timerange_text_round_trips(r in any_range()) {
        let text = r.to_string();
        prop_assert_eq!(text.parse::<TimeRange>(), Ok(r.normalised()), "{}", text);
        // Parsed values are normalised already, so printing and parsing again is exact.
        let parsed: TimeRange = text.parse().unwrap();
        prop_assert_eq!(parsed.to_string().parse::<TimeRange>(), Ok(parsed));
    }

    #[test]
    fn normalised_eq_is_set_equality(a in any_range(), b in any_range()) {
        // Probing every bound and its neighbours finds any difference.
        let same = probes(&[a, b], &[]).into_iter().all(|t| a.contains(t) == b.contains(t));
        prop_assert_eq!(a.normalised_eq(b), same);
        prop_assert_eq!(a.normalised().normalised_eq(a), true);
    }

    #[test]
    fn overlap_is_symmetric_and_means_a_shared_instant(a in any_range(), b in any_range()) {
        prop_assert_eq!(a.overlaps(b), b.overlaps(a));
        let shared = probes(&[a, b], &[]).into_iter().any(|t| a.contains(t) && b.contains(t));
        prop_assert_eq!(a.overlaps(b), shared);
    }

    #[test]
    fn intersection_is_in_both(a in any_range(), b in any_range()) {
        let i = a.intersection(b);
        prop_assert!(a.contains_range(i) && b.contains_range(i));
        prop_assert!(i.normalised_eq(b.intersection(a)));
        for t in probes(&[a, b], &[]) {
            prop_assert_eq!(i.contains(t), a.contains(t) && b.contains(t), "at {}", t);
        }
    }

    #[test]
    fn subtraction_and_intersection_cover_the_original(a in any_range(), b in any_range()) {
        let (before, after) = a.subtract(b);
        let i = a.intersection(b);
        prop_assert!(!before.overlaps(after) && !before.overlaps(i) && !after.overlaps(i));
        prop_assert!(!before.overlaps(b) && !after.overlaps(b));
        for t in probes(&[a, b], &[]) {
            let pieces = [before, i, after].iter().filter(|r| r.contains(t)).count();
            prop_assert_eq!(pieces, usize::from(a.contains(t)), "at {}", t);
        }
        // The pieces are in order.
        if let (Some((_, Some(e))), Some((Some(s), _))) = (before.nanos_half_open(), after.nanos_half_open()) {
            prop_assert!(e <= s);
        }
    }

    #[test]
    fn union_is_one_range_or_none(a in any_range(), b in any_range()) {
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
                prop_assert!(ts.into_iter().any(|t| encompassing.contains(t) && !a.contains(t) && !b.contains(t)));
            }
        }
        prop_assert_eq!(a.union(b).is_some(), b.union(a).is_some());
    }

    #[test]
    fn contains_range_agrees_with_membership(a in any_range(), b in any_range()) {
        let subset = probes(&[a, b], &[]).into_iter().all(|t| !b.contains(t) || a.contains(t));
        // Probing bounds is enough to refute, and a contained range must pass every probe.
        if a.contains_range(b) {
            prop_assert!(subset);
        } else {
            prop_assert!(!subset);
        }
    }

    #[test]
    fn shift_moves_every_instant(r in any_range(), by in -50i64..50, t in -100i64..100) {
        let by = Timestamp::from_nanos(by);
        match r.shift(by) {
            Ok(s) => {
                let t = Timestamp::from_nanos(t);
                prop_assert_eq!(s.contains(t.checked_add(by).unwrap()), r.contains(t));
                prop_assert_eq!(s.duration(), r.normalised().duration());
                prop_assert_eq!(s.shift(by.checked_neg().unwrap()), Ok(r.normalised()));
            }
            Err(_) => prop_assert!(!r.is_empty()),
        }
    }

    #[test]
    fn ordering_is_total_and_by_start(a in any_range(), b in any_range()) {
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
    }

    #[test]
    fn counts_round_trip(count in -1_000_000_000i64..1_000_000_000, rate in rate()) {
        let t = Timestamp::from_count(count, rate).unwrap();
        // The rates here are below 1 GHz, so a sample period exceeds a nanosecond.
        prop_assert_eq!(t.to_count(rate, Rounding::Ceil), Ok(count));
        prop_assert_eq!(t.to_count(rate, Rounding::Nearest), Ok(count));
        let next = Timestamp::from_count(count + 1, rate).unwrap();
        prop_assert!(next > t);
        prop_assert_eq!(next.checked_sub(Timestamp::NANOSECOND).unwrap().to_count(rate, Rounding::Floor), Ok(count));
    }

    #[test]
    fn to_count_brackets_the_exact_value(n in any::<i64>(), rate in rate()) {
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
    }
}
