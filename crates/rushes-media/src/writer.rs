//! Writing segment files into a flow through the TAMS API: storage from
//! `POST /flows/{id}/storage`, uploads to the signed URLs several at a time, and
//! registration with `POST /flows/{id}/segments` strictly in order.
//!
//! Transient failures (no answer, 5xx, 429) are retried with backoff for as long as
//! [`FlowWriter::retry_for`] allows, so a store that restarts loses nothing. Before a
//! registration is sent again after no answer, the flow is read to see whether the first
//! attempt landed, so a segment is never registered twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rushes_client::model::{FlowId, FlowStoragePost, ObjectId, SegmentPost};
use rushes_client::{Client, Query, StatusCode, UploadBody};
use rushes_time::{TimeRange, Timestamp};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::RunError;

/// A complete segment file to upload and register.
#[derive(Debug, Clone)]
pub struct SegmentToWrite {
    pub path: PathBuf,
    /// Its place on the flow timeline (half-open).
    pub timerange: TimeRange,
    /// Flow time minus the object's own time (`ts_offset`).
    pub ts_offset: Timestamp,
    /// Delete the file once it is registered.
    pub remove_after: bool,
    /// When the file became complete (for the latency figures).
    pub completed_at: Instant,
    /// The init segment the file needs (fragmented MP4), uploaded once per distinct
    /// content and named by `init_object_id`.
    pub init: Option<Arc<Vec<u8>>>,
}

/// A segment the store has registered.
#[derive(Debug, Clone)]
pub struct Written {
    pub timerange: TimeRange,
    pub object_id: String,
    pub bytes: u64,
    /// From the file being complete to its registration being answered.
    pub latency: Duration,
}

/// Writes segments into one flow.
#[derive(Debug, Clone)]
pub struct FlowWriter {
    pub client: Client,
    pub flow: FlowId,
    /// Uploads in flight at once.
    pub parallel: usize,
    /// How long transient failures are retried for; `None` for ever (live ingest).
    pub retry_for: Option<Duration>,
    /// The most segments registered in one request.
    pub batch: usize,
}

/// An upload done, waiting for its turn to be registered.
struct Uploaded {
    seg: SegmentToWrite,
    object_id: ObjectId,
    init_object_id: Option<ObjectId>,
    bytes: u64,
}

impl FlowWriter {
    /// Takes segments from `segments` in order until it is closed, calling `on_written`
    /// for each as its registration is answered, in order.
    pub async fn run(
        &self,
        segments: mpsc::Receiver<SegmentToWrite>,
        mut on_written: impl FnMut(Written),
    ) -> Result<(), RunError> {
        let inits = Arc::new(tokio::sync::Mutex::new(
            HashMap::<Arc<Vec<u8>>, ObjectId>::new(),
        ));
        let uploads = futures::stream::unfold(segments, |mut rx| async move {
            rx.recv().await.map(|s| (s, rx))
        })
        // Init segments in order, one at a time: each distinct one is uploaded once.
        .then(move |seg| {
            let (this, inits) = (self.clone(), inits.clone());
            async move { this.with_init(seg, &inits).await }
        })
        .map(|r| self.upload_ready(r))
        .buffered(self.parallel.max(1))
        .ready_chunks(self.batch.max(1));
        futures::pin_mut!(uploads);
        while let Some(chunk) = uploads.next().await {
            let mut ready = Vec::with_capacity(chunk.len());
            for item in chunk {
                ready.push(item?);
            }
            self.register(&ready).await?;
            let now = Instant::now();
            for u in ready {
                if u.seg.remove_after {
                    let _ = tokio::fs::remove_file(&u.seg.path).await;
                }
                on_written(Written {
                    timerange: u.seg.timerange,
                    object_id: u.object_id.into_string(),
                    bytes: u.bytes,
                    latency: now.saturating_duration_since(u.seg.completed_at),
                });
            }
        }
        Ok(())
    }

    /// The object id of the segment's init segment, uploading it if it is new.
    async fn with_init(
        &self,
        seg: SegmentToWrite,
        inits: &tokio::sync::Mutex<HashMap<Arc<Vec<u8>>, ObjectId>>,
    ) -> Result<(SegmentToWrite, Option<ObjectId>), RunError> {
        let Some(bytes) = seg.init.clone() else {
            return Ok((seg, None));
        };
        let mut known = inits.lock().await;
        if let Some(id) = known.get(&bytes) {
            return Ok((seg, Some(id.clone())));
        }
        let id = self.upload_bytes(bytes.clone()).await?;
        known.insert(bytes, id.clone());
        Ok((seg, Some(id)))
    }

    async fn upload_ready(
        &self,
        r: Result<(SegmentToWrite, Option<ObjectId>), RunError>,
    ) -> Result<Uploaded, RunError> {
        let (seg, init) = r?;
        self.upload(seg, init).await
    }

    /// Uploads an init segment's bytes as a new object.
    async fn upload_bytes(&self, bytes: Arc<Vec<u8>>) -> Result<ObjectId, RunError> {
        let mut retry = Retry::new(self.retry_for);
        loop {
            let attempt = async {
                let request = FlowStoragePost {
                    limit: Some(1),
                    ..FlowStoragePost::default()
                };
                let mut targets = self.client.allocate_storage(self.flow, &request).await?;
                let Some(target) = targets.pop() else {
                    return Ok(None);
                };
                let body = UploadBody::Bytes(bytes::Bytes::from(bytes.as_ref().clone()));
                self.client.upload(&target.put_url, body).await?;
                Ok::<_, rushes_client::Error>(Some(target.object_id))
            };
            match attempt.await {
                Ok(Some(id)) => return Ok(id),
                Ok(None) => {
                    return Err(RunError::Refused(format!(
                        "the store gave no upload URL for flow {}",
                        self.flow
                    )))
                }
                Err(e) => retry.wait_or_fail(e).await?,
            }
        }
    }

