//! Object ids and the storage keys they map to.

use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::ObjectsError;

/// Longest object id accepted, in bytes.
pub const MAX_OBJECT_ID_LEN: usize = 256;

/// Prefix under which every media object is stored.
pub(crate) const OBJECTS_PREFIX: &str = "objects";

/// Check that `id` is an object id: 1 to 256 characters of `[A-Za-z0-9._~-]`, not `.` or `..`.
///
/// Such an id is safe as a single path segment and as a URL path segment without escaping.
pub fn validate_object_id(id: &str) -> Result<(), ObjectsError> {
    if id.is_empty() {
        return Err(ObjectsError::InvalidObjectId("empty"));
    }
    if id.len() > MAX_OBJECT_ID_LEN {
        return Err(ObjectsError::InvalidObjectId("longer than 256 characters"));
    }
    if id == "." || id == ".." {
        return Err(ObjectsError::InvalidObjectId(
            "'.' and '..' are not object ids",
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
    {
        return Err(ObjectsError::InvalidObjectId(
            "only the characters A-Z a-z 0-9 . _ ~ - are allowed",
        ));
    }
    Ok(())
}

/// The two shard directories of an id: the first two bytes of its SHA-256, in hex.
fn shards(id: &str) -> (String, String) {
    let digest = Sha256::digest(id.as_bytes());
    (format!("{:02x}", digest[0]), format!("{:02x}", digest[1]))
}

/// The storage key of a (validated) object id: `objects/<h0>/<h1>/<id>`.
///
/// Hashing spreads ids evenly over 65,536 directories whatever their shape, so no directory
/// grows huge, and a validated id is one plain path segment, so no key leaves the prefix.
pub(crate) fn object_key(id: &str) -> Result<Path, ObjectsError> {
    validate_object_id(id)?;
    let (a, b) = shards(id);
    Ok(Path::from_iter([OBJECTS_PREFIX, &a, &b, id]))
}

/// The object id stored at `key`, if `key` is exactly where that id belongs.
pub(crate) fn object_id_of_key(key: &Path) -> Option<String> {
    let name = key.filename()?;
    // Keys percent-encode `~` (the only id character `object_store` escapes).
    let id = name.replace("%7E", "~");
    let expected = object_key(&id).ok()?;
    (&expected == key).then_some(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_characters() {
        for id in ["a", "0", "abc-DEF_123.~x", "..a", "a..", &"x".repeat(256)] {
            validate_object_id(id).unwrap();
        }
    }

    #[test]
    fn refuses_traversal_and_odd_characters() {
        let long = "x".repeat(257);
        for id in [
            "", ".", "..", "a/b", "../a", "a\\b", "a b", "a%2Fb", "a\0", "é", "a?b", "a#1", "a:b",
            &long,
        ] {
            assert!(validate_object_id(id).is_err(), "{id:?} accepted");
            assert!(object_key(id).is_err(), "{id:?} keyed");
        }
    }

    #[test]
    fn keys_are_sharded_and_round_trip() {
        let key = object_key("some-object.mp4").unwrap();
        let parts: Vec<String> = key.parts().map(|p| p.as_ref().to_owned()).collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0], "objects");
        assert_eq!(parts[1].len(), 2);
        assert_eq!(parts[2].len(), 2);
        assert_eq!(parts[3], "some-object.mp4");
        assert_eq!(object_id_of_key(&key).as_deref(), Some("some-object.mp4"));
        let tilde = object_key("a~b").unwrap();
        assert_eq!(object_id_of_key(&tilde).as_deref(), Some("a~b"));
        // Another id sorts elsewhere, and a file in the wrong shard is not an object.
        assert_ne!(object_key("other").unwrap(), key);
        let stray = Path::from_iter(["objects", parts[1].as_str(), parts[2].as_str(), "other"]);
        assert_eq!(object_id_of_key(&stray), None);
    }
}
