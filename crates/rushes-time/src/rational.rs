//! [`Rational`]: exact rates such as 25, 30000/1001 and 48000.

use std::fmt;
use std::str::FromStr;

use crate::TimeError;

/// A positive rational number in lowest terms, e.g. a frame rate of 30000/1001 or a
/// sample rate of 48000/1.
///
/// [`Rational::new`] reduces the fraction, so `Rational::new(50, 2)` equals
/// `Rational::new(25, 1)` and its [`numerator`](Rational::numerator) is 25.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    num: u64,
    den: u64,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Rational {
    /// `num / den` in lowest terms; [`TimeError::InvalidRate`] if either is zero.
    pub fn new(num: u64, den: u64) -> Result<Rational, TimeError> {
        if num == 0 || den == 0 {
            return Err(TimeError::InvalidRate);
        }
        let g = gcd(num, den);
        Ok(Rational {
            num: num / g,
            den: den / g,
        })
    }

    /// A whole rate such as 25 or 48000; [`TimeError::InvalidRate`] for zero.
    pub fn integer(n: u64) -> Result<Rational, TimeError> {
        Rational::new(n, 1)
    }

    pub const fn numerator(self) -> u64 {
        self.num
    }

    pub const fn denominator(self) -> u64 {
        self.den
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Rational) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Rational) -> std::cmp::Ordering {
        (u128::from(self.num) * u128::from(other.den))
            .cmp(&(u128::from(other.num) * u128::from(self.den)))
    }
}

impl fmt::Display for Rational {
    /// `30000/1001`, or `25` when the denominator is 1.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl FromStr for Rational {
    type Err = TimeError;

    /// `25`, `30000/1001`: decimal digits only, positive.
    fn from_str(s: &str) -> Result<Rational, TimeError> {
        let bad = || {
            TimeError::Syntax(format!(
                "invalid rate {s:?}: expected e.g. \"25\" or \"30000/1001\""
            ))
        };
        let part = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse::<u64>().map_err(|_| TimeError::OutOfRange)
        };
        let (num, den) = match s.split_once('/') {
            Some((n, d)) => (part(n)?, part(d)?),
            None => (part(s)?, 1),
        };
        Rational::new(num, den)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reduces_and_orders() {
        let r = Rational::new(50, 2).unwrap();
        assert_eq!((r.numerator(), r.denominator()), (25, 1));
        assert_eq!(r, Rational::integer(25).unwrap());
        assert_eq!(
            Rational::new(60000, 2002).unwrap(),
            Rational::new(30000, 1001).unwrap()
        );
        assert!(Rational::new(30000, 1001).unwrap() < Rational::integer(30).unwrap());
        assert!(Rational::new(u64::MAX, 1).unwrap() > Rational::new(u64::MAX - 1, 1).unwrap());
        assert_eq!(Rational::new(0, 1), Err(TimeError::InvalidRate));
        assert_eq!(Rational::new(1, 0), Err(TimeError::InvalidRate));
    }

    #[test]
    fn text_round_trips() {
        for s in ["25", "30000/1001", "48000", "1/18446744073709551615"] {
            assert_eq!(s.parse::<Rational>().unwrap().to_string(), s);
        }
        assert_eq!("48000/1".parse::<Rational>().unwrap().to_string(), "48000");
        assert_eq!("0/1".parse::<Rational>(), Err(TimeError::InvalidRate));
        assert_eq!(
            "99999999999999999999".parse::<Rational>(),
            Err(TimeError::OutOfRange)
        );
        for bad in ["", "/", "1/", "/1", "-1", "1.5", "1/2/3", "+1"] {
            assert!(
                matches!(bad.parse::<Rational>(), Err(TimeError::Syntax(_))),
                "{bad:?}"
            );
        }
    }
}
