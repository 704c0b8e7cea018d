//! [`ParseError`]: why a piece of wire text is not a valid value.

use std::fmt;

/// A value from outside (an id, a MIME type, a timerange) that does not match the spec.
///
/// Its message names what was expected, quotes the input and says why, so the API can
/// return it as the summary of a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    what: &'static str,
    input: String,
    reason: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, input: &str, reason: impl Into<String>) -> ParseError {
        // Keep messages readable even for huge inputs.
        let input = if input.chars().count() > 80 {
            let mut s: String = input.chars().take(80).collect();
            s.push('…');
            s
        } else {
            input.to_owned()
        };
        ParseError {
            what,
            input,
            reason: reason.into(),
        }
    }

    /// What kind of value was expected, e.g. `"flow id"`.
    pub fn what(&self) -> &'static str {
        self.what
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} {:?}: {}", self.what, self.input, self.reason)
    }
}

impl std::error::Error for ParseError {}
