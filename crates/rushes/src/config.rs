//! Settings of `rushes serve`: the TOML configuration file, overridden by flags.
//!
//! ```toml
//! [server]
//! listen = "0.0.0.0:8080"
//! data_dir = "/var/lib/rushes"
//!
//! [auth]
//! scopes = { read = "tams-api/read", write = "tams-api/write" }  # defaults shown
//!
//! [auth.jwt]
//! issuer = "https://idp.example/realms/media"
//! audience = ["rushes"]
//! oidc_discovery_url = "https://idp.example/realms/media/.well-known/openid-configuration"
//!
//! [[auth.basic.users]]
//! name = "ingest"
//! password_hash = "$argon2id$v=19$..."   # from `rushes hash-password`
//! scopes = ["tams-api/read", "tams-api/write"]
//!
//! [auth.classes]                 # class ceilings: the most a class grants (default: all)
//! sport_ro = ["read"]
//!
//! [cors]
//! allowed_origins = ["https://ui.example"]
//!
//! [[storage]]                    # storage backends (docs/STORAGE.md); default: the
//! label = "archive"              # media directory under data_dir
//! url = "s3://bucket/prefix?endpoint=http://127.0.0.1:8333&region=us-east-1"
//! default = true
//! ```
//!
//! Unknown keys are errors, so a misspelt setting is not silently ignored. Secrets (HS256
//! keys) may be given inline or read from a file; `Debug` of these types never shows them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use rushes_api::auth::{
    Algorithm, AuthSettings, BasicSettings, BasicUser, CorsSettings, JwtSettings, KeyMaterial,
    ScopeNames, Secret, StaticKey,
};
use rushes_core::classes::ClassCeilings;
use rushes_core::ops::events::{EventSettings, TargetPolicy};
use rushes_core::{Access, Permission};
use rushes_index::redact_url;
use rushes_objects::{BackendSpec, StorageLocation};
use serde::Deserialize;

use crate::cli::ServeArgs;

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    pub auth: Option<AuthSection>,
    #[serde(default)]
    pub cors: CorsSection,
    #[serde(default)]
    pub events: EventsSection,
    /// `[[storage]]`: the storage backends.
    #[serde(default)]
    pub storage: Vec<StorageSection>,
    #[serde(default)]
    pub database: DatabaseSection,
}

/// `[database]`: where the metadata index is (docs/DEPLOYMENT.md).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `postgres://...` or `sqlite:PATH`; default: `rushes.db` under the data directory.
    pub url: Option<String>,
    /// Most read connections this node opens to PostgreSQL (default 8); it also holds one
    /// write connection and one that watches for events.
    pub max_connections: Option<usize>,
}

impl fmt::Debug for DatabaseSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSection")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// `[server]`: the same settings as the flags of `rushes serve`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub public_url: Option<url::Url>,
    pub object_timeout: Option<u64>,
    pub gc_grace: Option<u64>,
    pub worker_interval: Option<u64>,
    pub work_lease: Option<u64>,
    pub max_body: Option<usize>,
}

/// `[auth]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    #[serde(default)]
    pub scopes: ScopesSection,
    pub jwt: Option<JwtSection>,
    pub basic: Option<BasicSection>,
    /// `[auth.classes]`: class name to the permissions (`read`, `write`, `delete`) it
    /// grants at most; a class not listed grants every permission.
    #[serde(default)]
    pub classes: BTreeMap<String, Vec<String>>,
}

/// `[auth.scopes]`: the scope names of each permission.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopesSection {
    pub read: Option<String>,
    pub write: Option<String>,
    pub delete: Option<String>,
    pub admin: Option<String>,
}

