//! [`Error`]: what a call to a TAMS store can fail with.

use reqwest::{Method, StatusCode};
use rushes_model::ErrorBody;

/// The most of an error answer's body kept as text.
const MAX_TEXT: usize = 4096;

/// A failed call to a TAMS store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL or a URL built from it is not a usable `http(s)` URL.
    #[error("invalid URL {url:?}: {why}")]
    InvalidUrl { url: String, why: String },
    /// The HTTP client could not be built (e.g. the TLS back end failed to start).
    #[error("building the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    /// The request never got an answer: connection refused, reset, timed out.
    #[error("{method} {url}: {source}")]
    Transport {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The store answered with a status that is not a success. `body` is the spec's
    /// error object (`{type, summary, time}`) when the store sent one; `text` is the
    /// start of the raw body in any case.
    #[error("{method} {url}: {status}{}", summary(.body, .text))]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: Option<Box<ErrorBody>>,
        text: String,
    },
    /// A success answer whose body is not what the spec says.
    #[error("{method} {url}: unexpected answer: {why}")]
    Decode {
        method: Method,
        url: String,
        why: String,
    },
    /// Reading a local file to upload failed.
    #[error("reading {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn summary(body: &Option<Box<ErrorBody>>, text: &str) -> String {
    match body {
        Some(b) => format!(" {}: {}", b.error_type, b.summary),
        None if text.is_empty() => String::new(),
        None => format!(" {text}"),
    }
}

impl Error {
    /// The HTTP status of a [`Error::Status`] answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The spec's error object of a [`Error::Status`] answer, when the store sent one.
    pub fn error_body(&self) -> Option<&ErrorBody> {
        match self {
            Error::Status { body, .. } => body.as_deref(),
            _ => None,
        }
    }

    /// Whether the store answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    pub(crate) fn status_from(
        method: Method,
        url: String,
        status: StatusCode,
        raw: &[u8],
    ) -> Error {
        let body = serde_json::from_slice::<ErrorBody>(raw).ok().map(Box::new);
        let mut text = String::from_utf8_lossy(raw).into_owned();
        if text.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        Error::Status {
            method,
            url,
            status,
            body,
            text,
        }
    }
}
