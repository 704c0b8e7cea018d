//! [`Rational`]: exact rates such as 25, 30000/1001 and 48000.

use crate::TimeError;

/// A positive rational number, e.g. a frame rate of 30000/1001 or a sample rate of 48000/1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    num: u64,
    den: u64,
}

impl Rational {
    pub fn new(num: u64, den: u64) -> Result<Rational, TimeError> {
        if num == 0 || den == 0 {
            return Err(TimeError::InvalidRate);
        }
        Ok(Rational { num, den })
    }

    pub const fn numerator(self) -> u64 {
        self.num
    }

    pub const fn denominator(self) -> u64 {
        self.den
    }
}