/// `[auth.jwt]`: bearer tokens and `access_token`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    pub issuer: Option<String>,
    #[serde(default)]
    pub audience: OneOrMany,
    pub jwks_url: Option<url::Url>,
    pub oidc_discovery_url: Option<url::Url>,
    /// Seconds of tolerance on `exp`/`nbf` (default 30).
    pub leeway: Option<u64>,
    /// Shortest seconds between JWKS fetches prompted by unknown key ids (default 30).
    pub jwks_min_refresh: Option<u64>,
    /// Claim naming the principal (default `sub`).
    pub name_claim: Option<String>,
    /// Claim holding the scopes (default: `scope`, then `scp`).
    pub scope_claim: Option<String>,
    /// Claim holding the auth classes (default: none, auth classes unused).
    pub auth_classes_claim: Option<String>,
    #[serde(default)]
    pub keys: Vec<KeySection>,
}

/// A list given as one string or an array of strings.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `[[auth.jwt.keys]]`: one static key: a public key in PEM (inline or a file) or an
/// HMAC secret (inline or a file).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySection {
    pub kid: Option<String>,
    /// `RS256`, `ES256`, `HS256`, ...
    pub alg: String,
    pub pem: Option<String>,
    pub pem_file: Option<PathBuf>,
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
}

impl fmt::Debug for KeySection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySection")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("pem", &self.pem.as_ref().map(|_| ".."))
            .field("pem_file", &self.pem_file)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("secret_file", &self.secret_file)
            .finish()
    }
}

/// `[auth.basic]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicSection {
    /// Seconds a successful password check is remembered (default 60; 0 disables).
    pub cache_ttl: Option<u64>,
    #[serde(default)]
    pub users: Vec<UserSection>,
}

/// `[[auth.basic.users]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    pub name: String,
    pub password_hash: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub auth_classes: Option<Vec<String>>,
}

impl fmt::Debug for UserSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSection")
            .field("name", &self.name)
            .field("password_hash", &"[redacted]")
            .field("scopes", &self.scopes)
            .field("auth_classes", &self.auth_classes)
            .finish()
    }
}

/// `[events]`: webhook delivery, event streams and the outbox (docs/EVENTS.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSection {
    /// Run the webhook delivery worker on this node (default true).
    pub deliver: Option<bool>,
    /// This node's name in delivery leases (default: host name and data directory).
    pub node_id: Option<String>,
    /// Seconds a delivered event stays in the outbox (default 86400), for streams resuming
    /// with `Last-Event-ID`.
    pub retention: Option<u64>,
    /// Milliseconds to connect to a webhook (default 5000).
    pub connect_timeout_ms: Option<u64>,
    /// Milliseconds for a whole webhook request (default 10000).
    pub request_timeout_ms: Option<u64>,
    /// First retry delay in milliseconds, doubled per failure (default 500).
    pub retry_initial_ms: Option<u64>,
    /// Longest retry delay in milliseconds (default 60000).
    pub retry_max_ms: Option<u64>,
    /// Seconds an event may keep failing before the webhook's status becomes `error`
    /// (default 86400).
    pub give_up_after: Option<u64>,
    /// Milliseconds between fallback polls for work (default 5000; commits wake delivery at once).
    pub poll_interval_ms: Option<u64>,
    /// Seconds between heartbeats on idle event streams (default 15).
    pub heartbeat: Option<u64>,
    /// Seconds of a node's lease on a webhook's delivery (default 30).
    pub lease: Option<u64>,
    /// Hosts (`hooks.example`, `*.example`) and networks (`10.0.0.0/8`, `::1`) webhooks
    /// may point at; empty (the default): any not denied.
    #[serde(default)]
    pub allow_targets: Vec<String>,
    /// Hosts and networks webhooks may not point at, on top of the built-in list (cloud
    /// metadata addresses and names, link-local).
    #[serde(default)]
    pub deny_targets: Vec<String>,
}

