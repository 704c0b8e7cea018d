//! Access control: bearer JWTs from a real identity provider on loopback (OIDC discovery
//! and a JWKS), static keys, basic users with argon2 hashes, `access_token`, scopes,
//! signed media URLs without credentials, the safe-by-default start and CORS.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::flows::{new_id, video_flow};
use crate::harness::{assert_error, expect_json, expect_status, header, media_on_s3, TestServer};
use crate::schema;
use crate::segments::{allocate, list, new_flow, register};

const AUDIENCE: &str = "rushes-test";
const READ: &str = "tams-api/read";
const WRITE: &str = "tams-api/write";
const DELETE: &str = "tams-api/delete";
const ADMIN: &str = "tams-api/admin";
const EDITOR_PASSWORD: &str = "correct horse battery staple";
const VIEWER_PASSWORD: &str = "tr0ub4dor&3 viewer";
const HS_SECRET: &str = "static-hs256-secret-for-tests-only";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api/fixtures")
        .join(name)
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A signing key of the tests' identity provider.
#[derive(Clone, Copy)]
enum Signer {
    Es256,
    Rs256,
    /// A key the store does not know, used with the kid of [`Signer::Es256`].
    Forger,
    Hs256,
}

impl Signer {
    fn alg(self) -> Algorithm {
        match self {
            Signer::Es256 | Signer::Forger => Algorithm::ES256,
            Signer::Rs256 => Algorithm::RS256,
            Signer::Hs256 => Algorithm::HS256,
        }
    }

    fn kid(self) -> &'static str {
        match self {
            Signer::Es256 | Signer::Forger => "es-1",
            Signer::Rs256 => "rs-1",
            Signer::Hs256 => "hs-1",
        }
    }

    fn key(self) -> EncodingKey {
        match self {
            Signer::Es256 => EncodingKey::from_ec_pem(&pem("jwt-es256.pem")).unwrap(),
            Signer::Forger => EncodingKey::from_ec_pem(&pem("jwt-es256-other.pem")).unwrap(),
            Signer::Rs256 => EncodingKey::from_rsa_pem(&pem("jwt-rs256.pem")).unwrap(),
            Signer::Hs256 => EncodingKey::from_secret(HS_SECRET.as_bytes()),
        }
    }

    /// The public JWK of this key.
    fn jwk(self) -> Value {
        let jwk = Jwk::from_encoding_key(&self.key(), self.alg()).unwrap();
        let mut v = serde_json::to_value(jwk).unwrap();
        v["kid"] = json!(self.kid());
        v["use"] = json!("sig");
        v
    }
}

/// An identity provider on loopback: OIDC discovery and a JWKS that tests can change.
struct Idp {
    base: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<Mutex<u32>>,
}

