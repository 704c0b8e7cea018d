//! `MediaStore` against a real S3-compatible server (SeaweedFS, started by
//! `scripts/s3-server.sh`): presigned URLs used with plain HTTP, multipart writes, listing,
//! deletion and the backend id kept in the bucket.
//!
//! The server is named by `RUSHES_TEST_S3_URL` (with `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY`). Without it every test here fails and says how to start one:
//! `scripts/test.sh` does, or `source scripts/s3-server.sh` in the shell running cargo.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use rushes_objects::{BackendSpec, ByteRange, MediaStore, ObjectsError, StorageLocation};
use url::Url;
use uuid::Uuid;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The test server's URL as exported by `scripts/s3-server.sh`; fails the test without it.
fn server_url() -> Url {
    let url = std::env::var("RUSHES_TEST_S3_URL").unwrap_or_default();
    assert!(
        !url.is_empty(),
        "RUSHES_TEST_S3_URL is not set: these tests need a real S3-compatible server. \
         Run scripts/test.sh, or `source scripts/s3-server.sh` in this shell first \
         (it starts SeaweedFS on loopback and exports RUSHES_TEST_S3_URL and the AWS_* keys)."
    );
    Url::parse(&url).expect("RUSHES_TEST_S3_URL is a URL")
}

/// The test server's URL with a fresh prefix, so tests do not see each other's objects.
fn s3_url() -> String {
    let mut parsed = server_url();
    let path = format!(
        "{}/t-{}",
        parsed.path().trim_end_matches('/'),
        Uuid::new_v4().simple()
    );
    parsed.set_path(&path);
    parsed.to_string()
}

async fn open(url: &str) -> MediaStore {
    MediaStore::open_url(url, Url::parse("http://127.0.0.1:1/").unwrap())
        .await
        .unwrap()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed))
        .collect()
}

fn chunks(
    data: &[u8],
    size: usize,
) -> impl futures::Stream<Item = Result<Bytes, BoxError>> + Send + 'static {
    let parts: Vec<Result<Bytes, BoxError>> = data
        .chunks(size.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(parts)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn read_all(store: &MediaStore, id: &str, range: Option<ByteRange>) -> Vec<u8> {
    let read = store.get_range(id, range).await.unwrap();
    let parts: Vec<Bytes> = read.body.try_collect().await.unwrap();
    parts.concat()
}

#[tokio::test]
async fn presigned_put_then_get_round_trips_over_plain_http() {
    let store = open(&s3_url()).await;
    assert!(!store.serves_media_endpoint());
    let data = pattern(300_000, 7);
    let put = store
        .put_url("clip-1.ts", "video/mp2t", Duration::from_secs(300))
        .await
        .unwrap();
    // The URL points at the S3 server, not at Rushes, and carries a SigV4 signature.
    let endpoint = server_url()
        .query_pairs()
        .find(|(k, _)| k == "endpoint")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(put.as_str().starts_with(&endpoint), "{put}");
    assert!(put.query().unwrap().contains("X-Amz-Signature="), "{put}");

    let resp = client()
        .put(put.clone())
        .header("content-type", "video/mp2t")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);

    // Rushes sees the object the client uploaded.
    let info = store.head("clip-1.ts").await.unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert!(store.exists("clip-1.ts").await.unwrap());

    let get = store
        .get_url("clip-1.ts", Some("video/mp2t"), Duration::from_secs(300))
        .await
        .unwrap();
    let resp = client().get(get).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("video/mp2t")
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[..]);

    // Rushes' own reads agree, whole and by range.
    assert_eq!(read_all(&store, "clip-1.ts", None).await, data);
    let range = ByteRange::Inclusive {
        first: 10,
        last: 19,
    };
    assert_eq!(
        read_all(&store, "clip-1.ts", Some(range)).await,
        &data[10..20]
    );
}

