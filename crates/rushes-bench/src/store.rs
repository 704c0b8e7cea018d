//! The TAMS requests the benchmark makes: create a flow, allocate objects, register segments, read.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::{Client, Response, StatusCode, Url};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::server::ensure_loopback;

/// One video flow on the store under test.
#[derive(Clone)]
pub struct Store {
    client: Client,
    /// The nodes of the store; requests go to them in turn.
    bases: Arc<Vec<Url>>,
    next: Arc<AtomicUsize>,
    pub flow_id: Uuid,
}

/// An allocated object: its id and whether it was uploaded.
#[derive(Debug, Clone)]
pub struct MediaObject {
    pub object_id: String,
}

impl Store {
    pub fn new(bases: Vec<Url>) -> Result<Store> {
        if bases.is_empty() {
            bail!("no store URL");
        }
        for base in &bases {
            ensure_loopback(base)?;
        }
        let client = Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Store {
            client,
            bases: Arc::new(bases),
            next: Arc::new(AtomicUsize::new(0)),
            flow_id: Uuid::new_v4(),
        })
    }

    /// `path_and_query` on the next node in turn.
    fn url(&self, path_and_query: &str) -> Result<Url> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len();
        let base = &self.bases[i];
        base.join(path_and_query.trim_start_matches('/'))
            .with_context(|| format!("join {path_and_query} to {base}"))
    }

    /// PUT /flows/{id}: an H.264 1080p25 video flow in MPEG-TS with 1 s segments.
    pub async fn create_flow(&self) -> Result<()> {
        let body = json!({
            "id": self.flow_id,
            "source_id": Uuid::new_v4(),
            "label": "rushes-bench",
            "description": "load benchmark flow",
            "format": "urn:x-nmos:format:video",
            "codec": "video/h264",
            "container": "video/mp2t",
            "segment_duration": {"numerator": 1, "denominator": 1},
            "essence_parameters": {
                "frame_rate": {"numerator": 25, "denominator": 1},
                "frame_width": 1920,
                "frame_height": 1080,
                "bit_depth": 8,
                "interlace_mode": "progressive",
                "colorspace": "BT709",
                "transfer_characteristic": "SDR",
                "aspect_ratio": {"numerator": 16, "denominator": 9},
                "pixel_aspect_ratio": {"numerator": 1, "denominator": 1},
                "component_type": "YCbCr",
                "horiz_chroma_subs": 2,
                "vert_chroma_subs": 2
            }
        });
        let resp = self
            .client
            .put(self.url(&format!("/flows/{}", self.flow_id))?)
            .json(&body)
            .send()
            .await?;
        expect(
            resp,
            &[StatusCode::CREATED, StatusCode::NO_CONTENT, StatusCode::OK],
            "PUT flow",
        )
        .await?;
        Ok(())
    }

    /// Allocates `count` objects with POST /flows/{id}/storage (several requests if the
    /// server caps the page) and uploads a small body to each put_url.
    /// Allocates `count` objects; with `upload`, writes a few bytes to each through its
    /// signed URL.
    pub async fn allocate_objects(&self, count: usize, upload: bool) -> Result<Vec<MediaObject>> {
        let mut objects = Vec::with_capacity(count);
        while objects.len() < count {
            let want = (count - objects.len()).min(1000);
            let resp = self
                .client
                .post(self.url(&format!("/flows/{}/storage", self.flow_id))?)
                .json(&json!({ "limit": want }))
                .send()
                .await?;
            let body = expect(resp, &[StatusCode::CREATED, StatusCode::OK], "POST storage").await?;
            let list = body["media_objects"]
                .as_array()
                .context("storage response has no media_objects array")?;
            if list.is_empty() {
                bail!("storage allocation returned no objects");
            }
            for item in list {
                let object_id = item["object_id"]
                    .as_str()
                    .context("media object without object_id")?
                    .to_owned();
                if let (true, Some(put)) = (upload, item.get("put_url")) {
                    self.upload(put).await?;
                }
                objects.push(MediaObject { object_id });
            }
        }
        objects.truncate(count);
        Ok(objects)
    }

    /// PUTs one MPEG-TS null packet (188 bytes) to a put_url.
    async fn upload(&self, put: &Value) -> Result<()> {
        let url = put["url"].as_str().context("put_url without url")?;
        let url = self
            .url(url)
            .or_else(|_| Url::parse(url).context("put_url"))?;
        ensure_loopback(&url)?;
        let content_type = put["content-type"].as_str().unwrap_or("video/mp2t");
        let mut packet = vec![0xFFu8; 188];
        packet[..4].copy_from_slice(&[0x47, 0x1F, 0xFF, 0x10]);
        let resp = self
            .client
            .put(url)
            .header("content-type", content_type)
            .body(packet)
            .send()
            .await?;
        if !resp.status().is_success() {
            let status = resp.status();
            bail!(
                "object upload: {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// POST /flows/{id}/segments with one segment object or an array of them; returns the
    /// request latency. A partial failure (200 with failed segments) is an error.
    pub async fn post_segments(&self, body: &Value) -> Result<Duration> {
        let url = self.url(&format!("/flows/{}/segments", self.flow_id))?;
        let start = Instant::now();
        let resp = self.client.post(url).json(body).send().await?;
        let status = resp.status();
        let elapsed = start.elapsed();
        if status == StatusCode::CREATED || status == StatusCode::NO_CONTENT {
            return Ok(elapsed);
        }
        let text = resp.text().await.unwrap_or_default();
        bail!("POST segments: {status}: {}", truncate(&text))
    }

    /// GET /flows/{id}/segments?timerange=..&limit=..; returns latency and segment count.
    pub async fn get_segments(&self, timerange: &str, limit: u32) -> Result<(Duration, usize)> {
        let mut url = self.url(&format!("/flows/{}/segments", self.flow_id))?;
        url.query_pairs_mut()
            .append_pair("timerange", timerange)
            .append_pair("limit", &limit.to_string());
        let start = Instant::now();
        let resp = self.client.get(url).send().await?;
        let body = expect(resp, &[StatusCode::OK], "GET segments").await?;
        let elapsed = start.elapsed();
        let n = body
            .as_array()
            .context("segments response is not an array")?
            .len();
        Ok((elapsed, n))
    }

    /// GET /flows/{id}?include_timerange=true; returns latency and the flow's timerange.
    pub async fn get_flow(&self) -> Result<(Duration, Option<String>)> {
        let url = self.url(&format!("/flows/{}?include_timerange=true", self.flow_id))?;
        let start = Instant::now();
        let resp = self.client.get(url).send().await?;
        let body = expect(resp, &[StatusCode::OK], "GET flow").await?;
        let elapsed = start.elapsed();
        Ok((elapsed, body["timerange"].as_str().map(str::to_owned)))
    }
}

/// Checks the status and returns the JSON body (Null when empty).
async fn expect(resp: Response, ok: &[StatusCode], what: &str) -> Result<Value> {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !ok.contains(&status) {
        bail!("{what}: {status}: {}", truncate(&text));
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text)
        .with_context(|| format!("{what}: body is not JSON: {}", truncate(&text)))
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(500) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The segment registration body for segment `n` (covering `[n:0_n+1:0)`), reusing object
/// `objects[n % len]`. `ts_offset` maps the segment back onto that object's own timeline
/// (its first use, at `n % len`), so every reuse agrees on the object's timerange.
/// Where segments get their objects from.
#[derive(Debug, Clone)]
pub enum Pool {
    /// A fresh object for each segment: segment `n` uses `objects[n - first]`, as a live
    /// ingest does.
    Fresh {
        first: u64,
        objects: Vec<MediaObject>,
    },
    /// A few objects reused round-robin, each reuse shifted by `ts_offset` so that every
    /// use agrees on the object's own timerange.
    Reuse(Vec<MediaObject>),
}

impl Pool {
    /// The body of segment `n`: `[n:0_n+1:0)`.
    pub fn segment(&self, n: u64) -> Value {
        let (object, offset) = match self {
            Pool::Fresh { first, objects } => {
                let i = usize::try_from(n.saturating_sub(*first)).unwrap_or(usize::MAX);
                (objects.get(i).or(objects.last()), 0)
            }
            Pool::Reuse(objects) => {
                let len = objects.len().max(1) as u64;
                let j = n % len;
                (objects.get(usize::try_from(j).unwrap_or(0)), n - j)
            }
        };
        let mut seg = json!({
            "object_id": object.map(|o| o.object_id.as_str()).unwrap_or_default(),
            "timerange": format!("[{n}:0_{}:0)", n + 1),
        });
        if offset != 0 {
            seg["ts_offset"] = json!(format!("{offset}:0"));
        }
        seg
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn segments_reuse_objects_with_offsets() {
        let objects: Vec<MediaObject> = (0..3)
            .map(|i| MediaObject {
                object_id: format!("o{i}"),
            })
            .collect();
        let pool = Pool::Reuse(objects.clone());
        assert_eq!(
            pool.segment(1),
            json!({"object_id": "o1", "timerange": "[1:0_2:0)"})
        );
        assert_eq!(
            pool.segment(7),
            json!({"object_id": "o1", "timerange": "[7:0_8:0)", "ts_offset": "6:0"})
        );
        let pool = Pool::Fresh { first: 5, objects };
        assert_eq!(
            pool.segment(6),
            json!({"object_id": "o1", "timerange": "[6:0_7:0)"})
        );
    }
}