impl Idp {
    async fn start() -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let jwks = Arc::new(Mutex::new(json!({
            "keys": [Signer::Es256.jwk(), Signer::Rs256.jwk()]
        })));
        let fetches = Arc::new(Mutex::new(0u32));
        let discovery = json!({
            "issuer": base,
            "jwks_uri": format!("{base}/jwks.json"),
            "token_endpoint": format!("{base}/token"),
        });
        let (served, counted) = (jwks.clone(), fetches.clone());
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route(
                "/jwks.json",
                get(move || async move {
                    *counted.lock().unwrap() += 1;
                    Json(served.lock().unwrap().clone())
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Idp {
            base,
            jwks,
            fetches,
        }
    }

    fn issuer(&self) -> &str {
        &self.base
    }

    fn fetches(&self) -> u32 {
        *self.fetches.lock().unwrap()
    }

    /// A token from this provider with `scopes`, valid for an hour.
    fn token(&self, signer: Signer, scopes: &[&str]) -> String {
        self.token_with(signer, json!({"scope": scopes.join(" ")}))
    }

    /// A token whose claims are the defaults with `extra` laid over them (a null removes).
    fn token_with(&self, signer: Signer, extra: Value) -> String {
        let mut claims = json!({
            "iss": self.issuer(),
            "aud": AUDIENCE,
            "sub": "client-one",
            "iat": now(),
            "nbf": now() - 10,
            "exp": now() + 3600,
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        let mut header = Header::new(signer.alg());
        header.kid = Some(signer.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, &signer.key()).unwrap()
    }
}

/// `rushes hash-password` with `password` on stdin: the printed hash.
async fn hash_password(password: &str) -> String {
    let hash = crate::harness::hash_password(password).await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(password));
    hash
}

/// A configuration file in its own temporary directory.
struct ConfigFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl ConfigFile {
    fn new(text: &str) -> ConfigFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rushes.toml");
        std::fs::write(&path, text).unwrap();
        ConfigFile { _dir: dir, path }
    }

    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

/// The standard configuration: OIDC discovery at `idp`, a static HS256 key, two basic users.
async fn standard_config(idp: &Idp, extra: &str) -> ConfigFile {
    let editor = hash_password(EDITOR_PASSWORD).await;
    let viewer = hash_password(VIEWER_PASSWORD).await;
    ConfigFile::new(&format!(
        r#"
[auth.jwt]
audience = ["{AUDIENCE}", "another-audience"]
oidc_discovery_url = "{base}/.well-known/openid-configuration"
jwks_min_refresh = 0
auth_classes_claim = "auth_classes"

[[auth.jwt.keys]]
kid = "hs-1"
alg = "HS256"
secret = "{HS_SECRET}"

[[auth.basic.users]]
name = "editor"
password_hash = "{editor}"
scopes = ["{READ}", "{WRITE}", "{DELETE}"]
auth_classes = ["news"]

[[auth.basic.users]]
name = "viewer"
password_hash = "{viewer}"
scopes = ["{READ}"]
{extra}
"#,
        base = idp.base
    ))
}

async fn secured_server(idp: &Idp) -> (TestServer, ConfigFile) {
    let config = standard_config(idp, "").await;
    let server = TestServer::start_with(&["--config", config.arg()]).await;
    (server, config)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(name: &str, password: &str) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
    format!("Basic {enc}")
}

async fn send_as(
    server: &TestServer,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = server.request(method, path);
    if let Some(a) = auth {
        req = req.header(AUTHORIZATION, a);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

/// Asserts a 401 in the spec's error shape with Bearer and Basic challenges; returns the
/// summary.
async fn assert_unauthorized(resp: reqwest::Response) -> String {
    let challenges: Vec<String> = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer realm=")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic realm=")),
        "{challenges:?}"
    );
    let body = assert_error(resp, StatusCode::UNAUTHORIZED).await;
    body["summary"].as_str().unwrap().to_owned()
}

/// Asserts nothing in `secrets` appears in the server's log.
fn assert_log_holds_no(server: &TestServer, secrets: &[&str]) {
    let log = server.log();
    for s in secrets {
        assert!(!s.is_empty());
        assert!(
            !log.contains(s),
            "the server log holds a secret ({}...):\n{log}",
            &s[..s.len().min(12)]
        );
    }
}

/// A client that sends `authorization` on every request.
fn client_with(authorization: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_valid_token_reads_and_writes() {
    let idp = Idp::start().await;
    let (server, _config) = secured_server(&idp).await;
    for signer in [Signer::Es256, Signer::Rs256, Signer::Hs256] {
        let token = idp.token(signer, &[READ, WRITE]);
        let auth = bearer(&token);
        let flows = expect_json(
            send_as(&server, Method::GET, "/flows", Some(&auth), None).await,
            StatusCode::OK,
        )
        .await;
        schema::assert_valid_list("flow-get.json", &flows);
        let id = new_id();
        let flow = video_flow(&id, &new_id());
        let created = expect_json(
            send_as(
                &server,
                Method::PUT,
                &format!("/flows/{id}"),
                Some(&auth),
                Some(&flow),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        schema::assert_valid("flow-get.json", &created);
        // HEAD is a read.
        expect_status(
            send_as(
                &server,
                Method::HEAD,
                &format!("/flows/{id}"),
                Some(&auth),
                None,
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_log_holds_no(&server, &[&token]);
    }
    // The service and root are behind auth too.
    assert_unauthorized(server.get("/").await).await;
    assert_unauthorized(server.get("/service").await).await;
}

#[tokio::test]
async fn tokens_that_do_not_verify_are_401() {
    let idp = Idp::start().await;
    let (server, _config) = secured_server(&idp).await;
    let scopes = json!({"scope": format!("{READ} {WRITE} {DELETE} {ADMIN}")});
    let with = |extra: Value| {
        let mut claims = scopes.clone();
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let cases = [
        (
            "wrong signature",
            idp.token_with(Signer::Forger, scopes.clone()),
            "signature",
        ),
        (
            "expired",
            idp.token_with(
                Signer::Es256,
                with(json!({"exp": now() - 3600, "nbf": now() - 7200})),
            ),
            "expired",
        ),
        (
            "not yet valid",
            idp.token_with(Signer::Es256, with(json!({"nbf": now() + 3600}))),
            "not valid yet",
        ),
        (
            "wrong issuer",
            idp.token_with(
                Signer::Es256,
                with(json!({"iss": "https://elsewhere.example"})),
            ),
            "issuer",
        ),
        (
            "wrong audience",
            idp.token_with(Signer::Es256, with(json!({"aud": "some-other-service"}))),
            "aud",
        ),
        (
            "no audience",
            idp.token_with(Signer::Es256, with(json!({"aud": null}))),
            "aud",
        ),
        (
            "no expiry",
            idp.token_with(Signer::Rs256, with(json!({"exp": null}))),
            "exp",
        ),
        (
            "HS256 signed with an unknown secret",
            {
                let mut h = Header::new(Algorithm::HS256);
                h.kid = Some("hs-1".into());
                let claims =
                    json!({"iss": idp.issuer(), "aud": AUDIENCE, "sub": "x", "exp": now() + 60});
                jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(b"guessed")).unwrap()
            },
            "signature",
        ),
        ("not a JWT", "not.a.jwt".to_owned(), "JWT"),
    ];
    let mut secrets = Vec::new();
    for (what, token, expect) in &cases {
        let resp = send_as(&server, Method::GET, "/flows", Some(&bearer(token)), None).await;
        let challenge = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("Bearer"))
            .unwrap_or_default();
        let summary = assert_unauthorized(resp).await;
        assert!(
            summary.contains(expect),
            "{what}: summary {summary:?} should mention {expect:?}"
        );
        assert!(challenge.contains("invalid_token"), "{what}: {challenge}");
        secrets.push(token.as_str());
    }
    // No credentials at all, and an unknown scheme.
    assert_unauthorized(server.get("/flows").await).await;
    assert_unauthorized(
        send_as(
            &server,
            Method::GET,
            "/flows",
            Some("Digest username=x"),
            None,
        )
        .await,
    )
    .await;
    // A token signed with a kid the provider never published (a refetch finds nothing).
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("es-unknown".into());
    let claims = json!({"iss": idp.issuer(), "aud": AUDIENCE, "sub": "x", "exp": now() + 60});
    let unknown = jsonwebtoken::encode(&h, &claims, &Signer::Es256.key()).unwrap();
    let summary = assert_unauthorized(
        send_as(
            &server,
            Method::GET,
            "/flows",
            Some(&bearer(&unknown)),
            None,
        )
        .await,
    )
    .await;
    assert!(summary.contains("es-unknown"), "{summary}");
    assert_log_holds_no(&server, &secrets);
    assert_log_holds_no(&server, &[&unknown, HS_SECRET]);
}

#[tokio::test]
async fn a_key_published_after_start_is_fetched_on_its_first_use() {
    let idp = Idp::start().await;
    let (server, _config) = secured_server(&idp).await;
    let fetched_at_start = idp.fetches();
    assert_eq!(fetched_at_start, 1, "the JWKS is fetched once at start");
    // The provider rotates: the RSA key is published under a new kid.
    let mut rotated = Signer::Rs256.jwk();
    rotated["kid"] = json!("rs-2");
    idp.jwks.lock().unwrap()["keys"]
        .as_array_mut()
        .unwrap()
        .push(rotated);
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("rs-2".into());
    let claims = json!({"iss": idp.issuer(), "aud": AUDIENCE, "sub": "rotated", "exp": now() + 60, "scope": READ});
    let token = jsonwebtoken::encode(&h, &claims, &Signer::Rs256.key()).unwrap();
    expect_status(
        send_as(&server, Method::GET, "/flows", Some(&bearer(&token)), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(idp.fetches(), fetched_at_start + 1);
    // Known kids do not prompt a fetch.
    let known = idp.token(Signer::Es256, &[READ]);
    expect_status(
        send_as(&server, Method::GET, "/flows", Some(&bearer(&known)), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(idp.fetches(), fetched_at_start + 1);
}

#[tokio::test]
async fn a_missing_scope_is_403() {
    let idp = Idp::start().await;
    let (server, _config) = secured_server(&idp).await;
    let read_only = bearer(&idp.token(Signer::Es256, &[READ]));
    let writer = bearer(&idp.token(Signer::Es256, &[READ, WRITE]));
    let id = new_id();
    let flow = video_flow(&id, &new_id());
    let path = format!("/flows/{id}");

    let resp = send_as(&server, Method::PUT, &path, Some(&read_only), Some(&flow)).await;
    let challenge = header(&resp, "www-authenticate").unwrap_or_default();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    let body = assert_error(resp, StatusCode::FORBIDDEN).await;
    assert!(body["summary"].as_str().unwrap().contains(WRITE), "{body}");

    expect_status(
        send_as(&server, Method::PUT, &path, Some(&writer), Some(&flow)).await,
        StatusCode::CREATED,
    )
    .await;
    // Deleting needs the delete scope; write is not enough.
    assert_error(
        send_as(&server, Method::DELETE, &path, Some(&writer), None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // A token with no scope at all reads nothing.
    let none = bearer(&idp.token_with(Signer::Es256, json!({"scope": null})));
    assert_error(
        send_as(&server, Method::GET, "/flows", Some(&none), None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // `scp` as an array is read too.
    let scp = bearer(&idp.token_with(Signer::Es256, json!({"scope": null, "scp": [READ]})));
    expect_status(
        send_as(&server, Method::GET, &path, Some(&scp), None).await,
        StatusCode::OK,
    )
    .await;
    let deleter = bearer(&idp.token(Signer::Es256, &[DELETE]));
    let resp = send_as(&server, Method::DELETE, &path, Some(&deleter), None).await;
    assert!(resp.status().is_success(), "{}", resp.status());
}

#[tokio::test]
async fn webhooks_and_service_settings_need_admin() {
    let idp = Idp::start().await;
    let (server, _config) = secured_server(&idp).await;
    let everything_but_admin = bearer(&idp.token(Signer::Es256, &[READ, WRITE, DELETE]));
    let admin = bearer(&idp.token(Signer::Es256, &[ADMIN]));
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["flows/created"]});
    for (method, path, body) in [
        (Method::GET, "/service/webhooks", None),
        (Method::HEAD, "/service/webhooks", None),
        (Method::POST, "/service/webhooks", Some(&hook)),
        (
            Method::GET,
            "/service/webhooks/00000000-0000-4000-8000-000000000000",
            None,
        ),
        (Method::POST, "/service", Some(&json!({"name": "renamed"}))),
    ] {
        let resp = send_as(
            &server,
            method.clone(),
            path,
            Some(&everything_but_admin),
            body,
        )
        .await;
        if method == Method::HEAD {
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "HEAD {path}");
        } else {
            assert_error(resp, StatusCode::FORBIDDEN).await;
        }
    }
    // The service itself is a read.
    let service = expect_json(
        send_as(
            &server,
            Method::GET,
            "/service",
            Some(&everything_but_admin),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    schema::assert_valid("service.json", &service);
    // Admin holds every permission.
    let hooks = expect_json(
        send_as(
            &server,
            Method::GET,
            "/service/webhooks",
            Some(&admin),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    schema::assert_valid_list("webhook-get.json", &hooks);
    let resp = send_as(
        &server,
        Method::POST,
        "/service/webhooks",
        Some(&admin),
        Some(&hook),
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );
    let id = new_id();
    expect_status(
        send_as(
            &server,
            Method::PUT,
            &format!("/flows/{id}"),
            Some(&admin),
            Some(&video_flow(&id, &new_id())),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn basic_users_with_right_and_wrong_passwords() {
    let idp = Idp::start().await;
    let (server, _config) = secured_server(&idp).await;
    let editor = basic("editor", EDITOR_PASSWORD);
    let id = new_id();
    let flow = video_flow(&id, &new_id());
    expect_status(
        send_as(
            &server,
            Method::PUT,
            &format!("/flows/{id}"),
            Some(&editor),
            Some(&flow),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    // Many requests: each is answered (the successful check is remembered).
    for _ in 0..20 {
        expect_status(
            send_as(
                &server,
                Method::GET,
                &format!("/flows/{id}"),
                Some(&editor),
                None,
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
    for wrong in [
        basic("editor", "correct horse battery stapl"),
        basic("editor", ""),
        basic("nobody", EDITOR_PASSWORD),
        basic("viewer", EDITOR_PASSWORD),
        "Basic !!!not-base64".to_owned(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("no-colon")
        ),
    ] {
        let summary =
            assert_unauthorized(send_as(&server, Method::GET, "/flows", Some(&wrong), None).await)
                .await;
        assert!(!summary.contains(EDITOR_PASSWORD));
    }
    // The viewer reads but does not write.
    let viewer = basic("viewer", VIEWER_PASSWORD);
    expect_status(
        send_as(
            &server,
            Method::GET,
            &format!("/flows/{id}"),
            Some(&viewer),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_error(
        send_as(
            &server,
            Method::PUT,
            &format!("/flows/{id}/label"),
            Some(&viewer),
            Some(&json!("x")),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_log_holds_no(
        &server,
        &[EDITOR_PASSWORD, VIEWER_PASSWORD, &editor, &viewer],
    );
}

#[tokio::test]
async fn access_token_in_the_query_works_like_a_bearer_token() {
    let idp = Idp::start().await;
    let (server, _config) = secured_server(&idp).await;
    let token = idp.token(Signer::Rs256, &[READ, WRITE]);
    let writer = bearer(&token);
    // Three flows, so that a page of one has a next page.
    for _ in 0..3 {
        let id = new_id();
        expect_status(
            send_as(
                &server,
                Method::PUT,
                &format!("/flows/{id}"),
                Some(&writer),
                Some(&video_flow(&id, &new_id())),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
    }
    let resp = server
        .get(&format!("/flows?limit=1&access_token={token}"))
        .await;
    let resp = expect_status(resp, StatusCode::OK).await;
    // The token is not echoed into paging links.
    let link = header(&resp, "link").unwrap_or_default();
    assert!(link.contains("rel=\"next\""), "{link}");
    assert!(!link.contains(&token), "{link}");
    let body: Value = resp.json().await.unwrap();
    schema::assert_valid_list("flow-get.json", &body);
    assert_eq!(body.as_array().unwrap().len(), 1);

    // Same checks as a bearer token.
    let expired = idp.token_with(Signer::Es256, json!({"scope": READ, "exp": now() - 3600}));
    let summary =
        assert_unauthorized(server.get(&format!("/flows?access_token={expired}")).await).await;
    assert!(summary.contains("expired"), "{summary}");
    let read_only = idp.token(Signer::Es256, &[READ]);
    let id = new_id();
    assert_error(
        server
            .put(
                &format!("/flows/{id}?access_token={read_only}"),
                &video_flow(&id, &new_id()),
            )
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Credentials sent two ways at once are refused.
    assert_error(
        send_as(
            &server,
            Method::GET,
            &format!("/flows?access_token={token}"),
            Some(&writer),
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_log_holds_no(&server, &[&token, &expired, &read_only]);
}

#[tokio::test]
async fn signed_media_urls_need_no_credentials() {
    let idp = Idp::start().await;
    let (mut server, _config) = secured_server(&idp).await;
    let token = idp.token(Signer::Es256, &[READ, WRITE]);
    // The harness helpers send the token; the media requests below do not.
    server.client = client_with(&bearer(&token));
    let flow = new_flow(&server).await;
    let objects = allocate(&server, &flow, json!({"limit": 1})).await;
    let (object_id, put_url, content_type) = &objects[0];
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    let anonymous = reqwest::Client::new();
    let resp = anonymous
        .put(put_url)
        .header("content-type", content_type)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "PUT media: {}", resp.status());
    register(
        &server,
        &flow,
        &json!({"object_id": object_id, "timerange": "[0:0_1:0)"}),
    )
    .await;
    let (segments, _) = list(&server, &format!("/flows/{flow}/segments")).await;
    let url = segments[0]["get_urls"][0]["url"].as_str().unwrap();
    let resp = expect_status(anonymous.get(url).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // The API itself still needs credentials.
    assert_unauthorized(
        anonymous
            .get(server.url(&format!("/flows/{flow}/segments")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    server.assert_signed_media_url(url, object_id);
    if media_on_s3() {
        // The URL is the S3 server's presigned URL, no path of Rushes: S3 checks the
        // signature and refuses a tampered one (docs/STORAGE.md).
        let mut tampered = url::Url::parse(url).unwrap();
        let pairs: Vec<(String, String)> = tampered
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "X-Amz-Signature" {
                    "0".repeat(v.len())
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        tampered.query_pairs_mut().clear().extend_pairs(pairs);
        assert_ne!(tampered.as_str(), url);
        let resp = anonymous.get(tampered).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    } else {
        // A media path without a valid signature is refused by the signature check, not auth.
        let resp = anonymous
            .get(server.url(&format!("/media/{object_id}")))
            .send()
            .await
            .unwrap();
        assert!(resp.headers().get("www-authenticate").is_none());
        assert_error(resp, StatusCode::FORBIDDEN).await;
    }
    assert_log_holds_no(&server, &[&token]);
}

/// Runs `rushes serve` with `args` until it exits (it must, within 20 s); returns its exit
/// status and what it wrote to stderr.
async fn run_until_exit(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rushes"));
    cmd.arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RUSHES_") {
            cmd.env_remove(&key);
        }
    }
    let child = cmd.spawn().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the server should exit on its own")
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_open_store_refuses_a_non_loopback_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (status, stderr) = run_until_exit(&[
        "--listen",
        "0.0.0.0:0",
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .await;
    assert!(!status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("refusing to serve without authentication"),
        "{stderr}"
    );
    assert!(stderr.contains("--insecure"), "{stderr}");
    assert!(!data.exists(), "nothing is created before the refusal");

    // With --insecure the check passes and the server goes on to bind. (192.0.2.1 is a
    // documentation address this machine does not hold, so the bind itself fails: the test
    // never listens beyond loopback.)
    let (status, stderr) = run_until_exit(&[
        "--listen",
        "192.0.2.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--insecure",
    ])
    .await;
    assert!(!status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("refusing"), "{stderr}");
    assert!(stderr.contains("cannot listen on 192.0.2.1:0"), "{stderr}");
    // Without --insecure the same address is refused before anything else.
    let (status, stderr) = run_until_exit(&[
        "--listen",
        "192.0.2.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .await;
    assert!(!status.success());
    assert!(
        stderr.contains("refusing to serve without authentication"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_secured_store_may_listen_anywhere_and_an_open_loopback_store_warns() {
    let open = TestServer::start().await;
    open.log_containing("serving without authentication on loopback address 127.0.0.1:")
        .await;
    expect_status(open.get("/flows").await, StatusCode::OK).await;

    let idp = Idp::start().await;
    let (secured, _config) = secured_server(&idp).await;
    assert!(
        !secured.log().contains("without authentication"),
        "{}",
        secured.log()
    );
    // The exposure check accepts a configured store on any address (the bind of the
    // unheld documentation address is what fails).
    let config = standard_config(&idp, "").await;
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = run_until_exit(&[
        "--config",
        config.arg(),
        "--listen",
        "192.0.2.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .await;
    assert!(!status.success());
    assert!(stderr.contains("cannot listen on 192.0.2.1:0"), "{stderr}");
}

#[tokio::test]
async fn bad_configurations_stop_the_start_with_a_clear_message() {
    let idp = Idp::start().await;
    let cases = [
        (
            "[[auth.basic.users]]\nname = \"ann\"\npassword_hash = \"plain-text-password\"\n".to_owned(),
            "PHC",
        ),
        ("[auth]\nbogus = 1\n".to_owned(), "bogus"),
        (
            format!("[auth.jwt]\naudience = \"{AUDIENCE}\"\njwks_url = \"http://127.0.0.1:9/none\"\nissuer = \"x\"\n"),
            "JWKS",
        ),
        (
            format!("[auth.jwt]\noidc_discovery_url = \"{}/.well-known/openid-configuration\"\n", idp.base),
            "audience",
        ),
        ("[cors]\nallowed_origins = [\"not an origin\"]\n".to_owned(), "CORS"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (text, expect) in cases {
        let config = ConfigFile::new(&text);
        let (status, stderr) = run_until_exit(&[
            "--config",
            config.arg(),
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .await;
        assert!(!status.success(), "{text}: {status}");
        assert!(stderr.contains(expect), "{text}: {stderr}");
        assert!(!stderr.contains("plain-text-password"), "{stderr}");
    }
}

#[tokio::test]
async fn cors_preflight_answers_allowed_origins_only() {
    let idp = Idp::start().await;
    let config = standard_config(
        &idp,
        "\n[cors]\nallowed_origins = [\"http://file-origin.test\"]\n",
    )
    .await;
    // The flag replaces the file's list.
    let server = TestServer::start_with(&[
        "--config",
        config.arg(),
        "--cors-origin",
        "http://ui.test:3000",
        "--cors-origin",
        "https://other-ui.test",
    ])
    .await;
    let preflight = |origin: &'static str| {
        server
            .request(Method::OPTIONS, "/flows")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    // Allowed: answered before auth (a preflight carries no credentials).
    let resp = preflight("http://ui.test:3000").await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some("http://ui.test:3000")
    );
    let allowed_headers = header(&resp, "access-control-allow-headers").unwrap_or_default();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    let methods = header(&resp, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("DELETE"), "{methods}");
    // Not allowed: no CORS grant, including the file's origin the flag replaced.
    for origin in ["http://evil.test", "http://file-origin.test"] {
        let resp = preflight(origin).await.unwrap();
        assert!(
            header(&resp, "access-control-allow-origin").is_none(),
            "{origin}"
        );
    }
    // An actual request from an allowed origin may read the paging headers.
    let auth = bearer(&idp.token(Signer::Es256, &[READ]));
    let resp = server
        .request(Method::GET, "/flows?limit=1")
        .header("origin", "https://other-ui.test")
        .header(AUTHORIZATION, &auth)
        .send()
        .await
        .unwrap();
    let resp = expect_status(resp, StatusCode::OK).await;
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some("https://other-ui.test")
    );
    let exposed = header(&resp, "access-control-expose-headers").unwrap_or_default();
    for h in ["link", "x-paging-nextkey", "x-paging-limit"] {
        assert!(exposed.contains(h), "{h} not in {exposed}");
    }
    // A refused request from a browser still carries the grant, so the page can read the 401.
    let resp = server
        .request(Method::GET, "/flows")
        .header("origin", "http://ui.test:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some("http://ui.test:3000")
    );
    assert_unauthorized(resp).await;
}

#[tokio::test]
async fn hash_password_refuses_an_empty_password() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rushes"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().await.unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    // Two runs salt differently.
    assert_ne!(hash_password("same").await, hash_password("same").await);
}
