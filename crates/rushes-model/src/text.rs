//! Time values on the wire: serde helpers for [`Timestamp`] / [`TimeRange`] text and [`TimeRangeText`].

use std::fmt;
use std::str::FromStr;

use rushes_time::{TimeRange, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ParseError;

/// A value with a spec text form, parsed with `FromStr` and written with `Display`.
pub(crate) trait TextForm: FromStr + fmt::Display {
    const WHAT: &'static str;
}

impl TextForm for Timestamp {
    const WHAT: &'static str = "timestamp";
}

impl TextForm for TimeRange {
    const WHAT: &'static str = "timerange";
}

/// Parses `s`, giving a message that quotes the input and says why it is wrong.
pub(crate) fn parse_text<T: TextForm>(s: &str) -> Result<T, ParseError>
where
    T::Err: fmt::Display,
{
    s.parse::<T>().map_err(|e| {
        let why = e.to_string();
        // rushes-time messages may already quote the input; keep only the reason then.
        let why = match why.split_once(&format!("{s:?}: ")) {
            Some((_, reason)) => reason.to_owned(),
            None => why,
        };
        ParseError::new(T::WHAT, s, why)
    })
}

/// `#[serde(with = "crate::text::plain")]` for a `Timestamp` or `TimeRange` field.
pub(crate) mod plain {
    use super::*;

    pub(crate) fn serialize<T: TextForm, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: TextForm,
        T::Err: fmt::Display,
        D: Deserializer<'de>,
    {
        let s = String::deserialize(d)?;
        parse_text(&s).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with = "crate::text::opt", default, skip_serializing_if = "Option::is_none")]`
/// for an optional `Timestamp` or `TimeRange` field.
pub(crate) mod opt {
    use super::*;

    pub(crate) fn serialize<T: TextForm, S: Serializer>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: TextForm,
        T::Err: fmt::Display,
        D: Deserializer<'de>,
    {
        let s = String::deserialize(d)?;
        parse_text(&s).map(Some).map_err(serde::de::Error::custom)
    }
}

/// Like [`opt`] for a timestamp that must not be negative (e.g. `last_duration`).
pub(crate) mod opt_non_negative {
    use super::*;

    pub(crate) use super::opt::serialize;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        let s = String::deserialize(d)?;
        let t: Timestamp = parse_text(&s).map_err(serde::de::Error::custom)?;
        if t < Timestamp::default() {
            return Err(serde::de::Error::custom(ParseError::new(
                "duration",
                &s,
                "must not be negative",
            )));
        }
        Ok(Some(t))
    }
}

/// A timerange that keeps the text it was registered with.
///
/// Segment `timerange` and `object_timerange` come back "in the form they were registered"
/// (e.g. `[0:0_10:0)` stays as written even where another spelling means the same), so
/// this type serializes the original text and offers the parsed [`TimeRange`] for logic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimeRangeText {
    text: String,
    range: TimeRange,
}

impl TimeRangeText {
    pub fn parse(s: &str) -> Result<TimeRangeText, ParseError> {
        let range = parse_text::<TimeRange>(s)?;
        Ok(TimeRangeText {
            text: s.to_owned(),
            range,
        })
    }

    /// The text as registered.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed range.
    pub fn range(&self) -> TimeRange {
        self.range
    }
}

impl From<TimeRange> for TimeRangeText {
    /// Uses the canonical text of the range.
    fn from(range: TimeRange) -> TimeRangeText {
        TimeRangeText {
            text: range.to_string(),
            range,
        }
    }
}

impl FromStr for TimeRangeText {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<TimeRangeText, ParseError> {
        TimeRangeText::parse(s)
    }
}

impl fmt::Display for TimeRangeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for TimeRangeText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for TimeRangeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TimeRangeText, D::Error> {
        let s = String::deserialize(d)?;
        TimeRangeText::parse(&s).map_err(serde::de::Error::custom)
    }
}
