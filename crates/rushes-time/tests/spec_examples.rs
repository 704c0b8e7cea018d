//! Every timestamp and timerange example of the TAMS spec parses, means what the spec
//! says, and prints back as written.
//!
//! The spec lives in `<workspace>/../shared/tams-spec` (override with `RUSHES_TAMS_SPEC`);
//! `found_in_spec_files` scans its schemas and examples, so a new example there is
//! tested without editing this file.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use rushes_time::{Bound, Rational, Rounding, TimeRange, Timestamp};
use serde_json::Value;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn tr(s: &str) -> TimeRange {
    s.parse().unwrap()
}

#[test]
fn schema_descriptions_and_application_note() {
    // timestamp.json
    let r25 = Rational::integer(25).unwrap();
    assert_eq!(
        ts("1:40000000").to_count(r25, Rounding::Floor),
        Ok(26),
        "the 27th frame at 25 Hz"
    );
    assert_eq!(Timestamp::from_count(26, r25), Ok(ts("1:40000000")));
    assert_eq!(ts("1694429247:40000000").to_string(), "1694429247:40000000");

    // timerange.json
    let ten = tr("[0:0_10:0)");
    assert_eq!(ten.duration(), Some(ts("10:0")));
    assert!(ten.contains(ts("0:0")) && !ten.contains(ts("10:0")));
    let after = tr("(5:0_");
    assert_eq!(
        after,
        TimeRange::new(Bound::Exclusive(ts("5:0")), Bound::Unbounded)
    );
    assert!(
        !after.contains(ts("5:0")) && after.contains(ts("5:1")) && after.contains(Timestamp::MAX)
    );
    assert!(tr("_").is_eternity());
    assert!(tr("()").is_empty());
    assert_eq!(
        tr("[1694429247:0_1694429248:0)").duration(),
        Some(ts("1:0"))
    );
    assert_eq!(tr("[1694429247:0]"), tr("[1694429247:0_1694429247:0]"));
    assert_eq!(
        tr("[1694429247:0_1694429247:0]").to_string(),
        "[1694429247:0]"
    );
    assert!(tr("[1694429247:0]").is_instantaneous());
    assert!(
        "(1694429247:0)".parse::<TimeRange>().is_err(),
        "instantaneous ranges cannot use exclusive markers"
    );

    // Application note 0008.
    assert!(tr("[10:0]").is_instantaneous());
    assert_eq!(tr("[10:0]").duration(), Some(Timestamp::ZERO));
    assert_eq!(
        tr("[2:0_1:0]"),
        TimeRange::Never,
        "end before start is empty"
    );
    assert_eq!(
        tr("[1:0_1:0)"),
        TimeRange::Never,
        "equal ends with an exclusive marker are empty"
    );
    assert_eq!(
        tr("[-5:0_-1:0)").duration(),
        Some(ts("4:0")),
        "timestamps can be negative"
    );
    // Application note 0012: three spellings of an instant.
    assert_eq!(tr("10:0"), tr("[10:0]"));
    assert_eq!(tr("[10:0_10:0]"), tr("[10:0]"));

    // The spec's segment edge case: `[1:0_2:0)` then `[2:0]`.
    assert!(!tr("[1:0_2:0)").overlaps(tr("[2:0]")));
    assert_eq!(tr("[1:0_2:0)").union(tr("[2:0]")), Some(tr("[1:0_2:0]")));

    // Offsets and timeouts in the examples.
    assert_eq!(ts("-100:0").as_nanos(), -100_000_000_000);
    assert!(ts("300:0") >= ts("30:0"));
    assert_eq!(
        tr("[1537349337:0_1537349347:21333333)").duration(),
        Some(ts("10:21333333"))
    );
}

const LISTED: &[&str] = &[
    "[0:0_10:0)",
    "(5:0_",
    "_",
    "()",
    "[1694429247:0_1694429248:0)",
    "[1694429247:0]",
    "[10:0]",
    "[2:0]",
    "[1:0_2:0)",
    "[0:0_1000:0)",
    "[0:0_30:0)",
    "[100:0_110:0)",
    "[10:0_20:0)",
    "[110:0_120:0)",
    "[120:0_130:0)",
    "[150:0_200:0)",
    "[1537349337:0_1537349347:21333333)",
    "[1537349339:0_1537349347:21333333)",
    "[20:0_21:0)",
    "[20:0_30:0)",
    "[28:0_30:0)",
    "[900:0_1000:0)",
];

#[test]
fn listed_examples_print_as_written() {
    for s in LISTED {
        assert_eq!(tr(s).to_string(), *s);
    }
    assert_eq!(
        tr("[1694429247:0_1694429247:0]").to_string(),
        "[1694429247:0]",
        "the preferred short form"
    );
    for s in [
        "1:40000000",
        "1694429247:40000000",
        "0:0",
        "-100:0",
        "600:0",
        "610:0",
        "300:0",
        "30:0",
        "5:0",
        "10:0",
    ] {
        assert_eq!(ts(s).to_string(), s);
    }
}

fn spec_dir() -> PathBuf {
    match std::env::var_os("RUSHES_TAMS_SPEC") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tams-spec"),
    }
}

/// Keys whose string values are timestamps or timeranges in the examples.
fn kind_of(key: &str) -> Option<&'static str> {
    if key.contains("timerange") {
        Some("timerange")
    } else if matches!(
        key,
        "ts_offset" | "last_duration" | "min_object_timeout" | "min_presigned_url_timeout"
    ) {
        Some("timestamp")
    } else {
        None
    }
}

fn collect(v: &Value, key: Option<&str>, out: &mut Vec<(&'static str, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                collect(v, Some(k), out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect(v, key, out)),
        Value::String(s) => {
            if let Some(kind) = key.and_then(kind_of) {
                out.push((kind, s.clone()));
            }
            // Backquoted examples in descriptions: `[0:0_10:0)`, `(5:0_`, `1:40000000`.
            if key == Some("description") {
                for (i, quoted) in s.split('`').enumerate() {
                    if i % 2 == 1
                        && quoted.contains(':')
                        && quoted.bytes().any(|b| b.is_ascii_digit())
                    {
                        let kind = if quoted.contains('_') || quoted.starts_with(['[', '(']) {
                            "timerange"
                        } else {
                            "timestamp"
                        };
                        if !quoted.contains(' ') && !quoted.contains('{') {
                            out.push((kind, quoted.to_string()));
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

#[test]
fn found_in_spec_files() {
    let dir = spec_dir();
    let mut found = Vec::new();
    for sub in ["schemas", "examples"] {
        let entries = std::fs::read_dir(dir.join(sub)).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e} (set RUSHES_TAMS_SPEC to the spec's directory)",
                dir.join(sub).display()
            )
        });
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                collect(&v, None, &mut found);
            }
        }
    }
    assert!(
        found.len() >= 20,
        "only {} examples found in {}",
        found.len(),
        dir.display()
    );
    let ranges = found.iter().filter(|(k, _)| *k == "timerange").count();
    assert!(ranges >= 15, "only {ranges} timerange examples");
    for (kind, text) in &found {
        let printed = if *kind == "timerange" {
            text.parse::<TimeRange>().map(|r| r.to_string())
        } else {
            text.parse::<Timestamp>().map(|t| t.to_string())
        };
        let printed =
            printed.unwrap_or_else(|e| panic!("spec example {kind} {text:?} does not parse: {e}"));
        // Every example is written in the preferred form, except the long spelling of an instant.
        if text != "[1694429247:0_1694429247:0]" {
            assert_eq!(&printed, text, "{kind} example");
        }
    }
}
