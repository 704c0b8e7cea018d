//! Authentication and authorization of the TAMS routes, and CORS.
//!
//! [`Auth`] checks the credentials of every TAMS request by the spec's three schemes
//! (bearer JWT, HTTP basic, the `access_token` query parameter), maps the scopes they
//! carry to a [`Principal`] with coarse permissions, and refuses a request whose method
//! and path need a permission the principal lacks. The principal goes into the request's
//! extensions for the handlers. The media endpoint (signed URLs) is not behind it: there
//! the signature is the credential.
//!
//! Answers: no or bad credentials, 401 with `WWW-Authenticate` challenges; credentials
//! without the needed scope, 403; both in the spec's error shape. Nothing secret (tokens,
//! passwords, hashes) is logged or echoed.

mod basic;
mod cors;
mod jwt;

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rushes_core::{Access, Permission, Principal};

pub use basic::{hash_password, BasicSettings, BasicUser};
pub use cors::{cors_layer, CorsSettings};
pub use jsonwebtoken::Algorithm;
pub use jwt::{JwtSettings, KeyMaterial, StaticKey};

use crate::error::ApiError;
use basic::BasicVerifier;
use jwt::JwtVerifier;

/// The realm named in challenges.
const REALM: &str = "rushes";

/// A secret string (a shared key, a password): shown as `[redacted]` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A configuration of authentication that cannot be used; the message says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSetupError(pub String);

impl fmt::Display for AuthSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthSetupError {}

/// The scope names that grant each permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeNames {
    pub read: String,
    pub write: String,
    pub delete: String,
    pub admin: String,
}

impl Default for ScopeNames {
    /// The names of the widely deployed TAMS implementations (appnote 0016).
    fn default() -> ScopeNames {
        ScopeNames {
            read: "tams-api/read".into(),
            write: "tams-api/write".into(),
            delete: "tams-api/delete".into(),
            admin: "tams-api/admin".into(),
        }
    }
}

impl ScopeNames {
    /// The permissions `scopes` grant.
    pub fn access(&self, scopes: &[String]) -> Access {
        let mut access = Access::default();
        for s in scopes {
            for p in Permission::ALL {
                if *s == *self.name(p) {
                    access.grant(p);
                }
            }
        }
        access
    }

    /// The scope name of `permission`.
    pub fn name(&self, permission: Permission) -> &str {
        match permission {
            Permission::Read => &self.read,
            Permission::Write => &self.write,
            Permission::Delete => &self.delete,
            Permission::Admin => &self.admin,
        }
    }
}

/// Settings of authentication: any of the schemes, and the scope names.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// Bearer JWTs (also accepted in the `access_token` query parameter).
    pub jwt: Option<JwtSettings>,
    /// HTTP basic users.
    pub basic: Option<BasicSettings>,
    pub scopes: ScopeNames,
}

impl AuthSettings {
    /// Whether any scheme is configured.
    pub fn is_configured(&self) -> bool {
        self.jwt.is_some() || self.basic.is_some()
    }
}

/// The authentication of a store: open (every request acts as
/// [`Principal::anonymous`]) or checking credentials.
#[derive(Debug, Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    jwt: Option<JwtVerifier>,
    basic: Option<Arc<BasicVerifier>>,
    scopes: ScopeNames,
}

impl Auth {
    /// No authentication: every request is allowed.
    pub fn open() -> Auth {
        Auth {
            inner: Arc::new(Inner {
                jwt: None,
                basic: None,
                scopes: ScopeNames::default(),
            }),
        }
    }

    /// Builds the checks: parses keys and hashes, fetches a JWKS. Settings with no scheme
    /// give an open store.
    pub async fn build(settings: AuthSettings) -> Result<Auth, AuthSetupError> {
        let jwt = match settings.jwt {
            Some(s) => Some(JwtVerifier::build(s).await?),
            None => None,
        };
        let basic = match settings.basic {
            Some(s) => Some(Arc::new(BasicVerifier::build(s)?)),
            None => None,
        };
        Ok(Auth {
            inner: Arc::new(Inner {
                jwt,
                basic,
                scopes: settings.scopes,
            }),
        })
    }

    /// Whether requests pass without credentials.
    pub fn is_open(&self) -> bool {
        self.inner.jwt.is_none() && self.inner.basic.is_none()
    }

