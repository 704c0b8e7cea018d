//! Several storage backends at once: a local directory and an S3 bucket (SeaweedFS, started
//! by `scripts/s3-server.sh`): allocation by `storage_id`, uploads through presigned URLs
//! straight to S3, `get_urls` per instance, `rushes objects copy`, duplication through
//! `POST /objects/{id}/instances`, and collection from every backend.
//!
//! These tests need `RUSHES_TEST_S3_URL` (and the `AWS_*` keys); without it they fail and
//! say to run `scripts/test.sh` or `source scripts/s3-server.sh` first.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{assert_error, expect_json, expect_status, TestServer};
use crate::schema;
use crate::segments::{allocate, list, new_flow, put_bytes, register};

/// The test S3 server's URL with a fresh prefix; fails the test without one.
fn s3_url() -> String {
    let url = std::env::var("RUSHES_TEST_S3_URL").unwrap_or_default();
    assert!(
        !url.is_empty(),
        "RUSHES_TEST_S3_URL is not set: this test needs a real S3-compatible server. \
         Run scripts/test.sh, or `source scripts/s3-server.sh` in this shell first \
         (it starts SeaweedFS on loopback and exports RUSHES_TEST_S3_URL and the AWS_* keys)."
    );
    let mut parsed = url::Url::parse(&url).expect("RUSHES_TEST_S3_URL is a URL");
    let path = format!(
        "{}/api-{}",
        parsed.path().trim_end_matches('/'),
        uuid::Uuid::new_v4().simple()
    );
    parsed.set_path(&path);
    parsed.to_string()
}

/// The S3 server's endpoint, which presigned URLs point at.
fn s3_endpoint(s3: &str) -> String {
    url::Url::parse(s3)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "endpoint")
        .map(|(_, v)| v.into_owned())
        .expect("RUSHES_TEST_S3_URL has an endpoint")
}