impl EventsSection {
    /// The delivery settings, defaults filled in.
    pub fn settings(self, data_dir: &Path) -> anyhow::Result<EventSettings> {
        let d = EventSettings::default();
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        let targets = TargetPolicy::new(&self.allow_targets, &self.deny_targets)
            .map_err(|e| anyhow::anyhow!("[events] allow_targets/deny_targets: {e}"))?;
        Ok(EventSettings {
            deliver: self.deliver.unwrap_or(d.deliver),
            node_id: self.node_id.unwrap_or_else(|| {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_owned())
                    .unwrap_or_default();
                format!("{host}:{}", data_dir.display())
            }),
            connect_timeout: self.connect_timeout_ms.map_or(d.connect_timeout, ms),
            request_timeout: self.request_timeout_ms.map_or(d.request_timeout, ms),
            retry_initial: self.retry_initial_ms.map_or(d.retry_initial, ms).max(ms(1)),
            retry_max: self.retry_max_ms.map_or(d.retry_max, ms).max(ms(1)),
            give_up_after: self.give_up_after.map_or(d.give_up_after, s),
            lease: self.lease.map_or(d.lease, s).max(s(3)),
            poll_interval: self
                .poll_interval_ms
                .map_or(d.poll_interval, ms)
                .max(ms(10)),
            retention: self.retention.map_or(d.retention, s),
            heartbeat: self.heartbeat.map_or(d.heartbeat, s).max(s(1)),
            targets,
            ..d
        })
    }
}

/// `[[storage]]`: one storage backend of media objects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// The backend's id (a UUID); default: kept in the backend itself (docs/STORAGE.md).
    pub id: Option<String>,
    /// Label in `/service/storage-backends` and `get_urls` (default `local` or `s3`).
    pub label: Option<String>,
    /// `s3://bucket/prefix?endpoint=..&region=..`, `file:///path` or a path (relative to
    /// the configuration file).
    pub url: String,
    /// Whether new storage goes here unless a request names a backend.
    #[serde(default)]
    pub default: bool,
}

/// The storage backends of `sections` and `--object-store-url`, and which is the default.
///
/// Without either: the media directory under `data_dir`. `--object-store-url` is the
/// default backend (the `[[storage]]` entry with the same URL, or a new one); when it is
/// given without `[[storage]]` tables, the media directory under `data_dir` is kept as a
/// second backend if it already holds objects of this store (a `backend-id` file), so
/// their instances stay readable.
pub fn storage_backends(
    sections: Vec<StorageSection>,
    object_store_url: Option<String>,
    data_dir: &Path,
    base: &Path,
) -> anyhow::Result<(Vec<BackendSpec>, usize)> {
    let local_media = data_dir.join("media");
    let mut specs = Vec::with_capacity(sections.len() + 1);
    let mut urls = Vec::with_capacity(sections.len() + 1);
    let mut default = None;
    let declared = !sections.is_empty();
    for (i, s) in sections.into_iter().enumerate() {
        let mut spec = BackendSpec::from_url(&s.url)
            .with_context(|| format!("[[storage]] {}", s.label.as_deref().unwrap_or(&s.url)))?;
        if let StorageLocation::Local(p) = &spec.location {
            spec.location = StorageLocation::Local(base.join(p));
        }
        if let Some(id) = s.id.as_deref() {
            let id = uuid::Uuid::parse_str(id)
                .map_err(|_| anyhow::anyhow!("[[storage]] id {id:?} is not a UUID"))?;
            spec.id = Some(id);
        }
        spec.label = s.label;
        if s.default {
            if default.is_some() {
                bail!("more than one [[storage]] table has default = true");
            }
            default = Some(i);
        }
        urls.push(s.url);
        specs.push(spec);
    }
    if let Some(url) = object_store_url {
        default = match urls.iter().position(|u| *u == url) {
            Some(i) => Some(i),
            None => {
                specs.insert(
                    0,
                    BackendSpec::from_url(&url).context("invalid --object-store-url")?,
                );
                Some(0)
            }
        };
        if !declared && local_media.join(rushes_objects::BACKEND_ID_FILE).exists() {
            specs.push(BackendSpec {
                location: StorageLocation::Local(local_media.clone()),
                id: None,
                label: None,
                signing_secret: None,
            });
        }
    }
    if specs.is_empty() {
        specs.push(BackendSpec {
            location: StorageLocation::Local(local_media),
            id: None,
            label: None,
            signing_secret: None,
        });
    }
    let default = match default {
        Some(d) => d,
        None if specs.len() == 1 => 0,
        None => bail!(
            "several [[storage]] backends and none is the default: \
             set default = true on one, or give --object-store-url"
        ),
    };
    Ok((specs, default))
}

