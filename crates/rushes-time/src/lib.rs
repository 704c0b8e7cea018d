//! Exact TAMS time: [`Timestamp`] (signed integer nanoseconds), [`TimeRange`]
//! (bounds with inclusivity, open ends, eternity `_` and the empty range `()`), and
//! [`Rational`] rates for converting between timestamps and sample counts with an
//! explicit [`Rounding`].
//!
//! Text follows the TAMS spec's `timestamp.json` and `timerange.json` patterns and the
//! `Timestamps in TAMS` application note; `Display` and `FromStr` round-trip.
//! Nothing here wraps or panics on input: out of range is [`TimeError::OutOfRange`].
//!
//! Pure: no I/O, no dependencies, no floating point. Tested against BBC's Python
//! `mediatimestamp` by `tests/differential.rs` (see `tools/mediatimestamp_oracle.py`).

mod rational;
mod timerange;
mod timestamp;

pub use rational::Rational;
pub use timerange::{Bound, TimeRange};
pub use timestamp::{Rounding, Timestamp};

/// Why a timestamp, timerange or rate could not be parsed or computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeError {
    /// The text does not match the spec's pattern; the message says where.
    Syntax(String),
    /// The value is outside the representable range (see [`Timestamp::MIN`] / [`Timestamp::MAX`]).
    OutOfRange,
    /// A rate with a zero or negative numerator or denominator.
    InvalidRate,
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeError::Syntax(m) => write!(f, "{m}"),
            TimeError::OutOfRange => write!(f, "value out of the representable time range"),
            TimeError::InvalidRate => {
                write!(f, "rates must have a positive numerator and denominator")
            }
        }
    }
}

impl std::error::Error for TimeError {}
