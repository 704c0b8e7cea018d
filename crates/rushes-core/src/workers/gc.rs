//! Garbage collection of media objects: objects without references past their grace
//! period (or allocation timeout), then files in the media store that no object row names.
//!
//! **Invariant:** an object's row is deleted (re-checking that nothing references it, so
//! that a registration racing with collection wins) before its bytes. A crash between
//! the two leaves an orphan file, collected by the orphan sweep, never a row without bytes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use rushes_objects::MediaStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{now_ms, Result, Store};

/// Objects collected per index query.
const BATCH: u32 = 500;
/// Files checked against the index per query in the orphan sweep.
const ORPHAN_BATCH: usize = 500;

/// What one collection pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Object rows deleted (with their controlled bytes).
    pub objects: u64,
    /// Files deleted that no object row named.
    pub orphans: u64,
}

impl Store {
    /// Starts the collector: a pass every `worker_interval` until `shutdown` turns true.
    pub fn start_gc(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(run(self.clone(), shutdown))
    }

    /// One collection pass over everything collectable now.
    pub async fn collect_garbage(&self) -> Result<GcReport> {
        let mut report = GcReport::default();
        loop {
            let now = now_ms();
            let ids = self.index.collectable_objects(now, BATCH).await?;
            let n = ids.len();
            for id in ids {
                let Some(instances) = self.index.delete_collectable_object(&id, now).await? else {
                    continue;
                };
                report.objects += 1;
                for inst in instances.iter().filter(|i| i.controlled) {
                    let Some(media) = inst
                        .storage_id
                        .as_deref()
                        .and_then(|s| self.media.get_str(s))
                    else {
                        tracing::warn!(object = %id, storage_id = inst.storage_id.as_deref().unwrap_or(""), "a collected object's instance is on a storage backend this node does not know");
                        continue;
                    };
                    if let Err(e) = media.delete(&id).await {
                        // The row is gone: the orphan sweep retries the bytes.
                        tracing::warn!(object = %id, error = %e, "cannot delete the bytes of a collected object");
                    }
                }
            }
            if n < BATCH as usize {
                break;
            }
        }
        report.orphans = self.collect_orphans().await?;
        Ok(report)
    }

    /// Deletes files older than the object timeout that no object row names, on every
    /// storage backend.
    async fn collect_orphans(&self) -> Result<u64> {
        let mut deleted = 0;
        for media in self.media.iter() {
            deleted += self.collect_orphans_on(media).await?;
        }
        Ok(deleted)
    }

    async fn collect_orphans_on(&self, media: &MediaStore) -> Result<u64> {
        let cutoff = SystemTime::now()
            .checked_sub(self.settings.object_timeout)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut files = media.list_objects_older_than(cutoff);
        let mut deleted = 0;
        let mut batch: Vec<String> = Vec::with_capacity(ORPHAN_BATCH);
        loop {
            let next = files.try_next().await.map_err(|e| {
                crate::CoreError::Unavailable(format!("cannot list the media store: {e}"))
            })?;
            let end = next.is_none();
            if let Some(info) = next {
                batch.push(info.object_id);
            }
            if batch.len() >= ORPHAN_BATCH || (end && !batch.is_empty()) {
                let unknown: HashSet<String> = self
                    .index
                    .unknown_objects(&batch)
                    .await?
                    .into_iter()
                    .collect();
                for id in batch.drain(..).filter(|id| unknown.contains(id)) {
                    match media.delete(&id).await {
                        Ok(_) => deleted += 1,
                        Err(e) => {
                            tracing::warn!(object = %id, error = %e, "cannot delete an orphan file")
                        }
                    }
                }
            }
            if end {
                return Ok(deleted);
            }
        }
    }
}

async fn run(store: Arc<Store>, mut shutdown: watch::Receiver<bool>) {
    let interval = store
        .settings
        .worker_interval
        .max(Duration::from_millis(100));
    loop {
        if *shutdown.borrow() {
            return;
        }
        match store.collect_garbage().await {
            Ok(r) if r.objects > 0 || r.orphans > 0 => {
                tracing::info!(
                    objects = r.objects,
                    orphans = r.orphans,
                    "collected media objects"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "garbage collection pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            r = shutdown.changed() => if r.is_err() { return },
        }
    }
}
