//! [`ApiError`]: the one mapping from failures to HTTP answers in the spec's error shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rushes_core::CoreError;

/// An error answer: a status and the spec's error body (`type`, `summary`, `time`).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub summary: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, summary: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            summary: summary.into(),
        }
    }

    pub fn bad_request(summary: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", summary)
    }

    pub fn not_found(summary: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", summary)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        match e {
            CoreError::BadRequest(m) => ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", m),
            CoreError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "NotFound", m),
            CoreError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "Forbidden", m),
            CoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "Conflict", m),
            CoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "backing engine unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "the store is temporarily unavailable; retry shortly",
                )
            }
            CoreError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "internal error; see the server log",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": self.kind,
            "summary": self.summary,
            "time": rushes_core::now_rfc3339(),
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// Result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
