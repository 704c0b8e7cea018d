//! CORS for browser clients: the allowed origins, and the paging headers exposed to them.

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::AuthSetupError;

/// The response headers a browser client may read: TAMS paging, the challenge and the
/// media endpoint's ranges.
const EXPOSED: [&str; 9] = [
    "link",
    "x-paging-limit",
    "x-paging-nextkey",
    "x-paging-count",
    "x-paging-timerange",
    "x-paging-reverse-order",
    "www-authenticate",
    "content-range",
    "accept-ranges",
];

/// Settings of CORS.
#[derive(Debug, Clone, Default)]
pub struct CorsSettings {
    /// Origins (`scheme://host[:port]`) allowed to call the store from a browser; `*`
    /// allows any origin. Empty: no CORS headers at all.
    pub allowed_origins: Vec<String>,
}

/// The CORS layer of `settings`, or `None` when no origin is allowed.
pub fn cors_layer(settings: &CorsSettings) -> Result<Option<CorsLayer>, AuthSetupError> {
    if settings.allowed_origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if settings.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let mut origins = Vec::new();
        for o in &settings.allowed_origins {
            let trimmed = o.trim_end_matches('/');
            let parsed = url::Url::parse(trimmed)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if parsed.is_none() || trimmed.matches('/').count() != 2 {
                return Err(AuthSetupError(format!(
                    "CORS origin {o:?} is not of the form scheme://host[:port]"
                )));
            }
            let v = HeaderValue::from_str(trimmed)
                .map_err(|_| AuthSetupError(format!("CORS origin {o:?} is not valid")))?;
            origins.push(v);
        }
        AllowOrigin::list(origins)
    };
    let exposed: Vec<HeaderName> = EXPOSED.iter().map(|h| HeaderName::from_static(h)).collect();
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::PUT,
                Method::POST,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::RANGE,
                header::ACCEPT,
            ])
            .expose_headers(exposed)
            .max_age(Duration::from_secs(600)),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_scheme_host_port() {
        for bad in [
            "example.com",
            "http://example.com/path",
            "ftp://x",
            "http://",
        ] {
            let s = CorsSettings {
                allowed_origins: vec![bad.into()],
            };
            assert!(cors_layer(&s).is_err(), "{bad}");
        }
        let s = CorsSettings {
            allowed_origins: vec!["https://app.example:8443".into()],
        };
        assert!(cors_layer(&s).unwrap().is_some());
        assert!(cors_layer(&CorsSettings::default()).unwrap().is_none());
    }
}
