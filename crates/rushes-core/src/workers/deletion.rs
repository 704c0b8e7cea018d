//! The deletion worker: claims flow deletion requests under a lease and completes them
//! in batches, so that several nodes can share the work and a crash loses nothing.

use std::sync::Arc;

use rushes_model::{DeletionRequest, DeletionStatus, ErrorBody, FlowId, TimeRange};
use tokio::sync::watch;

use crate::ops::deletion::{rfc3339_of_ms, DELETION_REQUEST_TTL_MS, PURGE_BATCH};
use crate::ops::listing::{from_doc, to_doc};
use crate::{now_ms, now_rfc3339, Result, Store};

/// Runs until `shutdown` turns true: completes deletion requests, then waits
/// `worker_interval` when there is nothing to do.
pub async fn run(store: Arc<Store>, mut shutdown: watch::Receiver<bool>) {
    let owner = format!("deletion-{}", uuid::Uuid::new_v4());
    loop {
        if *shutdown.borrow() {
            return;
        }
        let busy = match store.deletion_step(&owner).await {
            Ok(busy) => busy,
            Err(e) => {
                tracing::warn!(error = %e, "deletion worker step failed");
                false
            }
        };
        if !busy {
            tokio::select! {
                _ = tokio::time::sleep(store.settings.worker_interval) => {}
                _ = shutdown.changed() => {}
            }
        } else {
            tokio::task::yield_now().await;
        }
    }
}

impl Store {
    /// Claims one deletion request and deletes one batch of its Segments (or, when none
    /// are left, the Flow). Returns true when it found work.
    pub async fn deletion_step(&self, owner: &str) -> Result<bool> {
        let now = now_ms();
        let lease_ms = i64::try_from(self.settings.work_lease.as_millis()).unwrap_or(i64::MAX);
        let claimant = owner.to_owned();
        let claimed = self
            .index
            .write(move |tx| {
                tx.delete_expired_deletions(now)?;
                tx.claim_deletion(&claimant, now, now.saturating_add(lease_ms))
            })
            .await?;
        let Some(claim) = claimed else {
            return Ok(false);
        };
        let mut request: DeletionRequest = from_doc("deletion request", &claim.doc)?;
        let result = self.advance_deletion(&mut request).await;
        let finished = match result {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(request = %request.id, error = %e, "flow deletion failed; will retry");
                request.error = Some(ErrorBody::new(
                    "DeletionFailed",
                    e.to_string(),
                    now_rfc3339(),
                ));
                false
            }
        };
        request.updated = Some(now_rfc3339());
        let mut expiry_ms = None;
        if finished {
            let expiry = now_ms().saturating_add(DELETION_REQUEST_TTL_MS);
            request.status = DeletionStatus::Done;
            request.error = None;
            request.timerange_remaining = Some(TimeRange::Never);
            request.expiry = Some(rfc3339_of_ms(expiry));
            expiry_ms = Some(expiry);
        } else {
            request.status = DeletionStatus::Started;
        }
        let doc = to_doc("deletion request", &request)?;
        // Finished: release the lease. Otherwise let it lapse now so that the next step (of
        // any worker) takes the next batch, or after an error only once the interval passed.
        let lease = if finished {
            None
        } else if request.error.is_some() {
            Some(now_ms().saturating_add(
                i64::try_from(self.settings.worker_interval.as_millis()).unwrap_or(lease_ms),
            ))
        } else {
            Some(now_ms())
        };
        let (pk, claimant, status) = (claim.pk, owner.to_owned(), request.status);
        self.index
            .write(move |tx| {
                tx.update_deletion(pk, &claimant, status.as_str(), &doc, lease, expiry_ms)
            })
            .await?;
        Ok(true)
    }

    /// One batch of a request: purge Segments, or remove the Flow once none are left.
    /// True when the request is complete.
    async fn advance_deletion(&self, request: &mut DeletionRequest) -> Result<bool> {
        let id: FlowId = request.flow_id;
        let Some(row) = self.index.get_flow(&id.to_string()).await? else {
            return Ok(true);
        };
        let progress = self
            .purge_segments(row.pk, &id, request.timerange_to_delete, PURGE_BATCH)
            .await?;
        if !progress.done {
            request.timerange_remaining = Some(self.remaining_timerange(&row).await?);
            return Ok(false);
        }
        if request.delete_flow && !self.remove_flow_row(&row).await? {
            // A segment appeared between the purge and the removal: go round again.
            return Ok(false);
        }
        Ok(true)
    }
}