/// A configuration file declaring a local backend (the default) and an S3 one.
fn write_config(dir: &Path, s3: &str) -> std::path::PathBuf {
    let path = dir.join("rushes.toml");
    let text = format!(
        "[[storage]]\nlabel = \"disk\"\nurl = {:?}\ndefault = true\n\n\
         [[storage]]\nlabel = \"bucket\"\nurl = {:?}\n",
        dir.join("media-disk").display().to_string(),
        s3
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn get_bytes(url: &str) -> (StatusCode, Vec<u8>) {
    let resp = reqwest::Client::new().get(url).send().await.unwrap();
    let status = resp.status();
    (status, resp.bytes().await.unwrap().to_vec())
}

/// `rushes objects copy ARGS` against the server's data directory and configuration.
fn objects_copy(server: &TestServer, config: &Path, args: &[&str]) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rushes"));
    cmd.args(["objects", "copy", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(server.data_dir())
        .args(server.engine_args())
        .args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RUSHES_") {
            cmd.env_remove(&key);
        }
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The `get_urls` of object `id` (verbose), checked against the spec.
async fn get_urls(server: &TestServer, id: &str, query: &str) -> Vec<Value> {
    let o = server
        .get_json(&format!("/objects/{id}?verbose_storage=true{query}"))
        .await;
    schema::assert_valid("object.json", &o);
    o["get_urls"].as_array().cloned().unwrap_or_default()
}

fn storage_ids(urls: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = urls
        .iter()
        .map(|u| u["storage_id"].as_str().unwrap_or("").to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn local_and_s3_backends_allocate_serve_copy_and_collect() {
    let s3 = s3_url();
    let endpoint = s3_endpoint(&s3);
    let conf_dir = tempfile::tempdir().unwrap();
    let config = write_config(conf_dir.path(), &s3);
    let config_arg = config.to_str().unwrap();
    let server = TestServer::start_with(&[
        "--config",
        config_arg,
        "--gc-grace",
        "1",
        "--worker-interval",
        "1",
    ])
    .await;

    // Both backends are listed; the local one is the default (unless the suite runs on
    // S3, when its --object-store-url adds a third backend, the default).
    let suite_s3 = server
        .engine_args()
        .iter()
        .any(|a| a == "--object-store-url");
    let backends = expect_json(
        server.get("/service/storage-backends").await,
        StatusCode::OK,
    )
    .await;
    schema::assert_valid("storage-backends-list.json", &backends);
    let backends = backends.as_array().unwrap().clone();
    assert_eq!(backends.len(), 2 + usize::from(suite_s3), "{backends:?}");
    let defaults: Vec<&Value> = backends
        .iter()
        .filter(|b| b["default_storage"] == true)
        .collect();
    assert_eq!(defaults.len(), 1, "{backends:?}");
    let by_label = |label: &str| {
        backends
            .iter()
            .find(|b| b["label"] == label)
            .unwrap_or_else(|| panic!("no backend {label}: {backends:?}"))
            .clone()
    };
    let (disk, bucket) = (by_label("disk"), by_label("bucket"));
    assert_eq!(disk["default_storage"], !suite_s3);
    assert_eq!(bucket["default_storage"], false);
    let disk_id = disk["id"].as_str().unwrap().to_owned();
    let bucket_id = bucket["id"].as_str().unwrap().to_owned();

    // Allocation on each backend by storage_id; the S3 URL points at the S3 server.
    let flow = new_flow(&server).await;
    let (local_obj, local_put, ct) =
        allocate(&server, &flow, json!({"limit": 1, "storage_id": disk_id}))
            .await
            .remove(0);
    assert!(local_put.starts_with(&server.base_url), "{local_put}");
    let (s3_obj, s3_put, s3_ct) =
        allocate(&server, &flow, json!({"limit": 1, "storage_id": bucket_id}))
            .await
            .remove(0);
    assert!(s3_put.starts_with(&endpoint), "{s3_put}");
    assert!(s3_put.contains("X-Amz-Signature="), "{s3_put}");
    // Without storage_id: the default backend.
    let default_put = allocate(&server, &flow, json!({"limit": 1})).await;
    assert_eq!(
        default_put[0].1.starts_with(&server.base_url),
        !suite_s3,
        "{}",
        default_put[0].1
    );
    // An unknown backend is a 400 in the spec's error shape.
    assert_error(
        server
            .post(
                &format!("/flows/{flow}/storage"),
                &json!({"storage_id": uuid::Uuid::new_v4().to_string()}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Upload through the returned URLs and register both.
    let local_bytes = b"bytes kept on the local disk".to_vec();
    let s3_bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    put_bytes(&server, &local_put, &ct, &local_bytes).await;
    put_bytes(&server, &s3_put, &s3_ct, &s3_bytes).await;
    register(
        &server,
        &flow,
        &json!([
            {"object_id": local_obj, "timerange": "[0:0_1:0)"},
            {"object_id": s3_obj, "timerange": "[1:0_2:0)", "ts_offset": "1:0"},
        ]),
    )
    .await;

    // get_urls name each instance's backend; the S3 URL serves the bytes directly.
    let urls = get_urls(&server, &s3_obj, "").await;
    assert_eq!(urls.len(), 1, "{urls:?}");
    assert_eq!(urls[0]["storage_id"], bucket_id.as_str());
    assert_eq!(urls[0]["label"], "bucket");
    assert_eq!(urls[0]["controlled"], true);
    assert_eq!(urls[0]["presigned"], true);
    let s3_get = urls[0]["url"].as_str().unwrap().to_owned();
    assert!(s3_get.starts_with(&endpoint), "{s3_get}");
    assert_eq!(get_bytes(&s3_get).await, (StatusCode::OK, s3_bytes.clone()));
    let urls = get_urls(&server, &local_obj, "").await;
    assert_eq!(storage_ids(&urls), [disk_id.as_str()]);
    let local_get = urls[0]["url"].as_str().unwrap().to_owned();
    assert_eq!(
        get_bytes(&local_get).await,
        (StatusCode::OK, local_bytes.clone())
    );

    // accept_storage_ids filters segment listings per URL.
    let (segs, _) = list(
        &server,
        &format!("/flows/{flow}/segments?accept_storage_ids={bucket_id}"),
    )
    .await;
    assert_eq!(segs.as_array().unwrap().len(), 2);
    assert!(segs[0]["get_urls"].as_array().unwrap().is_empty());
    assert_eq!(segs[1]["get_urls"].as_array().unwrap().len(), 1);

    // `rushes objects copy` copies the local object to S3 and registers the instance...
    let (ok, out) = objects_copy(&server, &config, &["--to", "bucket", &local_obj]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("copied {local_obj}")), "{out}");
    let urls = get_urls(&server, &local_obj, "").await;
    let mut want = vec![disk_id.clone(), bucket_id.clone()];
    want.sort();
    assert_eq!(storage_ids(&urls), want);
    for u in &urls {
        let (status, bytes) = get_bytes(u["url"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bytes, local_bytes);
    }
    let only_bucket = get_urls(
        &server,
        &local_obj,
        &format!("&accept_storage_ids={bucket_id}"),
    )
    .await;
    assert_eq!(storage_ids(&only_bucket), [bucket_id.as_str()]);
    let by_label = get_urls(&server, &local_obj, "&accept_get_urls=disk").await;
    assert_eq!(storage_ids(&by_label), [disk_id.as_str()]);
    // ... and a second run does nothing.
    let (ok, out) = objects_copy(&server, &config, &["--to", &bucket_id, &local_obj]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("already there {local_obj}")), "{out}");
    assert_eq!(get_urls(&server, &local_obj, "").await.len(), 2);

    // --all --flow copies every object of the flow to the local disk (the S3 one is new there).
    let (ok, out) = objects_copy(
        &server,
        &config,
        &["--to", "disk", "--all", "--flow", &flow],
    );
    assert!(ok, "{out}");
    assert!(out.contains(&format!("copied {s3_obj}")), "{out}");
    assert!(out.contains(&format!("already there {local_obj}")), "{out}");
    let urls = get_urls(&server, &s3_obj, "").await;
    assert_eq!(storage_ids(&urls), want);
    for u in &urls {
        assert_eq!(
            get_bytes(u["url"].as_str().unwrap()).await,
            (StatusCode::OK, s3_bytes.clone())
        );
    }
    // Bad invocations fail with a reason.
    let (ok, out) = objects_copy(&server, &config, &["--to", "nowhere", &local_obj]);
    assert!(!ok);
    assert!(out.contains("no storage backend"), "{out}");

    // Duplication through the API: remove the S3 instance, then ask for it again.
    let path = format!("/objects/{local_obj}/instances");
    expect_status(
        server
            .delete(&format!("{path}?storage_id={bucket_id}"))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let local_url = {
        let urls = get_urls(&server, &local_obj, "").await;
        assert_eq!(storage_ids(&urls), [disk_id.as_str()]);
        urls[0]["url"].as_str().unwrap().to_owned()
    };
    assert_eq!(get_bytes(&local_url).await.0, StatusCode::OK);
    let body = json!({"storage_id": bucket_id});
    schema::assert_valid("objects-instances-post.json", &body);
    expect_status(server.post(&path, &body).await, StatusCode::CREATED).await;
    let urls = get_urls(&server, &local_obj, "").await;
    assert_eq!(storage_ids(&urls), want);
    let s3_instance = urls
        .iter()
        .find(|u| u["storage_id"] == bucket_id.as_str())
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        get_bytes(&s3_instance).await,
        (StatusCode::OK, local_bytes.clone())
    );
    // Already there: 400.
    assert_error(server.post(&path, &body).await, StatusCode::BAD_REQUEST).await;

    // Deleting the flow releases both objects; collection removes their bytes from
    // every backend that holds them.
    let mut all_urls = Vec::new();
    for id in [&local_obj, &s3_obj] {
        for u in get_urls(&server, id, "").await {
            all_urls.push(u["url"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(all_urls.len(), 4);
    let resp = server.delete(&format!("/flows/{flow}")).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut found = Vec::new();
        for u in &all_urls {
            if get_bytes(u).await.0 == StatusCode::OK {
                found.push(u.clone());
            }
        }
        if found.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bytes still served after collection: {found:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn an_unreachable_s3_backend_stops_the_server_at_start_with_a_clear_message() {
    // Any S3 URL will do for the shape; point it at a port where nothing listens.
    let s3 = s3_url();
    let mut down = url::Url::parse(&s3).unwrap();
    let pairs: Vec<(String, String)> = down
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "endpoint" {
                "http://127.0.0.1:9".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    down.query_pairs_mut().clear().extend_pairs(pairs);
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rushes"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--object-store-url")
        .arg(down.as_str())
        .env_remove("RUSHES_OBJECT_STORE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open the storage backends"), "{err}");
    assert!(
        err.contains("cannot reach the object storage at s3://"),
        "{err}"
    );
    assert!(err.contains("127.0.0.1:9"), "{err}");
}
