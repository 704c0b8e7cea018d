//! Bearer JWTs: keys (static, a JWKS URL or OIDC discovery), validation and claims.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::{AuthSetupError, Secret};

/// How long a fetch of a JWKS or discovery document may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS or discovery document accepted, in bytes.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// Settings of bearer-token (and `access_token`) authentication.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Accepted `iss`. Required unless OIDC discovery supplies it.
    pub issuer: Option<String>,
    /// Accepted `aud` values; a token must name one of them.
    pub audience: Vec<String>,
    /// Tolerance on `exp` and `nbf` for clock skew.
    pub leeway: Duration,
    /// Keys given in the configuration.
    pub keys: Vec<StaticKey>,
    /// Where to fetch a JWKS from.
    pub jwks_url: Option<url::Url>,
    /// An OIDC discovery document (`.../.well-known/openid-configuration`) whose
    /// `jwks_uri` (and `issuer`, if none is set) is used.
    pub oidc_discovery_url: Option<url::Url>,
    /// Shortest time between two fetches of the JWKS prompted by unknown `kid`s.
    pub jwks_min_refresh: Duration,
    /// The claim that names the principal (default `sub`).
    pub name_claim: String,
    /// The claim holding scopes; `None` reads `scope` (space-separated) then `scp`.
    pub scope_claim: Option<String>,
    /// The claim holding the principal's auth classes, if auth classes are used.
    pub auth_classes_claim: Option<String>,
}

impl Default for JwtSettings {
    fn default() -> JwtSettings {
        JwtSettings {
            issuer: None,
            audience: Vec::new(),
            leeway: Duration::from_secs(30),
            keys: Vec::new(),
            jwks_url: None,
            oidc_discovery_url: None,
            jwks_min_refresh: Duration::from_secs(30),
            name_claim: "sub".to_owned(),
            scope_claim: None,
            auth_classes_claim: None,
        }
    }
}

/// A verification key given in the configuration.
#[derive(Clone)]
pub struct StaticKey {
    /// The `kid` tokens signed with it carry, if any.
    pub kid: Option<String>,
    /// The one algorithm accepted with this key.
    pub alg: Algorithm,
    pub material: KeyMaterial,
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("material", &self.material)
            .finish()
    }
}

/// The bytes of a static key.
#[derive(Clone)]
pub enum KeyMaterial {
    /// A public key in PEM (RSA or EC, by `alg`).
    Pem(String),
    /// A shared secret for HS256/384/512.
    Secret(Secret),
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyMaterial::Pem(_) => f.write_str("Pem(..)"),
            KeyMaterial::Secret(s) => write!(f, "Secret({s:?})"),
        }
    }
}

/// Why a token was refused; the text is safe to show the client and to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRejected(pub String);

/// The verified content of a token.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub name: String,
    pub scopes: Vec<String>,
    pub auth_classes: Option<Vec<String>>,
}

/// One usable key.
struct KeyEntry {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

/// Verifies bearer JWTs against static and fetched keys.
pub struct JwtVerifier {
    settings: JwtSettings,
    issuer: String,
    static_keys: Vec<KeyEntry>,
    jwks_uri: Option<url::Url>,
    fetched: RwLock<Vec<KeyEntry>>,
    /// When the JWKS was last fetched; held while fetching so that fetches do not pile up.
    last_fetch: Mutex<Option<Instant>>,
    http: reqwest::Client,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.settings.audience)
            .field("static_keys", &self.static_keys.len())
            .field("jwks_uri", &self.jwks_uri.as_ref().map(url::Url::as_str))
            .finish()
    }
}

