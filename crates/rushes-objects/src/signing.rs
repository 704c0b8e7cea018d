//! Signing secrets and HMAC-SHA256 signatures of media URLs.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::object_id::validate_object_id;
use crate::ObjectsError;

type HmacSha256 = Hmac<Sha256>;

/// Query parameter holding the expiry, in seconds since the Unix epoch.
pub const QUERY_EXPIRES: &str = "expires";
/// Query parameter holding the signed content type, when there is one.
pub const QUERY_CONTENT_TYPE: &str = "ct";
/// Query parameter holding the signature (URL-safe base64 of an HMAC-SHA256).
pub const QUERY_SIGNATURE: &str = "sig";

/// Fewest bytes a signing secret may have.
pub const MIN_SECRET_LEN: usize = 16;
/// Longest content type that can be signed.
pub const MAX_CONTENT_TYPE_LEN: usize = 255;

/// Domain separation of the signed string, so a signature means nothing elsewhere.
const SIGNATURE_CONTEXT: &[u8] = b"rushes-media-v1";

/// The key that signs media URLs. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct SigningSecret(Vec<u8>);

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    /// A secret from raw bytes (for example a configured string); at least 16 bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, ObjectsError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(ObjectsError::Config(format!(
                "the media signing secret must have at least {MIN_SECRET_LEN} bytes"
            )));
        }
        Ok(Self(bytes))
    }

    /// A fresh random secret of 32 bytes from the operating system's generator.
    pub fn generate() -> Self {
        // Version 4 UUIDs are drawn from the OS CSPRNG (getrandom); two give 244 random bits.
        let mut bytes = Vec::with_capacity(32);
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(bytes)
    }

    /// Read the secret stored at `path`, or create it there (mode 0600) on first start.
    ///
    /// The file holds the secret in URL-safe base64 on one line.
    pub fn load_or_create(path: &Path) -> Result<Self, ObjectsError> {
        let setup = |context, source| ObjectsError::Setup {
            context,
            path: path.to_owned(),
            source,
        };
        let fresh = Self::generate();
        let text = format!("{}\n", URL_SAFE_NO_PAD.encode(&fresh.0));
        if crate::setup::create_once(path, text.as_bytes())
            .map_err(|e| setup("cannot create the signing secret", e))?
        {
            tracing::info!(path = %path.display(), "created a new media signing secret");
            return Ok(fresh);
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| setup("cannot read the signing secret from", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(path = %path.display(),
                        "the media signing secret is readable by group or others");
                }
            }
        }
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| {
            ObjectsError::Config(format!(
                "the signing secret file {} is not URL-safe base64",
                path.display()
            ))
        })?;
        Self::new(bytes)
    }
}

/// The operation a media URL grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaMethod {
    /// Read the object (HTTP GET, and HEAD).
    Get,
    /// Write the object once (HTTP PUT).
    Put,
}

impl MediaMethod {
    fn as_str(self) -> &'static str {
        match self {
            MediaMethod::Get => "GET",
            MediaMethod::Put => "PUT",
        }
    }
}

/// What a verified media URL allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaGrant {
    /// The operation allowed.
    pub method: MediaMethod,
    /// The object it applies to.
    pub object_id: String,
    /// The content type signed into the URL, if any.
    pub content_type: Option<String>,
    /// When the URL stops working.
    pub expires_at: SystemTime,
}

/// Why a media URL was refused. Every variant means "forbidden" to a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The URL carries no signature or no expiry.
    #[error("the media URL is not signed")]
    Missing,
    /// A signature parameter is malformed or repeated.
    #[error("the media URL's signature parameters are malformed")]
    Malformed,
    /// The URL's object id is not a valid object id.
    #[error("the media URL does not name a valid object")]
    InvalidObjectId,
    /// The signature does not match: the URL was altered or signed with another key.
    #[error("the media URL's signature does not match")]
    Mismatch,
    /// The URL has expired.
    #[error("the media URL has expired")]
    Expired,
}

/// Check that a content type can be signed and sent back as a header.
pub(crate) fn validate_content_type(content_type: &str) -> Result<(), ObjectsError> {
    if content_type.is_empty() {
        return Err(ObjectsError::InvalidContentType("empty"));
    }
    if content_type.len() > MAX_CONTENT_TYPE_LEN {
        return Err(ObjectsError::InvalidContentType(
            "longer than 255 characters",
        ));
    }
    if !content_type.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(ObjectsError::InvalidContentType(
            "only printable ASCII is allowed",
        ));
    }
    Ok(())
}

