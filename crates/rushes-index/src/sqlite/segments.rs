//! Segments: the hot path. Reads by overlap with a timerange (keyset by `start_ns`) and a
//! write transaction ([`SegmentWriter`]) that registers or deletes segments together with
//! the object reference counts, the flow's derived columns and the outbox rows.
//!
//! Every overlap query is bounded by the flow's `max_segment_ns` so that it walks the
//! `(flow_pk, start_ns)` primary key from just before the range it returns.

use std::collections::HashMap;

use sqlx::{Row, Sqlite, Transaction};

use crate::sqlite::events::{insert_event, NewEvent};
use crate::{Index, IndexError, Result};

/// What the segment operations need to know about a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFlow {
    pub pk: i64,
    pub id: String,
    pub source_id: String,
    pub read_only: bool,
    pub deleting: bool,
    /// Longest segment ever registered in the flow, in nanoseconds.
    pub max_segment_ns: i64,
    /// The flow's `container` (MIME type of its media objects), if set.
    pub container: Option<String>,
}

/// One stored segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    pub start_ns: i64,
    /// Exclusive.
    pub end_ns: i64,
    pub object_id: String,
    pub init_object_id: Option<String>,
    /// The segment's other fields as registered (JSON object).
    pub doc: String,
}

/// Which segments of a flow a query or a deletion applies to: those overlapping (or, with
/// `covered`, lying entirely inside) the half-open nanosecond range `[lo, hi)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSelection<'a> {
    pub lo: i64,
    pub hi: i64,
    /// Only segments entirely inside `[lo, hi)`, rather than overlapping it.
    pub covered: bool,
    /// Only segments of this object.
    pub object_id: Option<&'a str>,
}

impl SegmentSelection<'_> {
    /// The lowest `start_ns` a selected segment can have, given the flow's longest segment.
    fn start_floor(&self, max_segment_ns: i64) -> i64 {
        if self.covered {
            self.lo
        } else {
            self.lo.saturating_sub(max_segment_ns)
        }
    }

    /// The bound on `end_ns`: `end_ns > lo` for overlap, `end_ns <= hi` for covered.
    fn end_test(&self) -> (&'static str, i64) {
        if self.covered {
            ("end_ns <= ?", self.hi)
        } else {
            ("end_ns > ?", self.lo)
        }
    }
}

/// A page request over a flow's segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPage<'a> {
    pub selection: SegmentSelection<'a>,
    /// Keyset position: forward, only `start_ns >= after`; reverse, only `start_ns < after`.
    pub position: Option<i64>,
    pub reverse: bool,
    pub limit: u32,
}

/// A segment to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSegment {
    pub start_ns: i64,
    pub end_ns: i64,
    pub object_id: String,
    pub init_object_id: Option<String>,
    pub doc: String,
}

fn segment_row(r: &sqlx::sqlite::SqliteRow) -> Result<SegmentRow> {
    Ok(SegmentRow {
        start_ns: r.try_get(0)?,
        end_ns: r.try_get(1)?,
        object_id: r.try_get(2)?,
        init_object_id: r.try_get(3)?,
        doc: r.try_get(4)?,
    })
}

const FLOW_SQL: &str = "SELECT pk, id, source_id, read_only, deleting, max_segment_ns, \
     json_extract(doc, '$.container') FROM flows WHERE id = ?";

fn flow_row(r: &sqlx::sqlite::SqliteRow) -> Result<SegmentFlow> {
    // A non-text container would be a damaged document; treat it as unset.
    let container: Option<String> = r.try_get::<Option<String>, _>(6).unwrap_or_default();
    Ok(SegmentFlow {
        pk: r.try_get(0)?,
        id: r.try_get(1)?,
        source_id: r.try_get(2)?,
        read_only: r.try_get::<i64, _>(3)? != 0,
        deleting: r.try_get::<i64, _>(4)? != 0,
        max_segment_ns: r.try_get(5)?,
        container,
    })
}

