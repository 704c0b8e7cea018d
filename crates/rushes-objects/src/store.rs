//! `MediaStore`: media objects on an `ObjectStore` backend, with signed URLs.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::{HeaderValue, Method, SignedUrlOptions, Signer as _};
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, GetResultPayload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutOptions, RetryConfig, WriteMultipart,
};
use url::Url;
use uuid::Uuid;

use crate::location::{S3Location, StorageLocation};
use crate::object_id::{object_id_of_key, object_key, OBJECTS_PREFIX};
use crate::range::ByteRange;
use crate::signing::{
    unix_seconds, validate_content_type, GetUrlBatch, MediaGrant, MediaMethod, Signer,
};
use crate::{ObjectsError, SignatureError, SigningSecret};

/// File in the media directory holding the storage backend's id.
pub const BACKEND_ID_FILE: &str = "backend-id";
/// File in the media directory holding the signing secret when none is configured.
pub const SIGNING_SECRET_FILE: &str = "signing-secret";
/// Prefix under which uploads are staged until complete.
const STAGING_PREFIX: &str = "staging";
/// Size of the parts an upload is written in.
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts of one upload written at the same time.
const PARTS_IN_FLIGHT: usize = 2;
/// Size of the chunks a local object is read in.
const READ_CHUNK: u64 = 256 * 1024;
/// Staged uploads untouched for this long are left over from a crash and removed at open.
const STALE_STAGING: Duration = Duration::from_secs(24 * 60 * 60);
/// Path of the media endpoint below the public base URL.
pub const MEDIA_PATH: &str = "media/";
/// Key, below an S3 backend's prefix, of the object holding the backend's id.
pub const S3_BACKEND_ID_KEY: &str = ".rushes/backend-id";
/// Longest lifetime of an S3 presigned URL (SigV4 allows seven days).
const MAX_PRESIGNED_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// How long an S3 request (with its retries) may take before it fails.
const S3_RETRY_TIMEOUT: Duration = Duration::from_secs(15);

/// A storage backend as `/service/storage-backends` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageBackendInfo {
    /// Stable id of the backend.
    pub id: Uuid,
    /// Human-readable label.
    pub label: String,
    /// Generic type; always `http_object_store`.
    pub store_type: String,
    /// Who provides the storage.
    pub provider: String,
    /// The storage product.
    pub store_product: String,
    /// Cloud region, if any.
    pub region: Option<String>,
    /// Cloud availability zone, if any.
    pub availability_zone: Option<String>,
    /// Whether this is the default backend for new storage.
    pub default_storage: bool,
}

/// What is known of a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's id.
    pub object_id: String,
    /// Size in bytes.
    pub size: u64,
    /// When the object was stored.
    pub last_modified: SystemTime,
    /// An opaque version tag from the backend, if it gives one (unquoted).
    pub e_tag: Option<String>,
}

/// The answer to a read: which bytes, of what object, and the bytes themselves as a stream.
pub struct MediaRead {
    /// The whole object (its `size` is the total size).
    pub info: ObjectInfo,
    /// The half-open byte range the stream yields.
    pub range: Range<u64>,
    /// The bytes of `range`, in order.
    pub body: BoxStream<'static, Result<Bytes, ObjectsError>>,
}

impl fmt::Debug for MediaRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaRead")
            .field("info", &self.info)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// How to open a backend: where, and optionally its id, label and (local) signing secret.
#[derive(Clone, Debug)]
pub struct BackendSpec {
    /// Where the objects live.
    pub location: StorageLocation,
    /// The backend's id; `None` to keep it in the backend itself (`backend-id` in a local
    /// directory, `<prefix>/.rushes/backend-id` in a bucket), created on first open.
    pub id: Option<Uuid>,
    /// Label shown in `/service/storage-backends` and `get_urls`; default `local` or `s3`.
    pub label: Option<String>,
    /// Key of a local backend's signed URLs; `None` to keep one in the media directory.
    pub signing_secret: Option<SigningSecret>,
}

impl BackendSpec {
    /// A backend at `url` (see [`StorageLocation::parse`]) with its id kept in the backend.
    pub fn from_url(url: &str) -> Result<Self, ObjectsError> {
        Ok(BackendSpec {
            location: StorageLocation::parse(url)?,
            id: None,
            label: None,
            signing_secret: None,
        })
    }
}

/// How a store's URLs are signed.
enum UrlSigning {
    /// HMAC-signed URLs served by Rushes' media endpoint.
    Local { signer: Signer, media_base: Url },
    /// SigV4 presigned URLs of an S3-compatible server, used by clients directly.
    S3 { s3: Arc<AmazonS3>, prefix: Path },
}

/// Media objects on an [`ObjectStore`], addressed by object id, with signed URLs for clients.
pub struct MediaStore {
    store: Arc<dyn ObjectStore>,
    signing: UrlSigning,
    backend: StorageBackendInfo,
}