#[tokio::test]
async fn tampered_wrong_type_and_expired_urls_are_refused_by_the_server() {
    let store = open(&s3_url()).await;
    store
        .put_stream("held", chunks(b"original bytes", 4))
        .await
        .unwrap();
    store
        .put_stream("hel0", chunks(b"other bytes", 4))
        .await
        .unwrap();

    // A GET URL altered to name another (existing) object: signature mismatch.
    let get = store
        .get_url("held", None, Duration::from_secs(300))
        .await
        .unwrap();
    let resp = client().get(get.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let tampered = Url::parse(&get.as_str().replacen("/held?", "/hel0?", 1)).unwrap();
    assert_ne!(tampered, get);
    let resp = client().get(tampered).send().await.unwrap();
    assert_eq!(resp.status(), 403, "{:?}", resp.text().await);

    // A changed signature.
    let pairs: Vec<(String, String)> = get
        .query_pairs()
        .map(|(k, v)| {
            let mut v = v.into_owned();
            if k == "X-Amz-Signature" {
                let last = if v.ends_with('0') { "1" } else { "0" };
                v.pop();
                v.push_str(last);
            }
            (k.into_owned(), v)
        })
        .collect();
    let mut changed = get.clone();
    changed.query_pairs_mut().clear().extend_pairs(pairs);
    assert_ne!(changed, get);
    let resp = client().get(changed).send().await.unwrap();
    assert_eq!(resp.status(), 403);

    // A PUT URL used for another object, or with another content type.
    let put = store
        .put_url("fresh", "video/mp4", Duration::from_secs(300))
        .await
        .unwrap();
    let other = Url::parse(&put.as_str().replacen("/fresh?", "/freshX?", 1)).unwrap();
    let resp = client()
        .put(other)
        .header("content-type", "video/mp4")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = client()
        .put(put.clone())
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(!store.exists("fresh").await.unwrap());
    assert!(!store.exists("freshX").await.unwrap());

    // An expired URL (the shortest lifetime, one second).
    let short = store
        .get_url("held", None, Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let resp = client().get(short).send().await.unwrap();
    assert_eq!(resp.status(), 403, "{:?}", resp.text().await);

    // The original was untouched by all this.
    assert_eq!(read_all(&store, "held", None).await, b"original bytes");
}

#[tokio::test]
async fn multipart_write_of_a_large_object_then_list_and_delete() {
    let store = open(&s3_url()).await;
    // More than two 5 MiB parts, given in uneven chunks.
    let big = pattern(11 * 1024 * 1024 + 4321, 3);
    let info = store
        .put_stream("big.mxf", chunks(&big, 700_001))
        .await
        .unwrap();
    assert_eq!(info.size, big.len() as u64);
    // Bytes written by Rushes carry no content type; the signed GET URL supplies it.
    let get = store
        .get_url("big.mxf", Some("application/mxf"), Duration::from_secs(300))
        .await
        .unwrap();
    let resp = client().get(get).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/mxf")
    );
    assert_eq!(resp.bytes().await.unwrap().len(), big.len());
    let stored = read_all(&store, "big.mxf", None).await;
    assert_eq!(stored.len(), big.len());
    assert!(stored == big, "the stored bytes differ");

    // A second write of the same id is refused; objects are immutable.
    let again = store.put_stream("big.mxf", chunks(b"other", 5)).await;
    assert!(
        matches!(again, Err(ObjectsError::AlreadyExists { .. })),
        "{again:?}"
    );

    // A failing body leaves nothing behind.
    let failing = futures::stream::iter(vec![
        Ok(Bytes::from(pattern(6 * 1024 * 1024, 1))),
        Err::<Bytes, BoxError>("client went away".into()),
    ]);
    let broken = store.put_stream("broken", failing).await;
    assert!(matches!(broken, Err(ObjectsError::Body(_))), "{broken:?}");
    assert!(!store.exists("broken").await.unwrap());

    for id in ["a", "b~1", "c.mp4"] {
        store
            .put_stream(id, chunks(id.as_bytes(), 1))
            .await
            .unwrap();
    }
    let mut listed: Vec<String> = store
        .list_objects()
        .map_ok(|i| i.object_id)
        .try_collect()
        .await
        .unwrap();
    listed.sort();
    assert_eq!(listed, ["a", "big.mxf", "b~1", "c.mp4"]);
    let future = std::time::SystemTime::now() + Duration::from_secs(3600);
    let old: Vec<_> = store
        .list_objects_older_than(future)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(old.len(), 4);
    let past = std::time::SystemTime::now() - Duration::from_secs(3600);
    let none: Vec<_> = store
        .list_objects_older_than(past)
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());

    store.delete("big.mxf").await.unwrap();
    assert!(!store.exists("big.mxf").await.unwrap());
    assert!(matches!(
        store.head("big.mxf").await,
        Err(ObjectsError::NotFound { .. })
    ));
    // Deleting twice is harmless.
    store.delete("big.mxf").await.unwrap();
    let left = store.list_objects().try_collect::<Vec<_>>().await.unwrap();
    assert_eq!(left.len(), 3);
}

#[tokio::test]
async fn backend_id_is_kept_in_the_bucket_and_shared_by_every_opener() {
    let url = s3_url();
    let first = open(&url).await;
    let second = open(&url).await;
    assert_eq!(first.backend_id(), second.backend_id());
    let info = first.storage_backend();
    assert_eq!(info.store_type, "http_object_store");
    assert_eq!(info.label, "s3");
    // Another prefix is another backend.
    let other = open(&s3_url()).await;
    assert_ne!(other.backend_id(), first.backend_id());
    // The id marker is not an object.
    let listed = first.list_objects().try_collect::<Vec<_>>().await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    // A configured id and label win.
    let id = Uuid::new_v4();
    let mut spec = BackendSpec::from_url(&url).unwrap();
    spec.id = Some(id);
    spec.label = Some("archive".into());
    let configured = MediaStore::open(spec, Url::parse("http://127.0.0.1:1/").unwrap())
        .await
        .unwrap();
    assert_eq!(configured.backend_id(), id);
    assert_eq!(configured.storage_backend().label, "archive");
}

#[tokio::test]
async fn unreachable_server_and_bad_credentials_fail_at_open_with_a_clear_error() {
    let url = s3_url();
    let StorageLocation::S3(loc) = StorageLocation::parse(&url).unwrap() else {
        panic!("RUSHES_TEST_S3_URL is not an s3:// URL")
    };
    // Nothing listens on port 9 of loopback.
    let mut down = loc.clone();
    down.endpoint = Some("http://127.0.0.1:9".into());
    let err = MediaStore::open_s3(&down, None).await.unwrap_err();
    assert!(matches!(err, ObjectsError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("cannot reach the object storage at s3://"),
        "{text}"
    );
    assert!(text.contains("127.0.0.1:9"), "{text}");

    let mut wrong = loc.clone();
    wrong.access_key_id = Some("nobody".into());
    wrong.secret_access_key = Some("wrong-secret".into());
    let err = MediaStore::open_s3(&wrong, None).await.unwrap_err();
    assert!(matches!(err, ObjectsError::Unreachable { .. }), "{err:?}");
    assert!(!err.to_string().contains("wrong-secret"));

    let mut missing = loc;
    missing.bucket = format!("no-such-bucket-{}", Uuid::new_v4().simple());
    let err = MediaStore::open_s3(&missing, Some(Uuid::new_v4()))
        .await
        .unwrap_err();
    assert!(matches!(err, ObjectsError::Unreachable { .. }), "{err:?}");
}