    /// The principal of the request's credentials, or why there is none. On success the
    /// `access_token` parameter, if used, is removed from the request's URI so that it is
    /// not echoed in paging links.
    async fn authenticate(&self, req: &mut Request) -> Result<Principal, Refusal> {
        let inner = &self.inner;
        let header_value = req.headers().get(header::AUTHORIZATION).cloned();
        let query_token = access_token(req.uri().query());
        if header_value.is_some() && query_token.is_some() {
            return Err(Refusal::BadRequest(
                "credentials in both the Authorization header and access_token; send one".into(),
            ));
        }
        if let Some(token) = query_token {
            let Some(jwt) = &inner.jwt else {
                return Err(Refusal::unauthenticated(
                    "access_token is not accepted by this store",
                ));
            };
            let verified = jwt
                .verify(&token)
                .await
                .map_err(|r| Refusal::BadToken(r.0))?;
            strip_access_token(req);
            return Ok(self.principal(verified.name, verified.scopes, verified.auth_classes));
        }
        let Some(value) = header_value else {
            return Err(Refusal::unauthenticated("credentials are required"));
        };
        let value = value
            .to_str()
            .map_err(|_| Refusal::unauthenticated("the Authorization header is not text"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let Some(jwt) = &inner.jwt else {
                return Err(Refusal::unauthenticated(
                    "bearer tokens are not accepted by this store",
                ));
            };
            let verified = jwt.verify(rest).await.map_err(|r| Refusal::BadToken(r.0))?;
            Ok(self.principal(verified.name, verified.scopes, verified.auth_classes))
        } else if scheme.eq_ignore_ascii_case("basic") {
            let Some(basic) = &inner.basic else {
                return Err(Refusal::unauthenticated(
                    "basic authentication is not accepted by this store",
                ));
            };
            let (name, password) = decode_basic(rest).ok_or_else(|| {
                Refusal::unauthenticated("the basic credentials are not base64 of name:password")
            })?;
            let user = basic
                .verify(&name, &password)
                .await
                .ok_or_else(|| Refusal::unauthenticated("wrong user name or password"))?;
            Ok(self.principal(
                user.name.clone(),
                user.scopes.clone(),
                user.auth_classes.clone(),
            ))
        } else {
            Err(Refusal::unauthenticated(
                "unsupported authentication scheme; use Bearer or Basic",
            ))
        }
    }

    fn principal(
        &self,
        name: String,
        scopes: Vec<String>,
        auth_classes: Option<Vec<String>>,
    ) -> Principal {
        Principal {
            access: self.inner.scopes.access(&scopes),
            name,
            scopes,
            auth_classes,
        }
    }

    /// The challenges of a 401, one per configured scheme.
    fn challenges(&self, bearer_error: Option<&str>) -> Vec<HeaderValue> {
        let mut out = Vec::new();
        if self.inner.jwt.is_some() {
            let v = match bearer_error {
                Some(desc) => format!(
                    "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{}\"",
                    desc.replace(['"', '\\'], "'")
                ),
                None => format!("Bearer realm=\"{REALM}\""),
            };
            if let Ok(v) = HeaderValue::from_str(&v) {
                out.push(v);
            }
        }
        if self.inner.basic.is_some() {
            out.push(HeaderValue::from_static(
                "Basic realm=\"rushes\", charset=\"UTF-8\"",
            ));
        }
        out
    }
}

/// Why a request is refused before it reaches a handler.
#[derive(Debug)]
enum Refusal {
    /// No usable credentials: 401.
    Unauthenticated(String),
    /// A bearer token that does not verify: 401 with `error="invalid_token"`.
    BadToken(String),
    /// Credentials sent in two ways at once: 400.
    BadRequest(String),
}

impl Refusal {
    fn unauthenticated(m: &str) -> Refusal {
        Refusal::Unauthenticated(m.to_owned())
    }
}

/// The permission a request needs, by method and path:
/// webhooks (`/service/webhooks*`) and `POST /service` need admin; jobs
/// (`/x-rushes/jobs*`, docs/JOBS.md) need write to start or stop one (stopping deletes
/// nothing); otherwise `GET`/`HEAD` read, `PUT`/`POST` write, `DELETE` delete; any other
/// method read.
pub fn required_permission(method: &Method, path: &str) -> Permission {
    let path = path.trim_end_matches('/');
    if (path == "/x-rushes/jobs" || path.starts_with("/x-rushes/jobs/"))
        && matches!(*method, Method::POST | Method::DELETE)
    {
        return Permission::Write;
    }
    if path == "/service/webhooks" || path.starts_with("/service/webhooks/") {
        return Permission::Admin;
    }
    if path == "/service" && method == Method::POST {
        return Permission::Admin;
    }
    match *method {
        Method::PUT | Method::POST => Permission::Write,
        Method::DELETE => Permission::Delete,
        _ => Permission::Read,
    }
}

/// The middleware: authenticates, authorizes by scope and puts the [`Principal`] in the
/// request's extensions.
pub async fn require_auth(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    if auth.is_open() {
        req.extensions_mut().insert(Principal::anonymous());
        return next.run(req).await;
    }
    let principal = match auth.authenticate(&mut req).await {
        Ok(p) => p,
        Err(refusal) => return refuse(&auth, refusal),
    };
    let needed = required_permission(req.method(), req.uri().path());
    if !principal.can(needed) {
        tracing::info!(
            principal = %principal.name,
            method = %req.method(),
            path = %req.uri().path(),
            %needed,
            "refused: missing scope"
        );
        let scope = auth.inner.scopes.name(needed).to_owned();
        let mut resp = ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{} {} needs the {scope} scope (or the admin scope), which the credentials do not hold",
                req.method(),
                req.uri().path()
            ),
        )
        .into_response();
        // A bearer token (in the header or in access_token) gets RFC 6750's challenge.
        let by_token = req.headers().get(header::AUTHORIZATION).is_none_or(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.get(..7))
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
        });
        if by_token {
            let value = format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{}\"",
                scope.replace(['"', '\\'], "'")
            );
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        return resp;
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

