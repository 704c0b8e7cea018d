//! Media object storage of a Rushes store, with signed URLs.
//!
//! Media bytes never pass through the metadata path: clients upload and download them with
//! signed URLs. On a local backend Rushes serves those URLs itself at `/media/{object_id}`;
//! on an S3-compatible backend they are SigV4 presigned URLs of the S3 server.
//!
//! - [`MediaStore`]: media objects by object id on an `object_store` backend: a local
//!   directory ([`MediaStore::open_local`]) or an S3 bucket and prefix
//!   ([`MediaStore::open_s3`]); [`MediaStore::open`] takes a [`BackendSpec`] whose
//!   [`StorageLocation`] is parsed from `s3://bucket/prefix?endpoint=..&region=..`,
//!   `file:///path` or a path. Uploads are written in parts (staged then published
//!   atomically on disk; S3 multipart uploads on S3); objects are immutable. Reads stream,
//!   optionally a [`ByteRange`].
//! - Signed URLs: [`MediaStore::put_url`] / [`MediaStore::get_url`] make them. Local:
//!   HMAC-SHA256 over method, object id, expiry and content type, checked by
//!   [`MediaStore::verify`] into a [`MediaGrant`], keyed by a [`SigningSecret`]. S3: the
//!   S3 server checks them (the PUT's `Content-Type` is signed).
//! - [`MediaBackends`]: the backends of a store, one of them the default, at most one
//!   local; [`StorageBackendInfo`] describes each for `/service/storage-backends`.
//! - [`ObjectsError`] is the error of every operation; [`SignatureError`] says why a URL was
//!   refused.
//!
//! Object ids are checked again here ([`validate_object_id`]) and stored under hashed shard
//! directories, `objects/<h0>/<h1>/<id>` (below the prefix on S3), so no id reaches outside
//! the store. An S3 backend keeps its id in `<prefix>/.rushes/backend-id`.

mod backends;
mod error;
mod location;
mod object_id;
mod range;
mod setup;
mod signing;
mod store;

pub use backends::MediaBackends;
pub use error::ObjectsError;
pub use location::{S3Location, StorageLocation};
pub use object_id::{validate_object_id, MAX_OBJECT_ID_LEN};
pub use range::ByteRange;
pub use signing::{
    GetUrlBatch, MediaGrant, MediaMethod, SignatureError, SigningSecret, QUERY_CONTENT_TYPE,
    QUERY_EXPIRES, QUERY_SIGNATURE,
};
pub use store::{
    BackendSpec, MediaRead, MediaStore, ObjectInfo, StorageBackendInfo, BACKEND_ID_FILE,
    MEDIA_PATH, S3_BACKEND_ID_KEY, SIGNING_SECRET_FILE,
};
