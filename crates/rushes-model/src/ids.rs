//! Identifiers: UUID newtypes per resource, and the validated [`ObjectId`] string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::ParseError;

/// Checks the spec's `uuid.json` pattern:
/// `^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`.
fn check_uuid_text(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return Err("expected 36 characters in the form xxxxxxxx-xxxx-Mxxx-Nxxx-xxxxxxxxxxxx");
    }
    for (i, &c) in b.iter().enumerate() {
        let hyphen = matches!(i, 8 | 13 | 18 | 23);
        if hyphen {
            if c != b'-' {
                return Err("expected hyphens at positions 9, 14, 19 and 24");
            }
        } else if !matches!(c, b'0'..=b'9' | b'a'..=b'f') {
            return Err("expected lowercase hexadecimal digits");
        }
    }
    if !matches!(b[14], b'1'..=b'5') {
        return Err("UUID version must be 1 to 5");
    }
    if !matches!(b[19], b'8' | b'9' | b'a' | b'b') {
        return Err("UUID variant must be RFC 9562 (8, 9, a or b)");
    }
    Ok(())
}

fn valid_uuid(u: &Uuid) -> bool {
    matches!(u.get_version_num(), 1..=5) && u.get_variant() == uuid::Variant::RFC4122
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        ///
        /// Text form: a lowercase hyphenated UUID (versions 1 to 5), as the spec's `uuid.json`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (version 4) identifier.
            pub fn new_random() -> $name {
                $name(Uuid::new_v4())
            }

            /// Parses the spec's text form.
            pub fn parse(s: &str) -> Result<$name, ParseError> {
                check_uuid_text(s).map_err(|why| ParseError::new($what, s, why))?;
                Uuid::parse_str(s).map($name).map_err(|e| ParseError::new($what, s, e.to_string()))
            }

            /// Wraps a UUID, refusing versions and variants the spec's pattern does not allow.
            pub fn from_uuid(u: Uuid) -> Result<$name, ParseError> {
                if valid_uuid(&u) {
                    Ok($name(u))
                } else {
                    Err(ParseError::new($what, &u.to_string(), "UUID must be RFC 9562 version 1 to 5"))
                }
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<$name, ParseError> {
                $name::parse(s)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// Identifies a Flow.
    FlowId, "flow id"
);
uuid_id!(
    /// Identifies a Source.
    SourceId, "source id"
);
uuid_id!(
    /// Identifies a registered webhook.
    WebhookId, "webhook id"
);
uuid_id!(
    /// Identifies a Storage Backend.
    StorageBackendId, "storage backend id"
);
uuid_id!(
    /// Identifies a deletion request.
    DeletionRequestId, "deletion request id"
);
uuid_id!(
    /// Identifies a Profile.
    ProfileId, "profile id"
);

/// Identifies a Media Object (or an initialisation Object).
///
/// The spec allows any string; this store accepts 1 to 256 characters of
/// `[A-Za-z0-9._~-]` other than `.` and `..`, so that an id is safe unescaped in URLs
/// and in storage paths.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(String);

impl ObjectId {
    /// The longest id accepted, in characters.
    pub const MAX_LEN: usize = 256;

    pub fn parse(s: &str) -> Result<ObjectId, ParseError> {
        let bad = |why: &str| ParseError::new("object id", s, why);
        if s.is_empty() {
            return Err(bad("must not be empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(bad("must be at most 256 characters"));
        }
        if s == "." || s == ".." {
            return Err(bad("must not be `.` or `..`"));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')))
        {
            return Err(bad(&format!(
                "character {c:?} is not allowed (use A-Z a-z 0-9 . _ ~ -)"
            )));
        }
        Ok(ObjectId(s.to_owned()))
    }

    /// A new random id (a version 4 UUID in text form).
    pub fn new_random() -> ObjectId {
        ObjectId(Uuid::new_v4().hyphenated().to_string())
    }

    /// A new unique id that sorts after the ids made before it (a version 7 UUID in text
    /// form: a millisecond timestamp, then random bits). Objects allocated together are
    /// then neighbours in every index keyed by object id, so registering a flow's next
    /// segments writes a few index pages, not one page per object.
    pub fn new_time_ordered() -> ObjectId {
        ObjectId(Uuid::now_v7().hyphenated().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ObjectId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<ObjectId, ParseError> {
        ObjectId::parse(s)
    }
}

impl AsRef<str> for ObjectId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ObjectId, D::Error> {
        let s = String::deserialize(d)?;
        ObjectId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_follow_the_spec_pattern() {
        let id = FlowId::parse("4f79cfd1-c057-47f4-8e4d-1b126ca7bf34").unwrap();
        assert_eq!(id.to_string(), "4f79cfd1-c057-47f4-8e4d-1b126ca7bf34");
        assert!(FlowId::parse("4F79CFD1-C057-47F4-8E4D-1B126CA7BF34").is_err());
        assert!(FlowId::parse("4f79cfd1c05747f48e4d1b126ca7bf34").is_err());
        assert!(
            FlowId::parse("4f79cfd1-c057-77f4-8e4d-1b126ca7bf34").is_err(),
            "version 7"
        );
        assert!(
            FlowId::parse("4f79cfd1-c057-47f4-ce4d-1b126ca7bf34").is_err(),
            "variant"
        );
        assert!(FlowId::parse("").is_err());
        let e = SourceId::parse("nope").unwrap_err().to_string();
        assert!(e.contains("source id") && e.contains("\"nope\""), "{e}");
        let r = FlowId::new_random();
        assert_eq!(FlowId::parse(&r.to_string()).unwrap(), r);
    }

    #[test]
    fn object_ids_are_url_and_path_safe() {
        for ok in [
            "a",
            "846023d3-612d-5014-bc47-88f6eb2d04bb",
            "x.y_z~1-2",
            "...",
        ] {
            assert_eq!(ObjectId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", ".", "..", "a/b", "a b", "a%2F", "é", &"a".repeat(257)] {
            assert!(ObjectId::parse(bad).is_err(), "{bad}");
        }
        assert!(ObjectId::parse(&"a".repeat(256)).is_ok());
        assert!(ObjectId::parse(ObjectId::new_random().as_str()).is_ok());
    }
}