pub(crate) fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Signs many read URLs of one local backend with one content type and one expiry: the
/// same URLs, byte for byte, as [`crate::MediaStore::get_url`] at that expiry, with the
/// HMAC key schedule, the fixed fields and the query's fixed part computed once (a
/// playlist of a day of 1 s segments signs 86,400 of them).
#[derive(Clone)]
pub struct GetUrlBatch {
    /// The media base URL (ends with `/`); an object's URL is this plus its id.
    base: String,
    /// Keyed, with the fields before the object id absorbed.
    mac: HmacSha256,
    /// The signed fields after the object id.
    after_id: Vec<u8>,
    /// `?expires=…` and `&ct=…` when there is a content type.
    query: String,
}

impl fmt::Debug for GetUrlBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetUrlBatch")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl GetUrlBatch {
    /// The signed read URL of `object_id`.
    pub fn url(&self, object_id: &str) -> Result<String, ObjectsError> {
        validate_object_id(object_id)?;
        let mut mac = self.mac.clone();
        mac.update(object_id.as_bytes());
        mac.update(&self.after_id);
        let signature = mac.finalize().into_bytes();
        let mut out =
            String::with_capacity(self.base.len() + object_id.len() + self.query.len() + 48);
        out.push_str(&self.base);
        out.push_str(object_id);
        out.push_str(&self.query);
        out.push('&');
        out.push_str(QUERY_SIGNATURE);
        out.push('=');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        Ok(out)
    }
}

/// Signs and verifies the query of media URLs.
#[derive(Clone)]
pub(crate) struct Signer {
    secret: SigningSecret,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    pub(crate) fn new(secret: SigningSecret) -> Self {
        Self { secret }
    }