    async fn upload(
        &self,
        seg: SegmentToWrite,
        init_object_id: Option<ObjectId>,
    ) -> Result<Uploaded, RunError> {
        let bytes = tokio::fs::metadata(&seg.path)
            .await
            .map_err(|e| RunError::Local(format!("{}: {e}", seg.path.display())))?
            .len();
        let mut retry = Retry::new(self.retry_for);
        loop {
            let attempt = async {
                let request = FlowStoragePost {
                    limit: Some(1),
                    ..FlowStoragePost::default()
                };
                let mut targets = self.client.allocate_storage(self.flow, &request).await?;
                let Some(target) = targets.pop() else {
                    return Ok(None);
                };
                self.client
                    .upload(&target.put_url, UploadBody::File(seg.path.clone()))
                    .await?;
                Ok::<_, rushes_client::Error>(Some(target.object_id))
            };
            match attempt.await {
                Ok(Some(object_id)) => {
                    return Ok(Uploaded {
                        seg,
                        object_id,
                        init_object_id,
                        bytes,
                    })
                }
                Ok(None) => {
                    return Err(RunError::Refused(format!(
                        "the store gave no upload URL for flow {}",
                        self.flow
                    )))
                }
                Err(e) => retry.wait_or_fail(e).await?,
            }
        }
    }

    async fn register(&self, ready: &[Uploaded]) -> Result<(), RunError> {
        if ready.is_empty() {
            return Ok(());
        }
        let posts: Vec<SegmentPost> = ready
            .iter()
            .map(|u| {
                let mut p = SegmentPost::new(u.object_id.clone(), u.seg.timerange.into());
                p.init_object_id = u.init_object_id.clone();
                if u.seg.ts_offset != Timestamp::ZERO {
                    p.ts_offset = Some(u.seg.ts_offset);
                }
                p
            })
            .collect();
        let mut retry = Retry::new(self.retry_for);
        let mut unsure = false;
        loop {
            let pending: Vec<&SegmentPost> = if unsure {
                // An earlier attempt may have landed: send only what the flow lacks.
                let mut left = Vec::new();
                for p in &posts {
                    match self.is_registered(p).await {
                        Ok(true) => {}
                        Ok(false) => left.push(p),
                        Err(e) => {
                            retry.wait_or_fail(e).await?;
                            continue;
                        }
                    }
                }
                left
            } else {
                posts.iter().collect()
            };
            if pending.is_empty() {
                return Ok(());
            }
            let outcome = if pending.len() == 1 {
                self.client.post_segment(self.flow, pending[0]).await
            } else {
                let list: Vec<SegmentPost> = pending.into_iter().cloned().collect();
                self.client.post_segments(self.flow, &list).await
            };
            match outcome {
                Ok(failed) if failed.is_empty() => return Ok(()),
                Ok(failed) => {
                    let why: Vec<String> = failed
                        .iter()
                        .map(|f| {
                            format!(
                                "{} {}: {}",
                                f.object_id.as_str(),
                                f.timerange.as_ref().map(|t| t.as_str()).unwrap_or(""),
                                f.error
                                    .as_ref()
                                    .map(|e| e.summary.as_str())
                                    .unwrap_or("refused")
                            )
                        })
                        .collect();
                    return Err(RunError::Refused(format!(
                        "the store refused segments of flow {}: {}",
                        self.flow,
                        why.join("; ")
                    )));
                }
                Err(e) => {
                    // Without an answer the request may or may not have landed.
                    unsure = unsure || e.status().is_none() || is_transient(&e);
                    retry.wait_or_fail(e).await?;
                }
            }
        }
    }

    /// Whether the flow has a segment with this post's object at its timerange.
    async fn is_registered(&self, post: &SegmentPost) -> Result<bool, rushes_client::Error> {
        let query = Query::new().param("timerange", post.timerange.as_str());
        let found: Vec<Value> = self
            .client
            .pages(&["flows", &self.flow.to_string(), "segments"], &query)
            .all()
            .await?;
        Ok(found
            .iter()
            .any(|s| s.get("object_id").and_then(Value::as_str) == Some(post.object_id.as_str())))
    }
}

/// A failure worth trying again: no answer, a 5xx, a 408 or a 429.
pub(crate) fn is_transient(e: &rushes_client::Error) -> bool {
    match e.status() {
        None => matches!(e, rushes_client::Error::Transport { .. }),
        Some(s) => {
            s.is_server_error()
                || s == StatusCode::TOO_MANY_REQUESTS
                || s == StatusCode::REQUEST_TIMEOUT
        }
    }
}

/// Backoff between attempts, up to a deadline.
pub(crate) struct Retry {
    deadline: Option<Instant>,
    delay: Duration,
}

impl Retry {
    pub(crate) fn new(retry_for: Option<Duration>) -> Retry {
        Retry {
            deadline: retry_for.map(|d| Instant::now() + d),
            delay: Duration::from_millis(100),
        }
    }

    /// Sleeps before the next attempt if `e` is transient and time is left; otherwise
    /// the error.
    pub(crate) async fn wait_or_fail(&mut self, e: rushes_client::Error) -> Result<(), RunError> {
        if !is_transient(&e)
            || self
                .deadline
                .is_some_and(|d| Instant::now() + self.delay > d)
        {
            return Err(RunError::Store(e));
        }
        tracing::warn!(error = %e, retry_in = ?self.delay, "store unavailable, retrying");
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(Duration::from_secs(2));
        Ok(())
    }
}