impl fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MediaStore");
        d.field("store", &self.store.to_string());
        if let UrlSigning::Local { media_base, .. } = &self.signing {
            d.field("media_base", &media_base.as_str());
        }
        d.field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl MediaStore {
    /// Open (creating on first start) a store of media files in `media_dir`, whose signed
    /// URLs point at `{public_base_url}/media/...` served by Rushes itself.
    ///
    /// The backend id is kept in `media_dir/backend-id`. Without a configured secret, the
    /// signing secret is kept in `media_dir/signing-secret` (mode 0600), created on first
    /// start. Uploads left half-done by a crash more than a day ago are removed.
    pub fn open_local(
        media_dir: impl AsRef<FsPath>,
        signing_secret: Option<SigningSecret>,
        public_base_url: Url,
    ) -> Result<Self, ObjectsError> {
        let dir = media_dir.as_ref();
        let setup = |context, path: &FsPath, source| ObjectsError::Setup {
            context,
            path: path.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir.join(OBJECTS_PREFIX))
            .and_then(|()| std::fs::create_dir_all(dir.join(STAGING_PREFIX)))
            .map_err(|e| setup("cannot create the media directory", dir, e))?;
        let id = load_or_create_backend_id(&dir.join(BACKEND_ID_FILE))?;
        let secret = match signing_secret {
            Some(secret) => secret,
            None => SigningSecret::load_or_create(&dir.join(SIGNING_SECRET_FILE))?,
        };
        sweep_stale_staging(&dir.join(STAGING_PREFIX));
        let store = LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
        let backend = StorageBackendInfo {
            id,
            label: "local".to_owned(),
            store_type: "http_object_store".to_owned(),
            provider: "rushes".to_owned(),
            store_product: "rushes-local-disk".to_owned(),
            region: None,
            availability_zone: None,
            default_storage: true,
        };
        Self::new(Arc::new(store), backend, secret, public_base_url)
    }

    /// Open the backend of `spec`: a local directory ([`MediaStore::open_local`]) or an S3
    /// bucket ([`MediaStore::open_s3`]). An S3 bucket is checked to be reachable, so a
    /// store whose object storage is down fails here with a clear error.
    pub async fn open(spec: BackendSpec, public_base_url: Url) -> Result<Self, ObjectsError> {
        let mut store = match &spec.location {
            StorageLocation::Local(dir) => {
                let dir = dir.clone();
                let secret = spec.signing_secret.clone();
                let base = public_base_url.clone();
                tokio::task::spawn_blocking(move || Self::open_local(dir, secret, base))
                    .await
                    .map_err(|e| {
                        ObjectsError::Config(format!("cannot open the media store: {e}"))
                    })??
            }
            StorageLocation::S3(s3) => Self::open_s3(s3, spec.id).await?,
        };
        if let Some(id) = spec.id {
            store.backend.id = id;
        }
        if let Some(label) = spec.label {
            store.backend.label = label;
        }
        Ok(store)
    }

    /// Open the backend at `url` (`s3://bucket/prefix?endpoint=...&region=...`,
    /// `file:///path` or a path), its id kept in the backend itself.
    pub async fn open_url(url: &str, public_base_url: Url) -> Result<Self, ObjectsError> {
        Self::open(BackendSpec::from_url(url)?, public_base_url).await
    }

    /// Open an S3-compatible bucket. Credentials come from the location or the standard
    /// `AWS_*` environment variables; an `http` endpoint is allowed and addressed path-style.
    ///
    /// The backend id is `id` if given, else read from `<prefix>/.rushes/backend-id` in
    /// the bucket, created on first open, so every node using the bucket agrees on it.
    pub async fn open_s3(loc: &S3Location, id: Option<Uuid>) -> Result<Self, ObjectsError> {
        let shown = loc.display_url();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&loc.bucket)
            .with_region(loc.region.as_deref().unwrap_or("us-east-1"))
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: S3_RETRY_TIMEOUT,
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(300)),
            );
        if let Some(endpoint) = &loc.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let (Some(key), Some(secret)) = (&loc.access_key_id, &loc.secret_access_key) {
            builder = builder
                .with_access_key_id(key)
                .with_secret_access_key(secret);
        }
        let s3 = Arc::new(
            builder
                .build()
                .map_err(|e| ObjectsError::Config(format!("storage {shown}: {e}")))?,
        );
        let prefix = Path::from(loc.prefix.as_str());
        let store: Arc<dyn ObjectStore> = if loc.prefix.is_empty() {
            s3.clone()
        } else {
            Arc::new(PrefixStore::new(s3.clone(), prefix.clone()))
        };
        let unreachable = |e: object_store::Error| ObjectsError::Unreachable {
            location: shown.clone(),
            source: e,
        };
        let id = match id {
            Some(id) => {
                // Reachable and the credentials work: list the objects' prefix.
                store
                    .list_with_delimiter(Some(&Path::from(OBJECTS_PREFIX)))
                    .await
                    .map_err(unreachable)?;
                id
            }
            None => s3_backend_id(&store).await.map_err(|e| match e {
                ObjectsError::Backend(e) => unreachable(e),
                e => e,
            })?,
        };
        let backend = StorageBackendInfo {
            id,
            label: "s3".to_owned(),
            store_type: "http_object_store".to_owned(),
            provider: "s3-compatible".to_owned(),
            store_product: "s3".to_owned(),
            region: Some(loc.region.clone().unwrap_or_else(|| "us-east-1".to_owned())),
            availability_zone: None,
            default_storage: true,
        };
        Ok(Self {
            store,
            signing: UrlSigning::S3 { s3, prefix },
            backend,
        })
    }

    /// A store over any [`ObjectStore`] backend whose signed URLs are served by Rushes at
    /// `{public_base_url}/media/...`.
    ///
    /// The backend must support `rename_if_not_exists` (local disk does; S3 needs its
    /// conditional-copy option).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        backend: StorageBackendInfo,
        signing_secret: SigningSecret,
        public_base_url: Url,
    ) -> Result<Self, ObjectsError> {
        Ok(Self {
            store,
            signing: UrlSigning::Local {
                signer: Signer::new(signing_secret),
                media_base: media_base(public_base_url)?,
            },
            backend,
        })
    }

    /// Whether Rushes' media endpoint serves this store's URLs (local mode); an S3 store's
    /// URLs point at the S3 server itself.
    pub fn serves_media_endpoint(&self) -> bool {
        matches!(self.signing, UrlSigning::Local { .. })
    }

    /// Mark this backend as the default one for new storage (or not).
    pub fn set_default(&mut self, default: bool) {
        self.backend.default_storage = default;
    }

    /// The storage backend, for `/service/storage-backends` and object instances.
    pub fn storage_backend(&self) -> &StorageBackendInfo {
        &self.backend
    }

    /// The storage backend's id.
    pub fn backend_id(&self) -> Uuid {
        self.backend.id
    }

    /// The underlying object store.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// A URL that lets its holder upload `object_id` with `content_type` (which the upload
    /// must send as its `Content-Type`), for `ttl` (at most seven days on S3).
    ///
    /// Local mode: a URL of Rushes' media endpoint, usable once. S3 mode: a presigned `PUT`
    /// of the S3 server; S3 cannot refuse a second upload, so only the id's newness at
    /// allocation guards against overwriting.
    pub async fn put_url(
        &self,
        object_id: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Url, ObjectsError> {
        validate_content_type(content_type)?;
        self.signed_url(MediaMethod::Put, object_id, Some(content_type), ttl)
            .await
    }

    /// A URL that lets its holder read `object_id` for `ttl`. The response carries
    /// `content_type` (S3: through the signed `response-content-type` parameter); without
    /// one, `application/octet-stream` locally, the stored content type on S3.
    pub async fn get_url(
        &self,
        object_id: &str,
        content_type: Option<&str>,
        ttl: Duration,
    ) -> Result<Url, ObjectsError> {
        if let Some(ct) = content_type {
            validate_content_type(ct)?;
        }
        self.signed_url(MediaMethod::Get, object_id, content_type, ttl)
            .await
    }

    /// A signer of many read URLs with one `content_type` and `ttl`, each the URL
    /// [`MediaStore::get_url`] gives; `None` when this backend cannot sign in batch (S3),
    /// so that each URL comes from [`MediaStore::get_url`].
    pub fn get_url_batch(
        &self,
        content_type: Option<&str>,
        ttl: Duration,
    ) -> Result<Option<GetUrlBatch>, ObjectsError> {
        if let Some(ct) = content_type {
            validate_content_type(ct)?;
        }
        Ok(match &self.signing {
            UrlSigning::Local { signer, media_base } => {
                let expires = unix_seconds(SystemTime::now()).saturating_add(ttl.as_secs());
                signer.get_batch(media_base, content_type, expires)
            }
            UrlSigning::S3 { .. } => None,
        })
    }

    async fn signed_url(
        &self,
        method: MediaMethod,
        object_id: &str,
        content_type: Option<&str>,
        ttl: Duration,
    ) -> Result<Url, ObjectsError> {
        let key = object_key(object_id)?;
        match &self.signing {
            UrlSigning::Local { signer, media_base } => {
                let expires = unix_seconds(SystemTime::now()).saturating_add(ttl.as_secs());
                let mut url = media_base
                    .join(object_id)
                    .map_err(|e| ObjectsError::Config(format!("cannot build a media URL: {e}")))?;
                signer.sign_into(&mut url, method, object_id, content_type, expires);
                Ok(url)
            }
            UrlSigning::S3 { s3, prefix } => {
                let full = Path::from_iter(prefix.parts().chain(key.parts()));
                let ttl = ttl.clamp(Duration::from_secs(1), MAX_PRESIGNED_TTL);
                let url = match method {
                    MediaMethod::Put => {
                        let mut options = SignedUrlOptions::default();
                        if let Some(ct) = content_type {
                            let value = HeaderValue::from_str(ct).map_err(|_| {
                                ObjectsError::InvalidContentType("not a valid header value")
                            })?;
                            options = options.with_signed_header(
                                object_store::signer::HeaderName::from_static("content-type"),
                                value,
                            );
                        }
                        s3.signed_url_opts(Method::PUT, &full, ttl, &options)
                            .await?
                    }
                    MediaMethod::Get => {
                        // Signed, so the response carries the content type asked for
                        // whatever the object was stored with, as on a local backend.
                        let options = SignedUrlOptions::default().with_query(
                            content_type.map(|ct| ("response-content-type", ct.to_owned())),
                        );
                        s3.signed_url_opts(Method::GET, &full, ttl, &options)
                            .await?
                    }
                };
                Ok(url)
            }
        }
    }

    /// Check the raw query string of a request for `method` on `object_id` (the path
    /// segment after `/media/`). HEAD requests are checked as [`MediaMethod::Get`].
    pub fn verify(
        &self,
        method: MediaMethod,
        object_id: &str,
        query: Option<&str>,
    ) -> Result<MediaGrant, SignatureError> {
        match &self.signing {
            UrlSigning::Local { signer, .. } => {
                signer.verify(method, object_id, query, SystemTime::now())
            }
            // Rushes signs no URL of its own for an S3 backend.
            UrlSigning::S3 { .. } => Err(SignatureError::Mismatch),
        }
    }

    /// Store the bytes of `body` as `object_id`.
    ///
    /// The bytes are staged in parts and the object appears, complete, only once all of them
    /// are durable; if `body` fails or this future is dropped, no object appears. An object
    /// that exists already is never replaced ([`ObjectsError::AlreadyExists`]).
    pub async fn put_stream<S, E>(
        &self,
        object_id: &str,
        body: S,
    ) -> Result<ObjectInfo, ObjectsError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let key = object_key(object_id)?;
        if self.exists(object_id).await? {
            return Err(already_exists(object_id));
        }
        if let UrlSigning::S3 { .. } = self.signing {
            // An S3 multipart upload appears atomically on completion, and is aborted (so
            // nothing appears) if the body fails or this future is dropped.
            let upload = self.store.put_multipart(&key).await?;
            write_parts(upload, body).await?;
            return self.head(object_id).await;
        }
        let staging = Path::from_iter([STAGING_PREFIX, &Uuid::new_v4().to_string()]);
        let upload = self.store.put_multipart(&staging).await?;
        write_parts(upload, body).await?;
        let mut staged = StagedObject {
            store: Arc::clone(&self.store),
            path: staging,
            pending: true,
        };
        match self.store.rename_if_not_exists(&staged.path, &key).await {
            Ok(()) => staged.published(),
            Err(object_store::Error::AlreadyExists { .. }) => {
                staged.remove().await;
                return Err(already_exists(object_id));
            }
            Err(e) => {
                staged.remove().await;
                return Err(e.into());
            }
        }
        self.head(object_id).await
    }

    /// Read `object_id`, all of it or the bytes selected by `range`, as a stream.
    ///
    /// A range that selects no byte is [`ObjectsError::RangeNotSatisfiable`].
    pub async fn get_range(
        &self,
        object_id: &str,
        range: Option<ByteRange>,
    ) -> Result<MediaRead, ObjectsError> {
        let key = object_key(object_id)?;
        let info = self.head(object_id).await?;
        let range = match range {
            None => 0..info.size,
            Some(r) => r
                .resolve(info.size)
                .ok_or(ObjectsError::RangeNotSatisfiable { size: info.size })?,
        };
        if range.is_empty() {
            return Ok(MediaRead {
                info,
                range,
                body: futures::stream::empty().boxed(),
            });
        }
        let options = GetOptions::new().with_range(Some(GetRange::Bounded(range.clone())));
        let result = self
            .store
            .get_opts(&key, options)
            .await
            .map_err(|e| not_found_as(e, object_id))?;
        let body = match result.payload {
            GetResultPayload::File(file, _) => read_file(file, result.range.clone()),
            GetResultPayload::Stream(stream) => stream.map_err(ObjectsError::from).boxed(),
        };
        Ok(MediaRead {
            info,
            range: result.range,
            body,
        })
    }

    /// Size and modification time of `object_id`.
    pub async fn head(&self, object_id: &str) -> Result<ObjectInfo, ObjectsError> {
        let key = object_key(object_id)?;
        let meta = self
            .store
            .head(&key)
            .await
            .map_err(|e| not_found_as(e, object_id))?;
        Ok(object_info(object_id.to_owned(), meta))
    }

    /// Whether `object_id` is stored.
    pub async fn exists(&self, object_id: &str) -> Result<bool, ObjectsError> {
        match self.head(object_id).await {
            Ok(_) => Ok(true),
            Err(ObjectsError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Remove `object_id`; `false` when it was not stored (deleting twice is harmless). S3
    /// does not say whether a key existed, so an S3 backend answers `true` either way.
    pub async fn delete(&self, object_id: &str) -> Result<bool, ObjectsError> {
        let key = object_key(object_id)?;
        match self.store.delete(&key).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Every stored object, in no particular order, for garbage collection.
    pub fn list_objects(&self) -> BoxStream<'static, Result<ObjectInfo, ObjectsError>> {
        let prefix = Path::from(OBJECTS_PREFIX);
        self.store
            .list(Some(&prefix))
            .map_err(ObjectsError::from)
            .try_filter_map(|meta| async move {
                Ok(object_id_of_key(&meta.location).map(|id| object_info(id, meta)))
            })
            .boxed()
    }

    /// Stored objects last modified before `cutoff`: candidates for orphan collection.
    pub fn list_objects_older_than(
        &self,
        cutoff: SystemTime,
    ) -> BoxStream<'static, Result<ObjectInfo, ObjectsError>> {
        self.list_objects()
            .try_filter(move |info| futures::future::ready(info.last_modified < cutoff))
            .boxed()
    }
}

/// Write `body` through a multipart upload in parts of [`PART_SIZE`], at most
/// [`PARTS_IN_FLIGHT`] at once; abort the upload if `body` fails.
async fn write_parts<S, E>(
    upload: Box<dyn object_store::MultipartUpload>,
    body: S,
) -> Result<(), ObjectsError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let step = match chunk {
            Ok(bytes) => writer
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map(|()| bytes)
                .map_err(ObjectsError::from),
            Err(e) => Err(ObjectsError::Body(e.into())),
        };
        match step {
            Ok(bytes) => writer.put(bytes),
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, "cannot abort a failed upload");
                }
                return Err(e);
            }
        }
    }
    writer.finish().await?;
    Ok(())
}

