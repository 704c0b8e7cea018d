//! Byte ranges of an object, resolved against its size.

use std::ops::Range;

/// A byte range as a client asks for it, before the object's size is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// Bytes `first..=last` (HTTP `bytes=first-last`); `last` may lie past the end.
    Inclusive {
        /// First byte wanted.
        first: u64,
        /// Last byte wanted, inclusive.
        last: u64,
    },
    /// Bytes from `first` to the end (HTTP `bytes=first-`).
    From(u64),
    /// The last `n` bytes (HTTP `bytes=-n`); the whole object if it is shorter.
    Suffix(u64),
}

impl ByteRange {
    /// The half-open range of an object of `size` bytes that this selects, or `None` when no
    /// byte of the object is selected (HTTP 416).
    ///
    /// An `Inclusive` range with `last < first` selects nothing.
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        let range = match self {
            ByteRange::Inclusive { first, last } => {
                if last < first {
                    return None;
                }
                first..last.saturating_add(1).min(size)
            }
            ByteRange::From(first) => first..size,
            ByteRange::Suffix(n) => size.saturating_sub(n)..size,
        };
        (range.start < range.end).then_some(range)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_http() {
        assert_eq!(
            ByteRange::Inclusive { first: 0, last: 9 }.resolve(100),
            Some(0..10)
        );
        assert_eq!(
            ByteRange::Inclusive {
                first: 90,
                last: 200
            }
            .resolve(100),
            Some(90..100)
        );
        assert_eq!(
            ByteRange::Inclusive {
                first: 99,
                last: u64::MAX
            }
            .resolve(100),
            Some(99..100)
        );
        assert_eq!(
            ByteRange::Inclusive {
                first: 100,
                last: 100
            }
            .resolve(100),
            None
        );
        assert_eq!(
            ByteRange::Inclusive { first: 5, last: 4 }.resolve(100),
            None
        );
        assert_eq!(ByteRange::From(10).resolve(100), Some(10..100));
        assert_eq!(ByteRange::From(100).resolve(100), None);
        assert_eq!(ByteRange::Suffix(10).resolve(100), Some(90..100));
        assert_eq!(ByteRange::Suffix(1000).resolve(100), Some(0..100));
        assert_eq!(ByteRange::Suffix(0).resolve(100), None);
        assert_eq!(ByteRange::From(0).resolve(0), None);
        assert_eq!(ByteRange::Suffix(5).resolve(0), None);
    }
}