impl JwtVerifier {
    /// Builds the verifier: parses static keys, follows OIDC discovery and fetches the JWKS
    /// once. A JWKS that cannot be fetched at start is an error.
    pub async fn build(settings: JwtSettings) -> Result<JwtVerifier, AuthSetupError> {
        let setup = |m: String| AuthSetupError(format!("bearer tokens: {m}"));
        if settings.audience.is_empty() {
            return Err(setup(
                "an audience is required (the `aud` tokens must carry)".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| setup(format!("cannot build the HTTP client: {e}")))?;

        let mut static_keys = Vec::new();
        for k in &settings.keys {
            let key = match &k.material {
                KeyMaterial::Secret(s) => DecodingKey::from_secret(s.expose().as_bytes()),
                KeyMaterial::Pem(pem) => {
                    let parsed = match k.alg {
                        Algorithm::ES256 | Algorithm::ES384 => {
                            DecodingKey::from_ec_pem(pem.as_bytes())
                        }
                        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
                        _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
                    };
                    parsed.map_err(|e| {
                        setup(format!(
                            "the PEM key {} is not a {:?} public key: {e}",
                            k.kid.as_deref().unwrap_or("(no kid)"),
                            k.alg
                        ))
                    })?
                }
            };
            if key.family() != k.alg.family_of() {
                return Err(setup(format!(
                    "key {} does not suit algorithm {:?}",
                    k.kid.as_deref().unwrap_or("(no kid)"),
                    k.alg
                )));
            }
            static_keys.push(KeyEntry {
                kid: k.kid.clone(),
                algorithms: vec![k.alg],
                key,
            });
        }

        let mut issuer = settings.issuer.clone();
        let mut jwks_uri = settings.jwks_url.clone();
        if let Some(discovery) = &settings.oidc_discovery_url {
            let doc = fetch_json(&http, discovery)
                .await
                .map_err(|e| setup(format!("OIDC discovery at {discovery}: {e}")))?;
            let uri = doc
                .get("jwks_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| setup(format!("{discovery} names no jwks_uri")))?;
            let uri = url::Url::parse(uri)
                .map_err(|e| setup(format!("{discovery}: invalid jwks_uri: {e}")))?;
            if jwks_uri.is_none() {
                jwks_uri = Some(uri);
            }
            if issuer.is_none() {
                issuer = doc.get("issuer").and_then(Value::as_str).map(str::to_owned);
            }
        }
        let issuer = issuer
            .ok_or_else(|| setup("an issuer is required (the `iss` tokens must carry)".into()))?;
        if static_keys.is_empty() && jwks_uri.is_none() {
            return Err(setup(
                "no keys: give static keys, a JWKS URL or an OIDC discovery URL".into(),
            ));
        }

        let verifier = JwtVerifier {
            settings,
            issuer,
            static_keys,
            jwks_uri,
            fetched: RwLock::new(Vec::new()),
            last_fetch: Mutex::new(None),
            http,
        };
        if let Some(uri) = &verifier.jwks_uri {
            let keys = fetch_jwks(&verifier.http, uri)
                .await
                .map_err(|e| setup(format!("JWKS at {uri}: {e}")))?;
            tracing::info!(jwks = %uri, keys = keys.len(), "fetched the JWKS");
            *verifier.fetched.write().await = keys;
            *verifier.last_fetch.lock().await = Some(Instant::now());
        }
        Ok(verifier)
    }

    /// Verifies `token` and reads its principal.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenRejected> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenRejected("the bearer token is not a well-formed JWT".into()))?;
        let kid = header.kid.as_deref();
        let mut outcome = self.try_keys(token, header.alg, kid).await;
        if matches!(outcome, Err(KeyLookup::NoKey)) && self.refresh_for_unknown_kid().await {
            outcome = self.try_keys(token, header.alg, kid).await;
        }
        let claims = match outcome {
            Ok(claims) => claims,
            Err(KeyLookup::NoKey) => {
                return Err(TokenRejected(match kid {
                    Some(kid) => format!("no known key has the token's kid {kid:?}"),
                    None => format!("no known key verifies {:?} tokens", header.alg),
                }))
            }
            Err(KeyLookup::Rejected(r)) => return Err(r),
        };
        self.read_claims(&claims)
    }

    /// Tries every key that matches `kid` (every key when the token has none) and `alg`.
    async fn try_keys(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<serde_json::Map<String, Value>, KeyLookup> {
        let fetched = self.fetched.read().await;
        let mut last = KeyLookup::NoKey;
        for entry in self.static_keys.iter().chain(fetched.iter()) {
            if kid.is_some() && entry.kid.as_deref() != kid {
                continue;
            }
            if !entry.algorithms.contains(&alg) {
                continue;
            }
            match jsonwebtoken::decode::<serde_json::Map<String, Value>>(
                token,
                &entry.key,
                &self.validation(alg),
            ) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    last = KeyLookup::Rejected(describe(e.kind()));
                    // A signature that fails on one key may verify on another key without
                    // a kid; any other failure is about the claims and final.
                    if !matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = self.settings.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = true;
        v.set_audience(&self.settings.audience);
        v.set_issuer(&[&self.issuer]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v
    }

    /// Fetches the JWKS again if it was not fetched within the minimum interval; true if
    /// the keys were replaced.
    async fn refresh_for_unknown_kid(&self) -> bool {
        let Some(uri) = &self.jwks_uri else {
            return false;
        };
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.settings.jwks_min_refresh) {
            return false;
        }
        *last = Some(Instant::now());
        match fetch_jwks(&self.http, uri).await {
            Ok(keys) => {
                tracing::info!(jwks = %uri, keys = keys.len(), "fetched the JWKS again for an unknown key id");
                *self.fetched.write().await = keys;
                true
            }
            Err(e) => {
                tracing::warn!(jwks = %uri, error = %e, "cannot fetch the JWKS; keeping the keys held");
                false
            }
        }
    }

    fn read_claims(
        &self,
        claims: &serde_json::Map<String, Value>,
    ) -> Result<VerifiedToken, TokenRejected> {
        let name = claims
            .get(&self.settings.name_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                TokenRejected(format!(
                    "the token has no {} claim naming its principal",
                    self.settings.name_claim
                ))
            })?
            .to_owned();
        let scopes = match &self.settings.scope_claim {
            Some(claim) => string_list(claims.get(claim)),
            None => match claims.get("scope") {
                Some(v) => string_list(Some(v)),
                None => string_list(claims.get("scp")),
            },
        };
        let auth_classes = self
            .settings
            .auth_classes_claim
            .as_ref()
            .map(|claim| string_list(claims.get(claim)));
        Ok(VerifiedToken {
            name,
            scopes,
            auth_classes,
        })
    }
}

enum KeyLookup {
    NoKey,
    Rejected(TokenRejected),
}

/// A claim read as a list of strings: an array of strings, or one string of
/// space-separated items. Anything else is an empty list.
fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> TokenRejected {
    use jsonwebtoken::errors::ErrorKind as K;
    TokenRejected(
        match kind {
            K::InvalidSignature => "the token's signature does not verify",
            K::ExpiredSignature => "the token has expired",
            K::ImmatureSignature => "the token is not valid yet (nbf)",
            K::InvalidIssuer => "the token is from an issuer this store does not trust",
            K::InvalidAudience => "the token is not meant for this store (aud)",
            K::MissingRequiredClaim(c) => {
                return TokenRejected(format!("the token has no {c} claim"));
            }
            K::InvalidClaimFormat(c) => {
                return TokenRejected(format!("the token's {c} claim is malformed"));
            }
            K::InvalidAlgorithm => "the token's algorithm does not suit its key",
            _ => "the bearer token is not a valid JWT",
        }
        .to_owned(),
    )
}

/// What algorithm family a JWT algorithm belongs to.
trait FamilyOf {
    fn family_of(&self) -> jsonwebtoken::AlgorithmFamily;
}

impl FamilyOf for Algorithm {
    fn family_of(&self) -> jsonwebtoken::AlgorithmFamily {
        use jsonwebtoken::AlgorithmFamily as F;
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => F::Hmac,
            Algorithm::ES256 | Algorithm::ES384 => F::Ec,
            Algorithm::EdDSA => F::Ed,
            _ => F::Rsa,
        }
    }
}

async fn fetch_json(http: &reqwest::Client, url: &url::Url) -> Result<Value, String> {
    let resp = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("answered {}", resp.status()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT as u64)
    {
        return Err("the document is too large".into());
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?;
    if bytes.len() > MAX_DOCUMENT {
        return Err("the document is too large".into());
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))
}

/// Fetches a JWKS and keeps the keys this store can use for signatures.
async fn fetch_jwks(http: &reqwest::Client, url: &url::Url) -> Result<Vec<KeyEntry>, String> {
    let doc = fetch_json(http, url).await?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the document has no keys array")?;
    let mut out = Vec::new();
    let mut skipped: HashMap<&'static str, usize> = HashMap::new();
    for raw in keys {
        // Keys this library cannot read (other types, curves) are skipped, not fatal.
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            *skipped.entry("unreadable").or_default() += 1;
            continue;
        };
        if matches!(
            jwk.common.public_key_use,
            Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
        ) {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            *skipped.entry("unusable").or_default() += 1;
            continue;
        };
        let algorithms = match jwk.common.key_algorithm.map(|a| a.to_string().parse()) {
            Some(Ok(alg)) => vec![alg],
            Some(Err(_)) => {
                *skipped.entry("unsupported alg").or_default() += 1;
                continue;
            }
            None => key.family().algorithms().to_vec(),
        };
        out.push(KeyEntry {
            kid: jwk.common.key_id.clone(),
            algorithms,
            key,
        });
    }
    if !skipped.is_empty() {
        tracing::info!(jwks = %url, ?skipped, "some JWKS keys are not usable for signatures");
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scopes_read_from_a_space_separated_string_or_an_array() {
        let s = Value::String("tams-api/read  tams-api/write".into());
        assert_eq!(string_list(Some(&s)), ["tams-api/read", "tams-api/write"]);
        let a = serde_json::json!(["a", 3, "b"]);
        assert_eq!(string_list(Some(&a)), ["a", "b"]);
        assert!(string_list(Some(&serde_json::json!(7))).is_empty());
        assert!(string_list(None).is_empty());
    }

    #[test]
    fn a_secret_key_is_redacted_in_debug() {
        let k = StaticKey {
            kid: Some("k1".into()),
            alg: Algorithm::HS256,
            material: KeyMaterial::Secret(Secret::new("hunter2-very-secret")),
        };
        let shown = format!("{k:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("k1"));
    }
}
