//! Media object storage of a Rushes store, with signed URLs.
//!
//! Media bytes never pass through the metadata path: clients upload and download them with
//! signed URLs, which on the embedded default Rushes serves itself at `/media/{object_id}`.
//!
//! - [`MediaStore`]: media objects by object id on an `object_store` backend
//!   (`Arc<dyn ObjectStore>`; local disk today via [`MediaStore::open_local`]). Uploads are
//!   streamed in parts to a staging area and appear atomically when complete; objects are
//!   immutable. Reads stream, optionally a [`ByteRange`].
//! - Signed URLs: [`MediaStore::put_url`] / [`MediaStore::get_url`] make them,
//!   [`MediaStore::verify`] checks them (HMAC-SHA256 over method, object id, expiry and
//!   content type) and yields a [`MediaGrant`]. The key is a [`SigningSecret`].
//! - [`StorageBackendInfo`] describes the backend for `/service/storage-backends`.
//! - [`ObjectsError`] is the error of every operation; [`SignatureError`] says why a URL was
//!   refused.
//!
//! Object ids are checked again here ([`validate_object_id`]) and stored under hashed shard
//! directories, `objects/<h0>/<h1>/<id>`, so no id reaches outside the store.

mod error;
mod object_id;
mod range;
mod setup;
mod signing;
mod store;

pub use error::ObjectsError;
pub use object_id::{validate_object_id, MAX_OBJECT_ID_LEN};
pub use range::ByteRange;
pub use signing::{
    MediaGrant, MediaMethod, SignatureError, SigningSecret, QUERY_CONTENT_TYPE, QUERY_EXPIRES,
    QUERY_SIGNATURE,
};
pub use store::{
    MediaRead, MediaStore, ObjectInfo, StorageBackendInfo, BACKEND_ID_FILE, MEDIA_PATH,
    SIGNING_SECRET_FILE,
};
