//! Where a backend's objects live: a local directory or an S3 bucket, parsed from a URL.

use std::path::PathBuf;

use url::Url;

use crate::ObjectsError;

/// A storage location as written in configuration: `s3://bucket/prefix?...`,
/// `file:///path` or a plain path.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// Files under a directory of this machine, served by Rushes' media endpoint.
    Local(PathBuf),
    /// An S3-compatible bucket, with presigned URLs clients use directly.
    S3(S3Location),
}

/// An S3-compatible bucket and key prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (no leading or trailing `/`; may be empty).
    pub prefix: String,
    /// Endpoint URL (`http://127.0.0.1:8333`) of a non-AWS server; `None` for AWS.
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`).
    pub region: Option<String>,
    /// Access key id; `None` to take it from `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// Secret access key; `None` to take it from `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Location")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl std::fmt::Debug for StorageLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageLocation::Local(p) => f.debug_tuple("Local").field(p).finish(),
            StorageLocation::S3(s) => f.debug_tuple("S3").field(s).finish(),
        }
    }
}

impl S3Location {
    /// The location as a URL without credentials, for messages and logs.
    pub fn display_url(&self) -> String {
        let mut s = format!("s3://{}/{}", self.bucket, self.prefix);
        let mut sep = '?';
        for (k, v) in [("endpoint", &self.endpoint), ("region", &self.region)] {
            if let Some(v) = v {
                s.push(sep);
                s.push_str(k);
                s.push('=');
                s.push_str(v);
                sep = '&';
            }
        }
        s
    }
}

impl StorageLocation {
    /// Parse `s3://bucket[/prefix][?endpoint=URL&region=R&access_key_id=K&secret_access_key=S]`,
    /// `file:///path` or a plain filesystem path.
    pub fn parse(text: &str) -> Result<StorageLocation, ObjectsError> {
        let bad = |why: String| ObjectsError::Config(format!("storage URL {text:?}: {why}"));
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("empty".into()));
        }
        if let Some(rest) = text.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(bad(
                    "a file URL must hold an absolute path (file:///path)".into()
                ));
            }
            let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
            let path = url
                .to_file_path()
                .map_err(|()| bad("not a local file path".into()))?;
            return Ok(StorageLocation::Local(path));
        }
        if !text.contains("://") {
            return Ok(StorageLocation::Local(PathBuf::from(text)));
        }
        let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
        if url.scheme() != "s3" {
            return Err(bad(format!(
                "unknown scheme {:?}: use s3://bucket/prefix, file:///path or a path",
                url.scheme()
            )));
        }
        let bucket = url.host_str().unwrap_or_default().to_owned();
        if bucket.is_empty() {
            return Err(bad("no bucket: use s3://bucket/prefix".into()));
        }
        if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
            return Err(bad(
                "put credentials in access_key_id/secret_access_key or the AWS_* variables, \
                 and the server in endpoint="
                    .into(),
            ));
        }
        if url.fragment().is_some() {
            return Err(bad("a fragment (#...) is not allowed".into()));
        }
        let prefix = url.path().trim_matches('/').to_owned();
        if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
            return Err(bad(
                "the prefix must not hold '.', '..' or empty segments".into()
            ));
        }
        let mut loc = S3Location {
            bucket,
            prefix,
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
        };
        for (key, value) in url.query_pairs() {
            let slot = match key.as_ref() {
                "endpoint" => &mut loc.endpoint,
                "region" => &mut loc.region,
                "access_key_id" => &mut loc.access_key_id,
                "secret_access_key" => &mut loc.secret_access_key,
                other => {
                    return Err(bad(format!(
                        "unknown parameter {other:?} (known: endpoint, region, access_key_id, \
                         secret_access_key)"
                    )))
                }
            };
            if slot.is_some() {
                return Err(bad(format!("parameter {key:?} given twice")));
            }
            if value.is_empty() {
                return Err(bad(format!("parameter {key:?} is empty")));
            }
            *slot = Some(value.into_owned());
        }
        if let Some(endpoint) = &loc.endpoint {
            let e = Url::parse(endpoint).map_err(|e| bad(format!("endpoint: {e}")))?;
            if !matches!(e.scheme(), "http" | "https") || e.host_str().is_none() {
                return Err(bad(format!(
                    "endpoint {endpoint:?} must be an http or https URL"
                )));
            }
        }
        if loc.access_key_id.is_some() != loc.secret_access_key.is_some() {
            return Err(bad(
                "give both access_key_id and secret_access_key, or neither".into(),
            ));
        }
        Ok(StorageLocation::S3(loc))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            StorageLocation::parse("/var/media").unwrap(),
            StorageLocation::Local("/var/media".into())
        );
        assert_eq!(
            StorageLocation::parse("relative/dir").unwrap(),
            StorageLocation::Local("relative/dir".into())
        );
        assert_eq!(
            StorageLocation::parse("file:///var/media").unwrap(),
            StorageLocation::Local("/var/media".into())
        );
        let StorageLocation::S3(s3) = StorageLocation::parse(
            "s3://bucket/a/b/?endpoint=http://127.0.0.1:8333&region=eu-west-2",
        )
        .unwrap() else {
            panic!("not s3")
        };
        assert_eq!(s3.bucket, "bucket");
        assert_eq!(s3.prefix, "a/b");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
        assert_eq!(s3.region.as_deref(), Some("eu-west-2"));
        assert_eq!(s3.access_key_id, None);
        assert_eq!(
            s3.display_url(),
            "s3://bucket/a/b?endpoint=http://127.0.0.1:8333&region=eu-west-2"
        );
        let StorageLocation::S3(s3) =
            StorageLocation::parse("s3://b?access_key_id=k&secret_access_key=s").unwrap()
        else {
            panic!("not s3")
        };
        assert_eq!(s3.prefix, "");
        assert!(!format!("{s3:?}").contains("\"s\""));
    }

    #[test]
    fn refuses_bad_urls_with_a_reason() {
        for (text, why) in [
            ("", "empty"),
            ("s3:///prefix", "no bucket"),
            ("s3://b/p?colour=red", "unknown parameter"),
            ("s3://b/p?region=a&region=b", "twice"),
            ("s3://b/p?endpoint=ftp://x", "http or https"),
            ("s3://b/p?access_key_id=k", "both"),
            ("s3://key:secret@b/p", "credentials"),
            ("s3://b/a//c", "empty segments"),
            ("gs://b/p", "unknown scheme"),
            ("file://relative", "absolute"),
        ] {
            let err = StorageLocation::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }
}
