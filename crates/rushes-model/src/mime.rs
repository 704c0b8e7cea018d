//! [`MimeType`]: a `type/subtype` string as used for Flow `codec` and `container`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ParseError;

/// A MIME type without parameters, e.g. `video/h264`.
///
/// [`MimeType::parse`] follows the Flow `codec`/`container` pattern `^[^\s/]+/[^\s/]+$`;
/// [`MimeType::parse_strict`] follows `mime-type.json` (RFC 2045 type names and tokens),
/// which the spec uses for storage `content_type` and query parameters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MimeType(String);

impl MimeType {
    pub fn parse(s: &str) -> Result<MimeType, ParseError> {
        let bad = |why: &str| ParseError::new("MIME type", s, why);
        let Some((t, sub)) = s.split_once('/') else {
            return Err(bad("expected `type/subtype`"));
        };
        if t.is_empty() || sub.is_empty() {
            return Err(bad("type and subtype must not be empty"));
        }
        if sub.contains('/') {
            return Err(bad("expected exactly one `/`"));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(bad("must not contain whitespace"));
        }
        Ok(MimeType(s.to_owned()))
    }

    pub fn parse_strict(s: &str) -> Result<MimeType, ParseError> {
        let bad = |why: &str| ParseError::new("MIME type", s, why);
        let token = |x: &str| {
            !x.is_empty()
                && x.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+.^_`|~-".contains(c))
        };
        let Some((t, sub)) = s.split_once('/') else {
            return Err(bad("expected `type/subtype`"));
        };
        let known = [
            "application",
            "audio",
            "font",
            "example",
            "image",
            "message",
            "model",
            "multipart",
            "text",
            "video",
        ];
        let type_ok = known.contains(&t) || t.strip_prefix("x-").is_some_and(token);
        if !type_ok {
            return Err(bad("unknown top-level type (expected application, audio, image, text, video, ... or x-...)"));
        }
        if !token(sub) {
            return Err(bad("subtype must be a non-empty RFC 2045 token"));
        }
        Ok(MimeType(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MimeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MimeType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<MimeType, ParseError> {
        MimeType::parse(s)
    }
}

impl Serialize for MimeType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MimeType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MimeType, D::Error> {
        let s = String::deserialize(d)?;
        MimeType::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(deserialize_with)]` for an optional field following `mime-type.json`.
pub(crate) fn deserialize_strict_opt<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<MimeType>, D::Error> {
    let s = String::deserialize(d)?;
    MimeType::parse_strict(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        for ok in [
            "video/h264",
            "audio/x-raw-int",
            "application/ttml+xml",
            "video/iso.segment",
        ] {
            assert!(MimeType::parse(ok).is_ok(), "{ok}");
            assert!(MimeType::parse_strict(ok).is_ok(), "{ok}");
        }
        for bad in ["video", "video/", "/h264", "a/b/c", "video/h 264", ""] {
            assert!(MimeType::parse(bad).is_err(), "{bad}");
        }
        assert!(MimeType::parse("foo/bar").is_ok());
        assert!(MimeType::parse_strict("foo/bar").is_err());
        assert!(MimeType::parse_strict("x-foo/bar").is_ok());
    }
}