/// The id of the S3 backend behind `store`, kept in [`S3_BACKEND_ID_KEY`]; created when
/// missing (if the server supports conditional writes, of two racing creators one wins;
/// either way every opener reads back the id that was stored).
async fn s3_backend_id(store: &Arc<dyn ObjectStore>) -> Result<Uuid, ObjectsError> {
    let key = Path::from(S3_BACKEND_ID_KEY);
    let read = |bytes: Bytes| {
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| Uuid::parse_str(t.trim()).ok())
            .ok_or_else(|| {
                ObjectsError::Config(format!(
                    "{S3_BACKEND_ID_KEY} in the bucket does not hold a storage backend id (a UUID)"
                ))
            })
    };
    match store.get(&key).await {
        Ok(r) => return read(r.bytes().await?),
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let fresh = Uuid::new_v4();
    let payload = Bytes::from(format!("{fresh}\n"));
    let create = PutOptions::from(PutMode::Create);
    match store.put_opts(&key, payload.clone().into(), create).await {
        Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
        Err(object_store::Error::NotImplemented { .. })
        | Err(object_store::Error::NotSupported { .. }) => {
            store.put(&key, payload.into()).await?;
        }
        Err(e) => return Err(e.into()),
    }
    let id = read(store.get(&key).await?.bytes().await?)?;
    if id == fresh {
        tracing::info!(backend_id = %id, "created a new storage backend id in the bucket");
    }
    Ok(id)
}