/// `[cors]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSection {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// Everything `rushes serve` runs with, after merging the file and the flags.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub public_url: Option<url::Url>,
    pub object_timeout: u64,
    pub gc_grace: u64,
    pub worker_interval: u64,
    pub work_lease: u64,
    pub max_body: usize,
    pub insecure: bool,
    pub auth: AuthSettings,
    /// The most each auth class grants, from `[auth.classes]`.
    pub class_ceilings: ClassCeilings,
    pub cors: CorsSettings,
    pub events: EventSettings,
    /// The storage backends of media objects.
    pub storage: Vec<BackendSpec>,
    /// Index in `storage` of the default backend.
    pub default_storage: usize,
    /// The metadata database (`None`: SQLite under `data_dir`).
    pub database: Database,
}

/// Where the metadata index is.
pub enum Database {
    /// The embedded default: a SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server, by URL, with this node's most read connections.
    Postgres { url: String, max_readers: usize },
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            Database::Postgres { url, max_readers } => {
                write!(
                    f,
                    "Postgres({}, max_readers {max_readers})",
                    redact_url(url)
                )
            }
        }
    }
}

impl Database {
    /// The database named by `url` (`postgres://`, `postgresql://`, `sqlite:PATH`), or the
    /// SQLite file under `data_dir` when there is none.
    pub fn from_url(
        url: Option<String>,
        data_dir: &Path,
        max_readers: Option<usize>,
    ) -> anyhow::Result<Database> {
        let Some(url) = url else {
            return Ok(Database::Sqlite(data_dir.join("rushes.db")));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Database::Postgres {
                url,
                max_readers: max_readers.unwrap_or(8).max(1),
            })
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                bail!("the database URL sqlite: names no file");
            }
            Ok(Database::Sqlite(PathBuf::from(path)))
        } else {
            bail!(
                "unsupported database URL {}: use postgres://user@host/db or sqlite:PATH",
                redact_url(&url)
            )
        }
    }
}

impl FileConfig {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))
    }
}