    fn mac(
        &self,
        method: MediaMethod,
        object_id: &str,
        expires: u64,
        content_type: Option<&str>,
    ) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        let mut mac = HmacSha256::new_from_slice(&self.secret.0).expect("HMAC takes any key");
        // Fields cannot contain a newline (ids, digits and printable content types), so
        // newline-separated fields are unambiguous; "-" vs "=" tells absent from present.
        mac.update(SIGNATURE_CONTEXT);
        mac.update(b"\n");
        mac.update(method.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(object_id.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac.update(b"\n");
        match content_type {
            None => mac.update(b"-"),
            Some(ct) => {
                mac.update(b"=");
                mac.update(ct.as_bytes());
            }
        }
        mac
    }

    /// A batch signer of read URLs under `media_base` (as [`Signer::sign_into`] on
    /// `media_base.join(id)`), or `None` when `media_base` is not a plain directory URL
    /// (no query, no fragment, a path ending in `/`) so that joining could differ from
    /// appending. `content_type` must have been validated.
    pub(crate) fn get_batch(
        &self,
        media_base: &url::Url,
        content_type: Option<&str>,
        expires: u64,
    ) -> Option<GetUrlBatch> {
        if media_base.cannot_be_a_base()
            || media_base.query().is_some()
            || media_base.fragment().is_some()
            || !media_base.path().ends_with('/')
        {
            return None;
        }
        // HMAC accepts keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        let mut mac = HmacSha256::new_from_slice(&self.secret.0).expect("HMAC takes any key");
        // The fields of `mac` above, in the same order.
        mac.update(SIGNATURE_CONTEXT);
        mac.update(b"\n");
        mac.update(MediaMethod::Get.as_str().as_bytes());
        mac.update(b"\n");
        let mut after_id = format!("\n{expires}\n").into_bytes();
        match content_type {
            None => after_id.push(b'-'),
            Some(ct) => {
                after_id.push(b'=');
                after_id.extend_from_slice(ct.as_bytes());
            }
        }
        let mut query = String::new();
        {
            let mut q = url::form_urlencoded::Serializer::new(&mut query);
            q.append_pair(QUERY_EXPIRES, &expires.to_string());
            if let Some(ct) = content_type {
                q.append_pair(QUERY_CONTENT_TYPE, ct);
            }
            q.finish();
        }
        Some(GetUrlBatch {
            base: media_base.as_str().to_owned(),
            mac,
            after_id,
            query: format!("?{query}"),
        })
    }

    /// Append the signed query parameters for this grant to `url`.
    pub(crate) fn sign_into(
        &self,
        url: &mut url::Url,
        method: MediaMethod,
        object_id: &str,
        content_type: Option<&str>,
        expires: u64,
    ) {
        let signature = self
            .mac(method, object_id, expires, content_type)
            .finalize()
            .into_bytes();
        let mut query = url.query_pairs_mut();
        query.append_pair(QUERY_EXPIRES, &expires.to_string());
        if let Some(ct) = content_type {
            query.append_pair(QUERY_CONTENT_TYPE, ct);
        }
        query.append_pair(QUERY_SIGNATURE, &URL_SAFE_NO_PAD.encode(signature));
    }

    /// Check the raw query of a request for `method` on `object_id` at time `now`.
    pub(crate) fn verify(
        &self,
        method: MediaMethod,
        object_id: &str,
        query: Option<&str>,
        now: SystemTime,
    ) -> Result<MediaGrant, SignatureError> {
        validate_object_id(object_id).map_err(|_| SignatureError::InvalidObjectId)?;
        let mut expires = None;
        let mut content_type = None;
        let mut signature = None;
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let slot = match name.as_ref() {
                QUERY_EXPIRES => &mut expires,
                QUERY_CONTENT_TYPE => &mut content_type,
                QUERY_SIGNATURE => &mut signature,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(SignatureError::Malformed);
            }
        }
        let (Some(expires), Some(signature)) = (expires, signature) else {
            return Err(SignatureError::Missing);
        };
        if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SignatureError::Malformed);
        }
        let expires: u64 = expires.parse().map_err(|_| SignatureError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature.as_bytes())
            .map_err(|_| SignatureError::Malformed)?;
        if let Some(ct) = &content_type {
            validate_content_type(ct).map_err(|_| SignatureError::Malformed)?;
        }
        // Check the MAC first (constant time), so an altered expiry reads as tampering.
        self.mac(method, object_id, expires, content_type.as_deref())
            .verify_slice(&signature)
            .map_err(|_| SignatureError::Mismatch)?;
        if unix_seconds(now) > expires {
            return Err(SignatureError::Expired);
        }
        Ok(MediaGrant {
            method,
            object_id: object_id.to_owned(),
            content_type,
            expires_at: UNIX_EPOCH + Duration::from_secs(expires),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn signer(key: &[u8]) -> Signer {
        Signer::new(SigningSecret::new(key.to_vec()).unwrap())
    }

    fn signed(s: &Signer, m: MediaMethod, id: &str, ct: Option<&str>, exp: u64) -> String {
        let mut url = url::Url::parse("http://127.0.0.1:1/media/x").unwrap();
        s.sign_into(&mut url, m, id, ct, exp);
        url.query().unwrap().to_owned()
    }

    const KEY: &[u8] = b"0123456789abcdef0123";

    #[test]
    fn batch_urls_are_the_single_urls() {
        let s = signer(KEY);
        let now = SystemTime::now();
        let exp = unix_seconds(now) + 60;
        let base = url::Url::parse("http://127.0.0.1:8080/media/").unwrap();
        for ct in [
            None,
            Some("video/mp2t"),
            Some("audio/mp4; codecs=\"mp4a.40.2\" x&y=z"),
        ] {
            let batch = s.get_batch(&base, ct, exp).unwrap();
            for id in ["a", "abc-DEF_123.~x", "..a", "a..", "1f0e-uuid-like-0000"] {
                let mut single = base.join(id).unwrap();
                s.sign_into(&mut single, MediaMethod::Get, id, ct, exp);
                let fast = batch.url(id).unwrap();
                assert_eq!(fast, single.as_str());
                let parsed = url::Url::parse(&fast).unwrap();
                s.verify(MediaMethod::Get, id, parsed.query(), now).unwrap();
            }
            assert!(batch.url("..").is_err());
            assert!(batch.url("a/b").is_err());
        }
        for odd in ["http://h/media", "http://h/media/?x=1", "http://h/media/#f"] {
            let odd = url::Url::parse(odd).unwrap();
            assert!(s.get_batch(&odd, None, exp).is_none());
        }
    }

    #[test]
    fn sign_then_verify() {
        let s = signer(KEY);
        let now = SystemTime::now();
        let exp = unix_seconds(now) + 60;
        let q = signed(&s, MediaMethod::Put, "obj-1", Some("video/mp2t"), exp);
        let grant = s.verify(MediaMethod::Put, "obj-1", Some(&q), now).unwrap();
        assert_eq!(grant.object_id, "obj-1");
        assert_eq!(grant.content_type.as_deref(), Some("video/mp2t"));
        assert_eq!(unix_seconds(grant.expires_at), exp);

        let q = signed(&s, MediaMethod::Get, "obj-1", None, exp);
        let grant = s.verify(MediaMethod::Get, "obj-1", Some(&q), now).unwrap();
        assert_eq!(grant.content_type, None);
    }

    #[test]
    fn tampering_is_refused() {
        let s = signer(KEY);
        let now = SystemTime::now();
        let exp = unix_seconds(now) + 60;
        let q = signed(&s, MediaMethod::Get, "obj-1", Some("video/mp4"), exp);
        // Another method, another object.
        assert_eq!(
            s.verify(MediaMethod::Put, "obj-1", Some(&q), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            s.verify(MediaMethod::Get, "obj-2", Some(&q), now),
            Err(SignatureError::Mismatch)
        );
        // Altered expiry or content type, removed content type.
        let later = q.replace(
            &format!("expires={exp}"),
            &format!("expires={}", exp + 1000),
        );
        assert_eq!(
            s.verify(MediaMethod::Get, "obj-1", Some(&later), now),
            Err(SignatureError::Mismatch)
        );
        let other_ct = q.replace("video%2Fmp4", "text%2Fhtml");
        assert_ne!(other_ct, q);
        assert_eq!(
            s.verify(MediaMethod::Get, "obj-1", Some(&other_ct), now),
            Err(SignatureError::Mismatch)
        );
        let no_ct = q.replace("ct=video%2Fmp4&", "");
        assert_ne!(no_ct, q);
        assert_eq!(
            s.verify(MediaMethod::Get, "obj-1", Some(&no_ct), now),
            Err(SignatureError::Mismatch)
        );
        // Another key.
        assert_eq!(
            signer(b"another key of enough length").verify(
                MediaMethod::Get,
                "obj-1",
                Some(&q),
                now
            ),
            Err(SignatureError::Mismatch)
        );
        // A flipped signature character.
        let sig_at = q.find("sig=").unwrap() + 4;
        let mut bytes = q.clone().into_bytes();
        bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert_eq!(
            s.verify(MediaMethod::Get, "obj-1", Some(&flipped), now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_malformed_and_repeated_are_refused() {
        let s = signer(KEY);
        let now = SystemTime::now();
        let exp = unix_seconds(now) + 60;
        let q = signed(&s, MediaMethod::Get, "o", None, exp);
        assert_eq!(
            s.verify(MediaMethod::Get, "o", None, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            s.verify(MediaMethod::Get, "o", Some("expires=1"), now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            s.verify(
                MediaMethod::Get,
                "o",
                Some(&format!("{q}&expires={exp}")),
                now
            ),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            s.verify(MediaMethod::Get, "o", Some("expires=%2B5&sig=AAAA"), now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            s.verify(MediaMethod::Get, "o", Some("expires=5&sig=***"), now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            s.verify(MediaMethod::Get, "..", Some(&q), now),
            Err(SignatureError::InvalidObjectId)
        );
        // Unrelated parameters are ignored.
        assert!(s
            .verify(MediaMethod::Get, "o", Some(&format!("{q}&x=1")), now)
            .is_ok());
    }

    #[test]
    fn expired_is_refused() {
        let s = signer(KEY);
        let now = SystemTime::now();
        let exp = unix_seconds(now) + 10;
        let q = signed(&s, MediaMethod::Get, "o", None, exp);
        let at_expiry = UNIX_EPOCH + Duration::from_secs(exp);
        assert!(s.verify(MediaMethod::Get, "o", Some(&q), at_expiry).is_ok());
        assert_eq!(
            s.verify(
                MediaMethod::Get,
                "o",
                Some(&q),
                at_expiry + Duration::from_secs(1)
            ),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn short_secret_is_refused_and_debug_hides_it() {
        assert!(SigningSecret::new(b"short".to_vec()).is_err());
        let secret = SigningSecret::new(b"a very secret key!".to_vec()).unwrap();
        assert!(!format!("{secret:?}").contains("secret key"));
    }

    #[test]
    fn secret_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-secret");
        let first = SigningSecret::load_or_create(&path).unwrap();
        let again = SigningSecret::load_or_create(&path).unwrap();
        assert_eq!(first.0, again.0);
        assert_eq!(first.0.len(), 32);
        assert_ne!(first.0, SigningSecret::generate().0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not base64 !!\n").unwrap();
        assert!(SigningSecret::load_or_create(&path).is_err());
    }
}