/// A completed upload in the staging area, removed unless published.
struct StagedObject {
    store: Arc<dyn ObjectStore>,
    path: Path,
    pending: bool,
}

impl StagedObject {
    fn published(&mut self) {
        self.pending = false;
    }

    async fn remove(&mut self) {
        if std::mem::take(&mut self.pending) {
            if let Err(e) = self.store.delete(&self.path).await {
                tracing::warn!(error = %e, "cannot remove a staged upload");
            }
        }
    }
}

impl Drop for StagedObject {
    fn drop(&mut self) {
        if self.pending {
            let store = Arc::clone(&self.store);
            let path = std::mem::take(&mut self.path);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = store.delete(&path).await;
                });
            }
        }
    }
}

fn already_exists(object_id: &str) -> ObjectsError {
    ObjectsError::AlreadyExists {
        object_id: object_id.to_owned(),
    }
}

fn not_found_as(e: object_store::Error, object_id: &str) -> ObjectsError {
    match e {
        object_store::Error::NotFound { .. } => ObjectsError::NotFound {
            object_id: object_id.to_owned(),
        },
        e => e.into(),
    }
}

fn object_info(object_id: String, meta: ObjectMeta) -> ObjectInfo {
    ObjectInfo {
        object_id,
        size: meta.size,
        last_modified: SystemTime::from(meta.last_modified),
        e_tag: meta.e_tag.map(|tag| unquote_etag(&tag)),
    }
}

