//! Flow deletion: at once for small Flows, otherwise through a deletion request that the
//! deletion worker completes; and the deletion requests themselves.

use rushes_index::{DeletionSort, FlowRow, NewDeletion, SourceIfOrphan};
use rushes_model::{
    DeletionRequest, DeletionRequestId, DeletionStatus, FlowId, TimeRange, Timestamp,
};
use serde_json::{json, Map};

use super::listing::{from_doc, page_key, to_doc, Listing, Paging};
use super::sources::Event;
use crate::classes::is_anonymous;
use crate::{now_ms, now_rfc3339, CoreError, Permission, Principal, Result, Store};

/// A Flow with at most this many Segments is deleted within the request.
pub const DELETE_AT_ONCE_MAX_SEGMENTS: u32 = 1000;
/// Segments deleted per transaction by flow deletion.
pub const PURGE_BATCH: u32 = 1000;
/// How long a finished deletion request stays visible.
pub const DELETION_REQUEST_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// What `DELETE /flows/{id}` did.
#[derive(Debug, Clone)]
pub enum DeleteFlowOutcome {
    /// The Flow is gone (204).
    Deleted,
    /// Deletion continues in the background (202 with the request).
    Accepted(Box<DeletionRequest>),
}

/// How `GET /flow-delete-requests` is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeletionOrder {
    /// Most recent first (the default).
    #[default]
    Created,
    /// Latest expiry first; requests without one last.
    Expiry,
}

pub(crate) fn rfc3339_of_ms(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(now_rfc3339)
}

impl Store {
    /// The Flow's remaining timerange (`()` when it has no Segments).
    pub(crate) async fn remaining_timerange(&self, row: &FlowRow) -> Result<TimeRange> {
        Ok(
            match self
                .index
                .flow_timerange(row.pk, row.max_segment_ns, None)
                .await?
            {
                Some((s, e)) => {
                    TimeRange::half_open(Timestamp::from_nanos(s), Timestamp::from_nanos(e))
                }
                None => TimeRange::Never,
            },
        )
    }

    /// Deletes the row of a Flow that has no Segments left, with its Source if no other
    /// Flow uses it, writing `flows/deleted` (and `sources/deleted`). False when Segments remain.
    pub(crate) async fn remove_flow_row(&self, row: &FlowRow) -> Result<bool> {
        let now = now_rfc3339();
        let flow_deleted = Event {
            event_type: "flows/deleted",
            flow_id: Some(row.id.clone()),
            source_id: Some(row.source_id.clone()),
            timestamp: now.clone(),
            payload: json!({ "flow_id": row.id }),
        };
        let source_deleted = Event {
            event_type: "sources/deleted",
            flow_id: None,
            source_id: Some(row.source_id.clone()),
            timestamp: now,
            payload: json!({ "source_id": row.source_id }),
        };
        let (pk, source_id) = (row.pk, row.source_id.clone());
        Ok(self
            .index
            .write(move |tx| {
                let source = SourceIfOrphan {
                    source_id: &source_id,
                    deleted_event: source_deleted.new_event(),
                };
                tx.delete_flow_row(pk, &source, &flow_deleted.new_event())
            })
            .await?)
    }

    /// `DELETE /flows/{id}`: a Flow with few Segments is deleted at once; a larger one is
    /// marked as deleting (it refuses new Segments) and handed to the deletion worker.
    /// Needs delete on the Flow; the request records who asked for it.
    pub async fn delete_flow(
        &self,
        principal: &Principal,
        id: FlowId,
    ) -> Result<DeleteFlowOutcome> {
        let fid = id.to_string();
        let (row, _) = self.flow_checked(principal, id, Permission::Delete).await?;
        if row.read_only {
            return Err(CoreError::Forbidden(format!("flow {id} is read-only")));
        }
        if let Some(pending) = self.index.pending_deletion_for_flow(&fid).await? {
            return Ok(DeleteFlowOutcome::Accepted(Box::new(from_doc(
                "deletion request",
                &pending.doc,
            )?)));
        }
        let pk = row.pk;
        self.index.write(move |tx| tx.set_flow_deleting(pk)).await?;
        let count = self
            .index
            .count_segments_capped(row.pk, DELETE_AT_ONCE_MAX_SEGMENTS + 1)
            .await?;
        if count <= u64::from(DELETE_AT_ONCE_MAX_SEGMENTS) {
            let progress = self
                .purge_segments(
                    row.pk,
                    &id,
                    TimeRange::ETERNITY,
                    DELETE_AT_ONCE_MAX_SEGMENTS,
                )
                .await?;
            if progress.done && self.remove_flow_row(&row).await? {
                return Ok(DeleteFlowOutcome::Deleted);
            }
        }
        let remaining = self.remaining_timerange(&row).await?;
        let now = now_rfc3339();
        let request = DeletionRequest {
            id: DeletionRequestId::new_random(),
            flow_id: id,
            timerange_to_delete: TimeRange::ETERNITY,
            timerange_remaining: Some(remaining),
            delete_flow: true,
            created: Some(now.clone()),
            created_by: (!is_anonymous(principal)).then(|| principal.name.clone()),
            updated: Some(now),
            expiry: None,
            status: DeletionStatus::Created,
            error: None,
            extra: Map::new(),
        };
        let doc = to_doc("deletion request", &request)?;
        let (rid, status, created_ms) = (request.id.to_string(), request.status, now_ms());
        self.index
            .write(move |tx| {
                tx.insert_deletion(&NewDeletion {
                    id: &rid,
                    flow_id: &fid,
                    flow_pk: pk,
                    status: status.as_str(),
                    doc: &doc,
                    created_ms,
                    expiry_ms: None,
                })
            })
            .await?;
        Ok(DeleteFlowOutcome::Accepted(Box::new(request)))
    }

    /// `GET /flow-delete-requests/{id}`; any text that is not a known request is not found,
    /// nor is a request of a Flow `principal`'s auth classes did not let it see.
    pub async fn get_deletion_request(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<DeletionRequest> {
        let not_found = || CoreError::NotFound(format!("no flow delete request {id:?}"));
        let row = if principal.is_class_limited() {
            let (row, classes) = self
                .index
                .get_deletion_with_classes(id)
                .await?
                .ok_or_else(not_found)?;
            self.check_classes(principal, &classes, Permission::Read, not_found)?;
            row
        } else {
            self.index.get_deletion(id).await?.ok_or_else(not_found)?
        };
        from_doc("deletion request", &row.doc)
    }

    /// `GET /flow-delete-requests`.
    pub async fn list_deletion_requests(
        &self,
        principal: &Principal,
        order: DeletionOrder,
        reverse: bool,
        paging: &Paging,
    ) -> Result<Listing<DeletionRequest>> {
        let sort = match order {
            DeletionOrder::Created => DeletionSort::Created,
            DeletionOrder::Expiry => DeletionSort::Expiry,
        };
        let page = self
            .index
            .list_deletions(
                sort,
                reverse,
                page_key(paging)?.as_ref(),
                paging.limit.max(1),
                self.visible_to(principal).as_deref(),
            )
            .await?;
        let items = page
            .items
            .iter()
            .map(|r| from_doc("deletion request", &r.doc))
            .collect::<Result<Vec<_>>>()?;
        Ok(Listing {
            items,
            next_page: page.next.map(|k| k.to_string()),
        })
    }
}