impl Settings {
    /// The settings of `args`: the file named by `--config`, if any, with every flag given
    /// on the command line (or in the environment) taking precedence.
    pub fn from_args(args: ServeArgs) -> anyhow::Result<Settings> {
        let (file, base) = match &args.config {
            Some(path) => (
                FileConfig::load(path)?,
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
            ),
            None => (FileConfig::default(), PathBuf::new()),
        };
        let server = file.server;
        let (auth, class_ceilings) = match file.auth {
            Some(mut a) => {
                let ceilings = class_ceilings(std::mem::take(&mut a.classes))?;
                (auth_settings(a, &base)?, ceilings)
            }
            None => (AuthSettings::default(), ClassCeilings::default()),
        };
        let mut origins = file.cors.allowed_origins;
        if !args.cors_origins.is_empty() {
            origins = args.cors_origins;
        }
        let data_dir = args
            .data_dir
            .or(server.data_dir)
            .unwrap_or_else(|| PathBuf::from("./rushes-data"));
        let storage = storage_backends(file.storage, args.object_store_url, &data_dir, &base)?;
        Ok(Settings {
            listen: args
                .listen
                .or(server.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir: data_dir.clone(),
            public_url: args.public_url.or(server.public_url),
            object_timeout: args
                .object_timeout
                .or(server.object_timeout)
                .unwrap_or(3600),
            gc_grace: args.gc_grace.or(server.gc_grace).unwrap_or(600),
            worker_interval: args.worker_interval.or(server.worker_interval).unwrap_or(5),
            work_lease: args.work_lease.or(server.work_lease).unwrap_or(60).max(1),
            max_body: args
                .max_body
                .or(server.max_body)
                .unwrap_or(16 * 1024 * 1024),
            insecure: args.insecure,
            auth,
            class_ceilings,
            cors: CorsSettings {
                allowed_origins: origins,
            },
            events: file.events.settings(&data_dir)?,
            storage: storage.0,
            default_storage: storage.1,
            database: Database::from_url(
                args.database_url.or(file.database.url),
                &data_dir,
                file.database.max_connections,
            )?,
        })
    }
}

/// Whether the store may start: with no authentication it runs only on a loopback address,
/// unless `insecure`. The error says what to do.
pub fn check_exposure(
    listen: SocketAddr,
    auth_configured: bool,
    insecure: bool,
) -> anyhow::Result<()> {
    if auth_configured || insecure || is_loopback(listen) {
        return Ok(());
    }
    bail!(
        "refusing to serve without authentication on {listen}, which is not a loopback address: \
         configure [auth] in a --config file (see docs/AUTH.md), listen on 127.0.0.1, \
         or pass --insecure to serve open to anyone who can reach the address"
    )
}

/// Whether `addr` is reachable only from this machine (IPv4-mapped loopback included).
pub fn is_loopback(addr: SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.is_loopback(),
        std::net::IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn auth_settings(a: AuthSection, base: &Path) -> anyhow::Result<AuthSettings> {
    let defaults = ScopeNames::default();
    let scopes = ScopeNames {
        read: a.scopes.read.unwrap_or(defaults.read),
        write: a.scopes.write.unwrap_or(defaults.write),
        delete: a.scopes.delete.unwrap_or(defaults.delete),
        admin: a.scopes.admin.unwrap_or(defaults.admin),
    };
    let jwt = a.jwt.map(|j| jwt_settings(j, base)).transpose()?;
    let basic = a.basic.map(|b| {
        let defaults = BasicSettings::default();
        BasicSettings {
            cache_ttl: b
                .cache_ttl
                .map(Duration::from_secs)
                .unwrap_or(defaults.cache_ttl),
            users: b
                .users
                .into_iter()
                .map(|u| BasicUser {
                    name: u.name,
                    password_hash: u.password_hash,
                    scopes: u.scopes,
                    auth_classes: u.auth_classes,
                })
                .collect(),
        }
    });
    if jwt.is_none() && basic.as_ref().is_none_or(|b| b.users.is_empty()) {
        bail!("[auth] configures no scheme: add [auth.jwt] or users under [auth.basic]");
    }
    Ok(AuthSettings { jwt, basic, scopes })
}

/// The class ceilings of `[auth.classes]`: each class names the permissions it grants at
/// most, among `read`, `write` and `delete`; any other name is an error.
fn class_ceilings(classes: BTreeMap<String, Vec<String>>) -> anyhow::Result<ClassCeilings> {
    let mut ceilings = BTreeMap::new();
    for (class, names) in classes {
        if class.trim().is_empty() || class.contains(',') || class.trim() != class {
            bail!(
                "[auth.classes] {class:?}: a class name must be non-empty, \
                 without surrounding blanks or commas"
            );
        }
        let mut access = Access::default();
        for name in &names {
            let permission = match name.as_str() {
                "read" => Permission::Read,
                "write" => Permission::Write,
                "delete" => Permission::Delete,
                "admin" => bail!(
                    "[auth.classes] {class}: \"admin\" cannot be granted by a class \
                     (only the admin scope grants it); use read, write or delete"
                ),
                other => bail!(
                    "[auth.classes] {class}: unknown permission {other:?}; \
                     expected read, write or delete"
                ),
            };
            access.grant(permission);
        }
        ceilings.insert(class, access);
    }
    Ok(ClassCeilings(ceilings))
}

fn jwt_settings(j: JwtSection, base: &Path) -> anyhow::Result<JwtSettings> {
    let defaults = JwtSettings::default();
    let mut keys = Vec::new();
    for k in j.keys {
        let kid = k.kid.as_deref().unwrap_or("(no kid)").to_owned();
        let alg: Algorithm = k
            .alg
            .parse()
            .map_err(|_| anyhow::anyhow!("[[auth.jwt.keys]] {kid}: unknown alg {:?}", k.alg))?;
        let material = match (k.pem, k.pem_file, k.secret, k.secret_file) {
            (Some(pem), None, None, None) => KeyMaterial::Pem(pem),
            (None, Some(file), None, None) => KeyMaterial::Pem(read_file(base, &file)?),
            (None, None, Some(secret), None) => KeyMaterial::Secret(Secret::new(secret)),
            (None, None, None, Some(file)) => {
                KeyMaterial::Secret(Secret::new(read_file(base, &file)?.trim_end().to_owned()))
            }
            _ => bail!(
                "[[auth.jwt.keys]] {kid}: give exactly one of pem, pem_file, secret, secret_file"
            ),
        };
        keys.push(StaticKey {
            kid: k.kid,
            alg,
            material,
        });
    }
    Ok(JwtSettings {
        issuer: j.issuer,
        audience: j.audience.into_vec(),
        leeway: j.leeway.map(Duration::from_secs).unwrap_or(defaults.leeway),
        keys,
        jwks_url: j.jwks_url,
        oidc_discovery_url: j.oidc_discovery_url,
        jwks_min_refresh: j
            .jwks_min_refresh
            .map(Duration::from_secs)
            .unwrap_or(defaults.jwks_min_refresh),
        name_claim: j.name_claim.unwrap_or(defaults.name_claim),
        scope_claim: j.scope_claim,
        auth_classes_claim: j.auth_classes_claim,
    })
}

/// Reads a file named in the configuration, relative to the configuration's directory.
fn read_file(base: &Path, file: &Path) -> anyhow::Result<String> {
    let path = base.join(file);
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn exposure_rules() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:8080".parse().unwrap();
        let v6lo: SocketAddr = "[::1]:8080".parse().unwrap();
        assert!(check_exposure(lo, false, false).is_ok());
        assert!(check_exposure(v6lo, false, false).is_ok());
        assert!(check_exposure(mapped, false, false).is_ok());
        assert!(check_exposure(any, false, false).is_err());
        assert!(check_exposure(any, true, false).is_ok());
        assert!(check_exposure(any, false, true).is_ok());
    }

    #[test]
    fn a_full_file_parses_and_debug_hides_secrets() {
        let text = r#"
            [server]
            listen = "127.0.0.1:9000"
            [auth.scopes]
            read = "r"
            [auth.jwt]
            issuer = "https://idp"
            audience = "rushes"
            [[auth.jwt.keys]]
            kid = "k"
            alg = "HS256"
            secret = "topsecret-value"
            [[auth.basic.users]]
            name = "ann"
            password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
            scopes = ["r"]
            [cors]
            allowed_origins = ["https://ui.example"]
        "#;
        let file: FileConfig = toml::from_str(text).unwrap();
        let shown = format!("{file:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(!shown.contains("argon2id"), "{shown}");
        let auth = auth_settings(file.auth.unwrap(), Path::new("")).unwrap();
        assert_eq!(auth.scopes.read, "r");
        assert_eq!(auth.scopes.write, "tams-api/write");
        let jwt = auth.jwt.as_ref().unwrap();
        assert_eq!(jwt.audience, ["rushes"]);
        assert!(!format!("{auth:?}").contains("topsecret"));
    }

    #[test]
    fn class_ceilings_parse_and_unknown_permissions_are_errors() {
        let text = r#"
            [[auth.basic.users]]
            name = "ann"
            password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
            scopes = ["tams-api/read"]
            [auth.classes]
            sport_ro = ["read"]
            news_rw = ["read", "write"]
        "#;
        let file: FileConfig = toml::from_str(text).unwrap();
        let ceilings = class_ceilings(file.auth.unwrap().classes).unwrap();
        let ro = ceilings.of("sport_ro");
        assert!(ro.read && !ro.write && !ro.delete && !ro.admin);
        let rw = ceilings.of("news_rw");
        assert!(rw.read && rw.write && !rw.delete);
        let unlisted = ceilings.of("other");
        assert!(unlisted.read && unlisted.write && unlisted.delete);

        let bad = |list: &str| {
            let file: FileConfig =
                toml::from_str(&format!("[auth.classes]\nx = {list}\n")).unwrap();
            class_ceilings(file.auth.unwrap().classes)
                .unwrap_err()
                .to_string()
        };
        let err = bad(r#"["read", "wirte"]"#);
        assert!(err.contains("unknown permission \"wirte\""), "{err}");
        assert!(err.contains("[auth.classes] x"), "{err}");
        let err = bad(r#"["admin"]"#);
        assert!(err.contains("admin"), "{err}");
        // A ceiling must be a list of names.
        assert!(toml::from_str::<FileConfig>("[auth.classes]\nx = \"read\"\n").is_err());
        assert!(toml::from_str::<FileConfig>("[auth.classes]\nx = [1]\n").is_err());
    }

    #[test]
    fn storage_tables_and_the_object_store_url_choose_the_backends() {
        let data = Path::new("/data");
        let parse = |text: &str| toml::from_str::<FileConfig>(text).unwrap().storage;
        let local = |specs: &[BackendSpec], i: usize| match &specs[i].location {
            StorageLocation::Local(p) => p.clone(),
            other => panic!("not local: {other:?}"),
        };
        // Nothing given: the media directory under the data directory.
        let (specs, default) = storage_backends(vec![], None, data, Path::new("")).unwrap();
        assert_eq!((specs.len(), default), (1, 0));
        assert_eq!(local(&specs, 0), Path::new("/data/media"));
        // The flag alone: that backend, the default.
        let s3 = "s3://b/p?endpoint=http://127.0.0.1:1";
        let (specs, default) =
            storage_backends(vec![], Some(s3.into()), data, Path::new("")).unwrap();
        assert_eq!((specs.len(), default), (1, 0));
        assert!(matches!(specs[0].location, StorageLocation::S3(_)));
        // Tables: ids, labels, relative paths under the file's directory, one default.
        let id = "6f1f0a4e-8a9c-4e55-9d7a-0b1c2d3e4f50";
        let tables = format!(
            "[[storage]]\nlabel = \"disk\"\nurl = \"media\"\n\n\
             [[storage]]\nlabel = \"bucket\"\nid = \"{id}\"\nurl = \"{s3}\"\ndefault = true\n"
        );
        let (specs, default) =
            storage_backends(parse(&tables), None, data, Path::new("/etc/rushes")).unwrap();
        assert_eq!(default, 1);
        assert_eq!(local(&specs, 0), Path::new("/etc/rushes/media"));
        assert_eq!(specs[1].id.unwrap().to_string(), id);
        assert_eq!(specs[1].label.as_deref(), Some("bucket"));
        // The flag picks the table with its URL, or adds one, as the default.
        let (specs, default) =
            storage_backends(parse(&tables), Some("media".into()), data, Path::new("")).unwrap();
        assert_eq!((specs.len(), default), (2, 0));
        let (specs, default) =
            storage_backends(parse(&tables), Some("/other".into()), data, Path::new("")).unwrap();
        assert_eq!((specs.len(), default), (3, 0));
        assert_eq!(local(&specs, 0), Path::new("/other"));

        let err = |text: &str| {
            storage_backends(parse(text), None, data, Path::new(""))
                .unwrap_err()
                .to_string()
        };
        let two = "[[storage]]\nurl = \"a\"\n[[storage]]\nurl = \"s3://b\"\n";
        assert!(err(two).contains("none is the default"));
        let both = "[[storage]]\nurl = \"a\"\ndefault = true\n\
                    [[storage]]\nurl = \"s3://b\"\ndefault = true\n";
        assert!(err(both).contains("more than one"));
        assert!(err("[[storage]]\nurl = \"a\"\nid = \"x\"\n").contains("not a UUID"));
        let no_bucket = parse("[[storage]]\nurl = \"s3:///p\"\n");
        let bad = storage_backends(no_bucket, None, data, Path::new("")).unwrap_err();
        let bad = format!("{bad:#}");
        assert!(bad.contains("no bucket"), "{bad}");
        assert!(toml::from_str::<FileConfig>("[[storage]]\nurl = \"a\"\nbucket = 1\n").is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<FileConfig>("[auth]\nscheme = 1\n").is_err());
        assert!(toml::from_str::<FileConfig>("[sever]\n").is_err());
    }
}