/// An entity tag without the quotes (and weakness mark) backends wrap it in.
fn unquote_etag(tag: &str) -> String {
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag)
        .to_owned()
}

/// `{public_base_url}/media/`, checked.
fn media_base(mut base: Url) -> Result<Url, ObjectsError> {
    if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
        return Err(ObjectsError::Config(format!(
            "the public base URL must be an http or https URL, not {base}"
        )));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(ObjectsError::Config(
            "the public base URL must have no query or fragment".to_owned(),
        ));
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(MEDIA_PATH)
        .map_err(|e| ObjectsError::Config(format!("bad public base URL: {e}")))
}

fn load_or_create_backend_id(path: &FsPath) -> Result<Uuid, ObjectsError> {
    let setup = |context, source| ObjectsError::Setup {
        context,
        path: path.to_owned(),
        source,
    };
    let fresh = Uuid::new_v4();
    if crate::setup::create_once(path, format!("{fresh}\n").as_bytes())
        .map_err(|e| setup("cannot create the storage backend id", e))?
    {
        tracing::info!(backend_id = %fresh, "created a new storage backend id");
        return Ok(fresh);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| setup("cannot read the storage backend id", e))?;
    Uuid::parse_str(text.trim()).map_err(|_| {
        ObjectsError::Config(format!(
            "{} does not hold a storage backend id (a UUID)",
            path.display()
        ))
    })
}