impl Index {
    /// The flow `flow_id` as the segment operations see it.
    pub async fn segment_flow(&self, flow_id: &str) -> Result<Option<SegmentFlow>> {
        let row = sqlx::query(FLOW_SQL)
            .bind(flow_id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(flow_row).transpose()
    }

    /// One page of a flow's segments in timeline order (or reversed), at most `limit + 1`
    /// rows so that the caller can tell whether a next page exists.
    pub async fn segment_page(
        &self,
        flow_pk: i64,
        max_segment_ns: i64,
        page: &SegmentPage<'_>,
    ) -> Result<Vec<SegmentRow>> {
        let sel = &page.selection;
        let (end_test, end_val) = sel.end_test();
        let mut floor = sel.start_floor(max_segment_ns);
        let mut ceil = sel.hi;
        match (page.position, page.reverse) {
            (Some(p), false) => floor = floor.max(p),
            (Some(p), true) => ceil = ceil.min(p),
            (None, _) => {}
        }
        let order = if page.reverse { "DESC" } else { "ASC" };
        let object = if sel.object_id.is_some() {
            " AND object_id = ?"
        } else {
            ""
        };
        let sql = format!(
            "SELECT start_ns, end_ns, object_id, init_object_id, doc FROM segments \
             WHERE flow_pk = ? AND start_ns >= ? AND start_ns < ? AND {end_test}{object} \
             ORDER BY start_ns {order} LIMIT ?"
        );
        let mut q = sqlx::query(&sql)
            .bind(flow_pk)
            .bind(floor)
            .bind(ceil)
            .bind(end_val);
        if let Some(o) = sel.object_id {
            q = q.bind(o);
        }
        let rows = q
            .bind(i64::from(page.limit) + 1)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(segment_row).collect()
    }

    /// The flow's timeline extent `[first start, last end)` from two primary-key lookups;
    /// `None` when it has no segments.
    pub async fn segments_extent(&self, flow_pk: i64) -> Result<Option<(i64, i64)>> {
        let first: Option<i64> = sqlx::query_scalar(
            "SELECT start_ns FROM segments WHERE flow_pk = ? ORDER BY start_ns ASC LIMIT 1",
        )
        .bind(flow_pk)
        .fetch_optional(self.reader())
        .await?;
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT end_ns FROM segments WHERE flow_pk = ? ORDER BY start_ns DESC LIMIT 1",
        )
        .bind(flow_pk)
        .fetch_optional(self.reader())
        .await?;
        Ok(first.zip(last))
    }

    /// Opens a write transaction for segment registration or deletion. Writes are
    /// serialised on the one writer connection; drop without `commit` to roll back.
    pub async fn segment_writer(&self) -> Result<SegmentWriter> {
        Ok(SegmentWriter {
            tx: self.writer().begin().await?,
        })
    }
}

/// A write transaction over segments, objects' reference counts and the outbox.
#[derive(Debug)]
pub struct SegmentWriter {
    pub(crate) tx: Transaction<'static, Sqlite>,
}