fn refuse(auth: &Auth, refusal: Refusal) -> Response {
    let (summary, bearer_error) = match refusal {
        Refusal::BadRequest(m) => return ApiError::bad_request(m).into_response(),
        Refusal::Unauthenticated(m) => (m, None),
        Refusal::BadToken(m) => {
            let e = Some(m.clone());
            (m, e)
        }
    };
    tracing::info!(reason = %summary, "refused: not authenticated");
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", summary).into_response();
    for v in auth.challenges(bearer_error.as_deref()) {
        resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The value of the `access_token` query parameter, if present.
fn access_token(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
}

/// Removes `access_token` from the request's query.
fn strip_access_token(req: &mut Request) {
    let uri = req.uri();
    let Some(query) = uri.query() else {
        return;
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            name != "access_token"
        })
        .collect();
    let path_and_query = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(new) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = new;
        }
    }
}

/// `name:password` from the base64 of a basic `Authorization` header.
fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn permissions_by_method_and_path() {
        use Permission::*;
        let cases = [
            (Method::GET, "/flows", Read),
            (Method::HEAD, "/", Read),
            (Method::PUT, "/flows/x", Write),
            (Method::POST, "/flows/x/segments", Write),
            (Method::DELETE, "/flows/x", Delete),
            (Method::GET, "/service", Read),
            (Method::POST, "/service", Admin),
            (Method::GET, "/service/webhooks", Admin),
            (Method::DELETE, "/service/webhooks/abc", Admin),
            (Method::GET, "/service/storage-backends", Read),
            (Method::GET, "/service/webhooksx", Read),
            (Method::GET, "/x-rushes/jobs", Read),
            (Method::POST, "/x-rushes/jobs", Write),
            (Method::DELETE, "/x-rushes/jobs/abc", Write),
            (Method::DELETE, "/x-rushes/jobsx", Delete),
        ];
        for (m, p, want) in cases {
            assert_eq!(required_permission(&m, p), want, "{m} {p}");
        }
    }

    #[test]
    fn scopes_map_to_permissions() {
        let names = ScopeNames::default();
        let a = names.access(&["tams-api/read".into(), "other".into()]);
        assert!(a.read && !a.write && !a.delete && !a.admin);
        let a = names.access(&["tams-api/admin".into()]);
        assert!(a.allows(Permission::Delete));
    }

    #[test]
    fn access_token_is_read_and_stripped() {
        assert_eq!(
            access_token(Some("limit=2&access_token=a%2Bb")).as_deref(),
            Some("a+b")
        );
        assert_eq!(access_token(Some("limit=2")), None);
        let mut req = Request::builder()
            .uri("/flows?limit=2&access_token=abc&page=x")
            .body(axum::body::Body::empty())
            .unwrap();
        strip_access_token(&mut req);
        assert_eq!(req.uri().to_string(), "/flows?limit=2&page=x");
        let mut req = Request::builder()
            .uri("/flows?access_token=abc")
            .body(axum::body::Body::empty())
            .unwrap();
        strip_access_token(&mut req);
        assert_eq!(req.uri().to_string(), "/flows");
    }

    #[test]
    fn basic_credentials_decode() {
        let enc = base64::engine::general_purpose::STANDARD.encode("ann:pa:ss");
        assert_eq!(
            decode_basic(&enc),
            Some(("ann".to_owned(), "pa:ss".to_owned()))
        );
        assert_eq!(decode_basic("!!"), None);
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(format!("{:?}", Secret::new("s3cr3t")), "[redacted]");
    }
}