/// Remove staged uploads that nothing has touched for a day: leftovers of a crash.
fn sweep_stale_staging(dir: &FsPath) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > STALE_STAGING);
        if stale {
            let path = entry.path();
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale upload");
            }
        }
    }
}

/// Stream `range` of a local file in chunks, reading on the blocking pool.
fn read_file(
    file: std::fs::File,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, ObjectsError>> {
    let state = (Some(file), range.start, range.end, true);
    futures::stream::try_unfold(state, |(file, pos, end, first)| async move {
        let Some(mut file) = file else {
            return Ok(None);
        };
        if pos >= end {
            return Ok(None);
        }
        let want = (end - pos).min(READ_CHUNK);
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            if first {
                file.seek(SeekFrom::Start(pos))?;
            }
            let mut chunk = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
            (&mut file).take(want).read_to_end(&mut chunk)?;
            if (chunk.len() as u64) < want {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "media file is shorter than its recorded size",
                ));
            }
            Ok((file, chunk))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(ObjectsError::Read)?;
        let next = pos + chunk.len() as u64;
        Ok(Some((Bytes::from(chunk), (Some(file), next, end, false))))
    })
    .boxed()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    fn open(dir: &FsPath) -> MediaStore {
        let base = Url::parse("http://127.0.0.1:8080/tams").unwrap();
        MediaStore::open_local(dir, None, base).unwrap()
    }

    /// `len` bytes of a pattern that differs at every offset within 251 bytes.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// `data` as a stream of chunks of uneven sizes.
    fn chunks(data: &[u8]) -> impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static {
        let mut parts = Vec::new();
        let mut rest = Bytes::copy_from_slice(data);
        let mut size = 1000;
        while !rest.is_empty() {
            let n = size.min(rest.len());
            parts.push(Ok(rest.split_to(n)));
            size = size * 3 + 7;
        }
        futures::stream::iter(parts)
    }

    async fn read_all(read: MediaRead) -> Vec<u8> {
        let parts: Vec<Bytes> = read.body.try_collect().await.unwrap();
        parts.concat()
    }

    fn staging_files(dir: &FsPath) -> usize {
        std::fs::read_dir(dir.join(STAGING_PREFIX)).unwrap().count()
    }

    #[tokio::test]
    async fn identity_persists_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path());
        let again = open(dir.path());
        assert_eq!(first.backend_id(), again.backend_id());
        let info = first.storage_backend();
        assert_eq!(info.store_type, "http_object_store");
        assert!(info.default_storage);
        // Same persisted secret: a URL from one verifies on the other.
        let url = first
            .get_url("x", None, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(again.verify(MediaMethod::Get, "x", url.query()).is_ok());
        // A different directory is a different backend with a different secret.
        let other_dir = tempfile::tempdir().unwrap();
        let other = open(other_dir.path());
        assert_ne!(other.backend_id(), first.backend_id());
        assert_eq!(
            other.verify(MediaMethod::Get, "x", url.query()),
            Err(SignatureError::Mismatch)
        );
        // A configured secret is used instead of a stored one.
        let configured = MediaStore::open_local(
            other_dir.path(),
            Some(SigningSecret::new(b"configured secret bytes".to_vec()).unwrap()),
            Url::parse("http://127.0.0.1:1/").unwrap(),
        )
        .unwrap();
        assert_eq!(
            configured.verify(MediaMethod::Get, "x", url.query()),
            Err(SignatureError::Mismatch)
        );
    }

    #[tokio::test]
    async fn urls_are_absolute_under_media() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let put = store
            .put_url("obj_1.ts", "video/mp2t", Duration::from_secs(300))
            .await
            .unwrap();
        assert_eq!(put.path(), "/tams/media/obj_1.ts");
        assert_eq!(put.host_str(), Some("127.0.0.1"));
        let grant = store
            .verify(MediaMethod::Put, "obj_1.ts", put.query())
            .unwrap();
        assert_eq!(grant.content_type.as_deref(), Some("video/mp2t"));
        assert_eq!(
            store.verify(MediaMethod::Get, "obj_1.ts", put.query()),
            Err(SignatureError::Mismatch)
        );
        let get = store
            .get_url("obj_1.ts", None, Duration::from_secs(300))
            .await
            .unwrap();
        assert!(store
            .verify(MediaMethod::Get, "obj_1.ts", get.query())
            .is_ok());
        // A content type that cannot be a header is refused, as is a non-HTTP base URL.
        assert!(store
            .put_url("o", "text/plain\n", Duration::ZERO)
            .await
            .is_err());
        assert!(
            MediaStore::open_local(dir.path(), None, Url::parse("file:///tmp/x").unwrap()).is_err()
        );
    }

    #[tokio::test]
    async fn traversal_ids_are_refused_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for id in ["..", ".", "../escape", "a/b", "", "a\\b", "%2e%2e"] {
            assert!(matches!(
                store.put_url(id, "video/mp4", Duration::from_secs(1)).await,
                Err(ObjectsError::InvalidObjectId(_))
            ));
            assert!(store
                .get_url(id, None, Duration::from_secs(1))
                .await
                .is_err());
            let put = store.put_stream(id, chunks(b"x")).await;
            assert!(
                matches!(put, Err(ObjectsError::InvalidObjectId(_))),
                "{id:?}"
            );
            assert!(store.get_range(id, None).await.is_err());
            assert!(store.head(id).await.is_err());
            assert!(store.delete(id).await.is_err());
        }
        assert!(!dir.path().parent().unwrap().join("escape").exists());
    }

    #[tokio::test]
    async fn put_get_range_head_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        // Larger than two parts, so the upload really is multipart.
        let data = pattern(2 * PART_SIZE + 12_345);
        assert!(!store.exists("clip").await.unwrap());
        let before = SystemTime::now() - Duration::from_secs(2);
        let info = store.put_stream("clip", chunks(&data)).await.unwrap();
        assert_eq!(info.size, data.len() as u64);
        assert!(info.last_modified >= before);
        assert!(store.exists("clip").await.unwrap());
        assert_eq!(store.head("clip").await.unwrap(), info);
        let tag = info.e_tag.as_deref().unwrap();
        assert!(!tag.is_empty() && !tag.contains('"'), "{tag}");
        assert_eq!(staging_files(dir.path()), 0);

        let whole = store.get_range("clip", None).await.unwrap();
        assert_eq!(whole.range, 0..data.len() as u64);
        assert_eq!(read_all(whole).await, data);

        let len = data.len() as u64;
        for (range, want) in [
            (ByteRange::Inclusive { first: 0, last: 0 }, 0..1),
            (
                ByteRange::Inclusive {
                    first: 1000,
                    last: 400_000,
                },
                1000..400_001,
            ),
            (
                ByteRange::Inclusive {
                    first: len - 3,
                    last: len + 100,
                },
                len - 3..len,
            ),
            (
                ByteRange::From(PART_SIZE as u64 - 5),
                PART_SIZE as u64 - 5..len,
            ),
            (ByteRange::Suffix(300_000), len - 300_000..len),
        ] {
            let read = store.get_range("clip", Some(range)).await.unwrap();
            assert_eq!(read.range, want.clone(), "{range:?}");
            assert_eq!(read.info.size, len);
            let bytes = read_all(read).await;
            assert_eq!(
                bytes,
                data[want.start as usize..want.end as usize],
                "{range:?}"
            );
        }
        assert!(matches!(
            store.get_range("clip", Some(ByteRange::From(len))).await,
            Err(ObjectsError::RangeNotSatisfiable { size }) if size == len
        ));

        assert!(store.delete("clip").await.unwrap());
        assert!(!store.delete("clip").await.unwrap());
        assert!(!store.exists("clip").await.unwrap());
        assert!(matches!(
            store.get_range("clip", None).await,
            Err(ObjectsError::NotFound { .. })
        ));
        assert!(matches!(
            store.head("clip").await,
            Err(ObjectsError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn empty_object_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let info = store
            .put_stream("empty", futures::stream::empty::<Result<Bytes, BoxError>>())
            .await
            .unwrap();
        assert_eq!(info.size, 0);
        let read = store.get_range("empty", None).await.unwrap();
        assert_eq!(read.range, 0..0);
        assert!(read_all(read).await.is_empty());
        assert!(matches!(
            store.get_range("empty", Some(ByteRange::Suffix(1))).await,
            Err(ObjectsError::RangeNotSatisfiable { size: 0 })
        ));
    }

    #[tokio::test]
    async fn overwrite_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.put_stream("once", chunks(b"original")).await.unwrap();
        let again = store.put_stream("once", chunks(b"replacement")).await;
        assert!(matches!(again, Err(ObjectsError::AlreadyExists { .. })));
        let read = store.get_range("once", None).await.unwrap();
        assert_eq!(read_all(read).await, b"original");
        assert_eq!(staging_files(dir.path()), 0);
    }

    #[tokio::test]
    async fn racing_uploads_publish_exactly_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(dir.path()));
        let a = pattern(PART_SIZE + 10);
        let b: Vec<u8> = a.iter().map(|x| x.wrapping_add(1)).collect();
        let (ra, rb) = tokio::join!(
            store.put_stream("race", chunks(&a)),
            store.put_stream("race", chunks(&b))
        );
        assert_eq!(
            [ra.is_ok(), rb.is_ok()].iter().filter(|ok| **ok).count(),
            1,
            "{ra:?} {rb:?}"
        );
        let stored = read_all(store.get_range("race", None).await.unwrap()).await;
        assert_eq!(stored, if ra.is_ok() { a } else { b });
        assert_eq!(staging_files(dir.path()), 0);
    }

    #[tokio::test]
    async fn failed_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let body = futures::stream::iter(vec![
            Ok(Bytes::from(pattern(PART_SIZE + 1))),
            Ok(Bytes::from(pattern(1000))),
            Err::<Bytes, BoxError>("client went away".into()),
        ]);
        let result = store.put_stream("broken", body).await;
        assert!(matches!(result, Err(ObjectsError::Body(_))), "{result:?}");
        assert!(!store.exists("broken").await.unwrap());
        assert_eq!(staging_files(dir.path()), 0);
        // The id is still free to be written properly.
        store.put_stream("broken", chunks(b"good")).await.unwrap();
    }

    #[tokio::test]
    async fn dropped_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let first = futures::stream::iter(vec![Ok::<_, BoxError>(Bytes::from(pattern(
            PART_SIZE + 100,
        )))]);
        let body = first.chain(futures::stream::pending());
        let upload = store.put_stream("dropped", body);
        let timed = tokio::time::timeout(Duration::from_millis(300), upload).await;
        assert!(timed.is_err(), "the upload cannot finish");
        // Staging cleanup runs on the blocking pool; give it a moment.
        for _ in 0..100 {
            if staging_files(dir.path()) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(staging_files(dir.path()), 0);
        assert!(!store.exists("dropped").await.unwrap());
        assert_eq!(
            store.list_objects().try_collect::<Vec<_>>().await.unwrap(),
            vec![]
        );
    }

    #[tokio::test]
    async fn lists_objects_with_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for id in ["a", "b.mp4", "c~1"] {
            store.put_stream(id, chunks(id.as_bytes())).await.unwrap();
        }
        // A stray file in the objects tree is not an object.
        std::fs::write(dir.path().join("objects").join("stray"), b"x").unwrap();
        let mut listed: Vec<ObjectInfo> = store.list_objects().try_collect().await.unwrap();
        listed.sort_by(|x, y| x.object_id.cmp(&y.object_id));
        let ids: Vec<&str> = listed.iter().map(|i| i.object_id.as_str()).collect();
        assert_eq!(ids, ["a", "b.mp4", "c~1"]);
        assert_eq!(listed[1].size, 5);
        let past = SystemTime::now() - Duration::from_secs(3600);
        let future = SystemTime::now() + Duration::from_secs(3600);
        let old: Vec<_> = store
            .list_objects_older_than(past)
            .try_collect()
            .await
            .unwrap();
        assert!(old.is_empty());
        let all: Vec<_> = store
            .list_objects_older_than(future)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(all.len(), 3);
    }

    #[tokio::test]
    async fn stale_staging_is_swept_at_open() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()));
        let stale = dir.path().join(STAGING_PREFIX).join("old");
        let fresh = dir.path().join(STAGING_PREFIX).join("new");
        std::fs::write(&stale, b"x").unwrap();
        std::fs::write(&fresh, b"x").unwrap();
        let old = SystemTime::now() - STALE_STAGING - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        drop(open(dir.path()));
        assert!(!stale.exists());
        assert!(fresh.exists());
    }
}