impl SegmentWriter {
    /// The flow `flow_id`, read inside the transaction.
    pub async fn flow(&mut self, flow_id: &str) -> Result<Option<SegmentFlow>> {
        let row = sqlx::query(FLOW_SQL)
            .bind(flow_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(flow_row).transpose()
    }

    /// `(start_ns, end_ns)` of the segments overlapping `[lo, hi)`, in timeline order, at most `limit`.
    pub async fn overlapping(
        &mut self,
        flow_pk: i64,
        max_segment_ns: i64,
        lo: i64,
        hi: i64,
        limit: u32,
    ) -> Result<Vec<(i64, i64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT start_ns, end_ns FROM segments WHERE flow_pk = ? AND start_ns >= ? AND start_ns < ? AND end_ns > ? \
             ORDER BY start_ns LIMIT ?",
        )
        .bind(flow_pk)
        .bind(lo.saturating_sub(max_segment_ns))
        .bind(hi)
        .bind(lo)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows)
    }

    /// Inserts `segments` in one statement. A segment starting where another starts is a
    /// [`IndexError::Conflict`]; callers check overlaps first.
    pub async fn insert_segments(&mut self, flow_pk: i64, segments: &[NewSegment]) -> Result<()> {
        if segments.is_empty() {
            return Ok(());
        }
        let rows: Vec<serde_json::Value> = segments
            .iter()
            .map(|s| {
                serde_json::json!([s.start_ns, s.end_ns, s.object_id, s.init_object_id, s.doc])
            })
            .collect();
        sqlx::query(
            "INSERT INTO segments (flow_pk, start_ns, end_ns, object_id, init_object_id, doc) \
             SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
                    json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?)",
        )
        .bind(flow_pk)
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| crate::error::conflict_on_unique(e, || "a segment already starts at that timestamp".to_owned()))?;
        Ok(())
    }

    /// Deletes up to `max_rows` segments of the selection in timeline order and returns them.
    pub async fn delete_segments(
        &mut self,
        flow_pk: i64,
        max_segment_ns: i64,
        sel: &SegmentSelection<'_>,
        max_rows: u32,
    ) -> Result<Vec<SegmentRow>> {
        let (end_test, end_val) = sel.end_test();
        let object = if sel.object_id.is_some() {
            " AND object_id = ?"
        } else {
            ""
        };
        let sql = format!(
            "DELETE FROM segments WHERE flow_pk = ? AND start_ns IN (\
                 SELECT start_ns FROM segments WHERE flow_pk = ? AND start_ns >= ? AND start_ns < ? AND {end_test}{object} \
                 ORDER BY start_ns LIMIT ?) \
             RETURNING start_ns, end_ns, object_id, init_object_id, doc"
        );
        let mut q = sqlx::query(&sql)
            .bind(flow_pk)
            .bind(flow_pk)
            .bind(sel.start_floor(max_segment_ns))
            .bind(sel.hi)
            .bind(end_val);
        if let Some(o) = sel.object_id {
            q = q.bind(o);
        }
        let rows = q.bind(i64::from(max_rows)).fetch_all(&mut *self.tx).await?;
        let mut out = rows.iter().map(segment_row).collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|r| r.start_ns);
        Ok(out)
    }

    /// Drops `n` references from each object; an object left with none becomes collectable
    /// at `collect_after_ms`.
    pub async fn release_objects(
        &mut self,
        refs: &HashMap<String, i64>,
        collect_after_ms: i64,
    ) -> Result<()> {
        if refs.is_empty() {
            return Ok(());
        }
        let list: Vec<serde_json::Value> = refs
            .iter()
            .map(|(id, n)| serde_json::json!([id, n]))
            .collect();
        sqlx::query(
            "UPDATE objects SET ref_count = max(objects.ref_count - d.n, 0), \
                 collect_after_ms = CASE WHEN objects.ref_count - d.n <= 0 THEN ? ELSE objects.collect_after_ms END \
             FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS n FROM json_each(?)) AS d \
             WHERE objects.id = d.id",
        )
        .bind(collect_after_ms)
        .bind(serde_json::Value::Array(list).to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Records a change of the flow's segments: `segments_updated`, and `max_segment_ns`
    /// raised to at least `longest_ns`.
    pub async fn touch_flow(
        &mut self,
        flow_pk: i64,
        longest_ns: i64,
        segments_updated: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE flows SET max_segment_ns = max(max_segment_ns, ?), segments_updated = ? WHERE pk = ?")
            .bind(longest_ns)
            .bind(segments_updated)
            .bind(flow_pk)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Appends an outbox event in this transaction.
    pub async fn insert_event(&mut self, ev: &NewEvent<'_>) -> Result<()> {
        insert_event(&mut self.tx, ev).await
    }

    /// Commits every change made through this writer.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(IndexError::from)
    }
}
