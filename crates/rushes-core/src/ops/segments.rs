//! Flow segments: register (one or a list), list by timerange with keyset paging, delete.

use std::collections::HashMap;

use rushes_index::{NewEvent, SegmentRow, SegmentSelection};
use rushes_model::FlowId;
use rushes_time::{TimeRange, Timestamp};

use crate::{now_ms, now_rfc3339, CoreError, Result, Store};

/// Progress of [`Store::purge_segments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeProgress {
    /// Segments deleted by this call.
    pub deleted: u64,
    /// True when no segment of the range is left.
    pub done: bool,
}

/// `range` as half-open integer nanoseconds `[lo, hi)` clamped to the stored domain;
/// `None` when the range is empty.
pub(crate) fn query_bounds(range: TimeRange) -> Option<(i64, i64)> {
    let (s, e) = range.nanos_half_open()?;
    let clamp = |v: i128| {
        i64::try_from(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX))).unwrap_or(i64::MAX)
    };
    Some((s.map_or(i64::MIN, clamp), e.map_or(i64::MAX, clamp)))
}

/// The half-open range `[start, end)` of deleted or added segments, as event text.
pub(crate) fn span_text(first_start: i64, last_end: i64) -> String {
    TimeRange::half_open(
        Timestamp::from_nanos(first_start),
        Timestamp::from_nanos(last_end),
    )
    .to_string()
}

/// Counts the references each object loses when `rows` are deleted (media and init objects).
pub(crate) fn released_refs(rows: &[SegmentRow]) -> HashMap<String, i64> {
    let mut refs: HashMap<String, i64> = HashMap::new();
    for r in rows {
        *refs.entry(r.object_id.clone()).or_default() += 1;
        if let Some(init) = &r.init_object_id {
            *refs.entry(init.clone()).or_default() += 1;
        }
    }
    refs
}

impl Store {
    /// The wall-clock time (ms) at which an object left without references may be collected.
    pub(crate) fn collect_after_grace(&self) -> i64 {
        now_ms()
            .saturating_add(i64::try_from(self.settings.gc_grace.as_millis()).unwrap_or(i64::MAX))
    }

    /// Deletes up to `max_rows` segments of flow `flow_pk` that overlap `range`, in one
    /// transaction that also releases their object references and writes the
    /// `flows/segments_deleted` event. `done` is true when none are left in the range.
    ///
    /// Used by flow deletion (whatever the flow's `read_only` or `deleting` state).
    pub async fn purge_segments(
        &self,
        flow_pk: i64,
        flow_id: &FlowId,
        range: TimeRange,
        max_rows: u32,
    ) -> Result<PurgeProgress> {
        let Some((lo, hi)) = query_bounds(range) else {
            return Ok(PurgeProgress {
                deleted: 0,
                done: true,
            });
        };
        let sel = SegmentSelection {
            lo,
            hi,
            covered: false,
            object_id: None,
        };
        let flow_text = flow_id.to_string();
        let mut w = self.index.segment_writer().await?;
        let Some(flow) = w.flow(&flow_text).await? else {
            return Ok(PurgeProgress {
                deleted: 0,
                done: true,
            });
        };
        if flow.pk != flow_pk {
            return Err(CoreError::Internal(format!(
                "flow {flow_id} has pk {}, not {flow_pk}",
                flow.pk
            )));
        }
        let max_rows = max_rows.max(1);
        let rows = w
            .delete_segments(flow_pk, flow.max_segment_ns, &sel, max_rows)
            .await?;
        let deleted = rows.len() as u64;
        if let (Some(first), Some(last)) = (rows.first(), rows.iter().map(|r| r.end_ns).max()) {
            w.release_objects(&released_refs(&rows), self.collect_after_grace())
                .await?;
            let now = now_rfc3339();
            w.touch_flow(flow_pk, 0, &now).await?;
            let payload = serde_json::json!({ "flow_id": flow_text, "timerange": span_text(first.start_ns, last) });
            w.insert_event(&NewEvent {
                event_type: "flows/segments_deleted",
                flow_id: Some(&flow_text),
                source_id: Some(&flow.source_id),
                timestamp: &now,
                payload: &payload,
            })
            .await?;
        }
        w.commit().await?;
        Ok(PurgeProgress {
            deleted,
            done: deleted < u64::from(max_rows),
        })
    }
}
