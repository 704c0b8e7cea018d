//! HTTP basic users: argon2 password hashes and a short cache of successful checks.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use sha2::{Digest, Sha256};

use super::AuthSetupError;

/// Most entries the verification cache holds; beyond it expired entries are dropped, and
/// if none are, the cache starts afresh.
const CACHE_CAPACITY: usize = 4096;

/// One user of HTTP basic authentication.
#[derive(Clone)]
pub struct BasicUser {
    pub name: String,
    /// The argon2 hash of the password in PHC string format (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// The scopes the user holds (the same names bearer tokens carry).
    pub scopes: Vec<String>,
    /// The user's auth classes, if auth classes are used.
    pub auth_classes: Option<Vec<String>>,
}

impl fmt::Debug for BasicUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicUser")
            .field("name", &self.name)
            .field("password_hash", &"[redacted]")
            .field("scopes", &self.scopes)
            .field("auth_classes", &self.auth_classes)
            .finish()
    }
}

/// Settings of HTTP basic authentication.
#[derive(Debug, Clone)]
pub struct BasicSettings {
    pub users: Vec<BasicUser>,
    /// How long a successful check is remembered, so that a client sending many requests
    /// does not pay for argon2 on each one. Zero disables the cache.
    pub cache_ttl: Duration,
}

impl Default for BasicSettings {
    fn default() -> BasicSettings {
        BasicSettings {
            users: Vec::new(),
            cache_ttl: Duration::from_secs(60),
        }
    }
}

/// Hashes `password` with argon2id and a random salt, in PHC string format.
pub fn hash_password(password: &str) -> Result<String, AuthSetupError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthSetupError(format!("cannot hash the password: {e}")))
}

/// When a check succeeded, and for whom.
type CacheEntry = (Instant, Arc<BasicUser>);

/// Checks basic credentials.
pub struct BasicVerifier {
    users: HashMap<String, Arc<BasicUser>>,
    /// A hash checked when the user is unknown, so that the answer takes as long as for a
    /// known user with a wrong password.
    decoy_hash: String,
    cache_ttl: Duration,
    /// Key of the cache's digests, random per process, so the cache holds nothing that a
    /// password could be tested against elsewhere.
    cache_key: [u8; 32],
    cache: Mutex<HashMap<[u8; 32], CacheEntry>>,
}

impl fmt::Debug for BasicVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicVerifier")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("cache_ttl", &self.cache_ttl)
            .finish()
    }
}

impl BasicVerifier {
    /// Checks every hash is a valid PHC string and the names are unique.
    pub fn build(settings: BasicSettings) -> Result<BasicVerifier, AuthSetupError> {
        let mut users = HashMap::new();
        for user in settings.users {
            if user.name.is_empty() || user.name.contains(':') {
                return Err(AuthSetupError(format!(
                    "basic user {:?}: a name must be non-empty and hold no ':'",
                    user.name
                )));
            }
            PasswordHash::new(&user.password_hash).map_err(|e| {
                AuthSetupError(format!(
                    "basic user {:?}: password_hash is not a PHC hash string ({e}); \
                     make one with `rushes hash-password`",
                    user.name
                ))
            })?;
            let name = user.name.clone();
            if users.insert(name.clone(), Arc::new(user)).is_some() {
                return Err(AuthSetupError(format!(
                    "basic user {name:?} is configured twice"
                )));
            }
        }
        let mut cache_key = [0u8; 32];
        cache_key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        cache_key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Ok(BasicVerifier {
            users,
            decoy_hash: hash_password("rushes decoy password")?,
            cache_ttl: settings.cache_ttl,
            cache_key,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The user whose name and password these are, or `None`.
    pub async fn verify(self: &Arc<Self>, name: &str, password: &str) -> Option<Arc<BasicUser>> {
        let digest = self.digest(name, password);
        if let Some(user) = self.cached(&digest) {
            return Some(user);
        }
        let this = self.clone();
        let (name, password) = (name.to_owned(), password.to_owned());
        let user = tokio::task::spawn_blocking(move || this.verify_slow(&name, &password))
            .await
            .ok()
            .flatten()?;
        self.remember(digest, user.clone());
        Some(user)
    }

    fn verify_slow(&self, name: &str, password: &str) -> Option<Arc<BasicUser>> {
        let user = self.users.get(name);
        let hash = user.map_or(self.decoy_hash.as_str(), |u| u.password_hash.as_str());
        let parsed = PasswordHash::new(hash).ok()?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        if ok {
            user.cloned()
        } else {
            None
        }
    }

    fn digest(&self, name: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.cache_key);
        h.update((name.len() as u64).to_be_bytes());
        h.update(name.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<Arc<BasicUser>> {
        if self.cache_ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().ok()?;
        cache
            .get(digest)
            .filter(|(at, _)| at.elapsed() < self.cache_ttl)
            .map(|(_, u)| u.clone())
    }

    fn remember(&self, digest: [u8; 32], user: Arc<BasicUser>) {
        if self.cache_ttl.is_zero() {
            return;
        }
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_CAPACITY {
            let ttl = self.cache_ttl;
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(digest, (Instant::now(), user));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn verifier(ttl: Duration) -> Arc<BasicVerifier> {
        Arc::new(
            BasicVerifier::build(BasicSettings {
                users: vec![BasicUser {
                    name: "editor".into(),
                    password_hash: hash_password("correct horse").unwrap(),
                    scopes: vec!["tams-api/read".into()],
                    auth_classes: None,
                }],
                cache_ttl: ttl,
            })
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn right_password_passes_and_wrong_or_unknown_fails() {
        let v = verifier(Duration::from_secs(60));
        assert_eq!(
            v.verify("editor", "correct horse").await.unwrap().name,
            "editor"
        );
        assert!(v.verify("editor", "correct horse!").await.is_none());
        assert!(v.verify("nobody", "correct horse").await.is_none());
        // Served from the cache now; the wrong password still fails.
        assert!(v.verify("editor", "correct horse").await.is_some());
        assert!(v.verify("editor", "wrong").await.is_none());
    }

    #[tokio::test]
    async fn the_cache_holds_only_successes() {
        let v = verifier(Duration::from_secs(60));
        assert!(v.verify("editor", "wrong").await.is_none());
        assert!(v.cache.lock().unwrap().is_empty());
        assert!(v.verify("editor", "correct horse").await.is_some());
        assert_eq!(v.cache.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_plain_text_password_is_refused_at_start() {
        let err = BasicVerifier::build(BasicSettings {
            users: vec![BasicUser {
                name: "x".into(),
                password_hash: "plain".into(),
                scopes: vec![],
                auth_classes: None,
            }],
            cache_ttl: Duration::ZERO,
        })
        .unwrap_err();
        assert!(err.0.contains("PHC"), "{}", err.0);
    }

    #[test]
    fn debug_hides_the_hash() {
        let user = BasicUser {
            name: "x".into(),
            password_hash: "$argon2id$v=19$secret".into(),
            scopes: vec![],
            auth_classes: None,
        };
        assert!(!format!("{user:?}").contains("argon2id"));
    }
}
