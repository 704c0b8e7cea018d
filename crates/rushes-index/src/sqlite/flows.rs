//! Flows: rows, create/replace with their collection members and implicit Sources,
//! listings, timeranges from the segment index, and removal of the Flow row.

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::events::{insert_event, NewEvent};
use super::listing::{paginate, push_list, push_tag_filters, Page, PageKey, TagFilter};
use super::sources::{delete_source_if_orphan, insert_source_if_new, order, ListSpec, NewSource};
use crate::error::conflict_on_unique;
use crate::{Index, IndexError, Result};

/// A stored Flow. `doc` is the Flow JSON as last written, without derived fields.
#[derive(Debug, Clone)]
pub struct FlowRow {
    pub pk: i64,
    pub id: String,
    pub source_id: String,
    pub format: String,
    pub read_only: bool,
    pub deleting: bool,
    pub doc: String,
    pub max_segment_ns: i64,
    pub segments_updated: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The columns of a Flow to write; everything listings filter on, and the document.
#[derive(Debug, Clone)]
pub struct FlowWrite<'a> {
    pub id: &'a str,
    pub source_id: &'a str,
    pub format: &'a str,
    pub codec: Option<&'a str>,
    pub label: Option<&'a str>,
    pub frame_width: Option<i64>,
    pub frame_height: Option<i64>,
    pub read_only: bool,
    pub profile_id: Option<&'a str>,
    pub status: Option<&'a str>,
    pub init_segments: bool,
    pub doc: &'a str,
    pub now_ms: i64,
    /// The Flow collection: (member flow id, role or empty), in order.
    pub members: &'a [(String, String)],
}

/// A Source to create with the write if it does not exist, and the event to write if so.
#[derive(Debug, Clone)]
pub struct SourceIfNew<'a> {
    pub source: NewSource<'a>,
    pub created_event: NewEvent<'a>,
}

/// A Source to delete with the write if no Flow refers to it any more, and its event.
#[derive(Debug, Clone)]
pub struct SourceIfOrphan<'a> {
    pub source_id: &'a str,
    pub deleted_event: NewEvent<'a>,
}

/// A timerange filter on Flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFilter {
    /// Flows with no Segments (the empty timerange).
    NoContent,
    /// Flows whose timerange overlaps `[start, end)`; `None` is unbounded.
    Overlaps {
        start: Option<i64>,
        end: Option<i64>,
    },
}

/// Filters of `GET /flows`.
#[derive(Debug, Clone, Default)]
pub struct FlowFilter {
    pub source_id: Option<String>,
    pub timerange: Option<TimeFilter>,
    pub format: Option<String>,
    pub codec: Option<String>,
    pub profile_id: Option<String>,
    pub label: Option<String>,
    pub status: Option<String>,
    pub tags: Vec<TagFilter>,
    pub frame_width: Option<i64>,
    pub frame_height: Option<i64>,
    pub init_segments: Option<bool>,
    /// `Some(empty)`: only Flows no Flow collects.
    pub collected_by: Option<Vec<String>>,
}

const FLOW_COLS: &str =
    "f.pk, f.id, f.source_id, f.format, f.read_only, f.deleting, f.doc, f.max_segment_ns, \
                         f.segments_updated, f.created_ms, f.updated_ms";

fn flow_row(r: &sqlx::sqlite::SqliteRow) -> Result<FlowRow> {
    Ok(FlowRow {
        pk: r.try_get("pk")?,
        id: r.try_get("id")?,
        source_id: r.try_get("source_id")?,
        format: r.try_get("format")?,
        read_only: r.try_get::<i64, _>("read_only")? != 0,
        deleting: r.try_get::<i64, _>("deleting")? != 0,
        doc: r.try_get("doc")?,
        max_segment_ns: r.try_get("max_segment_ns")?,
        segments_updated: r.try_get("segments_updated")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

async fn replace_members(
    conn: &mut SqliteConnection,
    pk: i64,
    members: &[(String, String)],
) -> Result<()> {
    sqlx::query("DELETE FROM flow_collection_members WHERE parent_pk = ?")
        .bind(pk)
        .execute(&mut *conn)
        .await?;
    for (position, (member, role)) in members.iter().enumerate() {
        sqlx::query("INSERT INTO flow_collection_members (parent_pk, member_id, role, position) VALUES (?, ?, ?, ?)")
            .bind(pk)
            .bind(member)
            .bind(role)
            .bind(position as i64)
            .execute(&mut *conn)
            .await
            .map_err(|e| conflict_on_unique(e, || format!("flow {member} appears twice in the flow collection")))?;
    }
    Ok(())
}

async fn write_events(conn: &mut SqliteConnection, events: &[NewEvent<'_>]) -> Result<()> {
    for ev in events {
        insert_event(conn, ev).await?;
    }
    Ok(())
}

impl Index {
    /// The Flow with id `id`, if any.
    pub async fn get_flow(&self, id: &str) -> Result<Option<FlowRow>> {
        let row = sqlx::query(&format!("SELECT {FLOW_COLS} FROM flows f WHERE f.id = ?"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(flow_row).transpose()
    }

    /// Creates a Flow (and its Source, if new) with `events`. Returns whether the Source
    /// was created. A Flow with the same id is a conflict.
    pub async fn create_flow(
        &self,
        w: &FlowWrite<'_>,
        source: &SourceIfNew<'_>,
        events: &[NewEvent<'_>],
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let created_source = insert_source_if_new(&mut tx, &source.source).await?;
        if created_source {
            insert_event(&mut tx, &source.created_event).await?;
        }
        let pk: i64 = sqlx::query_scalar(
            "INSERT INTO flows (id, source_id, format, codec, label, frame_width, frame_height, read_only, doc, \
             profile_id, status, init_segments, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             RETURNING pk",
        )
        .bind(w.id)
        .bind(w.source_id)
        .bind(w.format)
        .bind(w.codec)
        .bind(w.label)
        .bind(w.frame_width)
        .bind(w.frame_height)
        .bind(w.read_only)
        .bind(w.doc)
        .bind(w.profile_id)
        .bind(w.status)
        .bind(w.init_segments)
        .bind(w.now_ms)
        .bind(w.now_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, || format!("flow {} already exists", w.id)))?;
        replace_members(&mut tx, pk, w.members).await?;
        write_events(&mut tx, events).await?;
        tx.commit().await?;
        Ok(created_source)
    }

    /// Replaces Flow `pk` if its document is still `expected_doc` (compare-and-swap):
    /// columns, document and collection members, creating `new_source` and deleting an
    /// orphaned old Source as given, with `events`. Returns false (nothing written) when
    /// the Flow is gone or was changed meanwhile.
    pub async fn update_flow(
        &self,
        pk: i64,
        expected_doc: &str,
        w: &FlowWrite<'_>,
        new_source: Option<&SourceIfNew<'_>>,
        old_source: Option<&SourceIfOrphan<'_>>,
        events: &[NewEvent<'_>],
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(
            "UPDATE flows SET source_id = ?, format = ?, codec = ?, label = ?, frame_width = ?, frame_height = ?, \
             read_only = ?, doc = ?, profile_id = ?, status = ?, init_segments = ?, updated_ms = ? \
             WHERE pk = ? AND doc = ?",
        )
        .bind(w.source_id)
        .bind(w.format)
        .bind(w.codec)
        .bind(w.label)
        .bind(w.frame_width)
        .bind(w.frame_height)
        .bind(w.read_only)
        .bind(w.doc)
        .bind(w.profile_id)
        .bind(w.status)
        .bind(w.init_segments)
        .bind(w.now_ms)
        .bind(pk)
        .bind(expected_doc);
        // The new Source must exist before the Flow refers to it.
        if let Some(s) = new_source {
            if insert_source_if_new(&mut tx, &s.source).await? {
                insert_event(&mut tx, &s.created_event).await?;
            }
        }
        if done.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(false);
        }
        replace_members(&mut tx, pk, w.members).await?;
        if let Some(o) = old_source {
            if delete_source_if_orphan(&mut tx, o.source_id).await? {
                insert_event(&mut tx, &o.deleted_event).await?;
            }
        }
        write_events(&mut tx, events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The Flow's timerange as half-open nanoseconds: the start of its first Segment and
    /// the end of its last, from two primary-key lookups. With `within`, only Segments
    /// overlapping `[start, end)` count. `None` when there are none.
    pub async fn flow_timerange(
        &self,
        pk: i64,
        max_segment_ns: i64,
        within: Option<(Option<i64>, Option<i64>)>,
    ) -> Result<Option<(i64, i64)>> {
        let (qs, qe) = within.unwrap_or((None, None));
        let qe = qe.unwrap_or(i64::MAX);
        // Segments overlapping [qs, qe) start at or after qs - max_segment_ns.
        let (qs, lower) = match qs {
            Some(qs) => (qs, qs.saturating_sub(max_segment_ns)),
            None => (i64::MIN, i64::MIN),
        };
        let first: Option<i64> = sqlx::query_scalar(
            "SELECT start_ns FROM segments WHERE flow_pk = ? AND start_ns < ? AND start_ns >= ? AND end_ns > ? \
             ORDER BY start_ns ASC LIMIT 1",
        )
        .bind(pk)
        .bind(qe)
        .bind(lower)
        .bind(qs)
        .fetch_optional(self.reader())
        .await?;
        let Some(first) = first else { return Ok(None) };
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT end_ns FROM segments WHERE flow_pk = ? AND start_ns < ? ORDER BY start_ns DESC LIMIT 1",
        )
        .bind(pk)
        .bind(qe)
        .fetch_optional(self.reader())
        .await?;
        Ok(last.filter(|&e| e > qs).map(|e| (first, e)))
    }

    /// The ids of the Flows whose collection holds Flow `id`.
    pub async fn flow_collected_by(&self, id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar(
            "SELECT p.id FROM flow_collection_members m JOIN flows p ON p.pk = m.parent_pk WHERE m.member_id = ? ORDER BY p.pk",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        Ok(rows)
    }

    /// One page of Flows matching `filter`.
    pub async fn list_flows(&self, filter: &FlowFilter, spec: &ListSpec) -> Result<Page<FlowRow>> {
        let order = order("f", spec.sort, spec.reverse);
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(format!("SELECT {FLOW_COLS}"));
        order.push_select(&mut qb);
        qb.push(" FROM flows f WHERE 1=1");
        let eq = |qb: &mut QueryBuilder<'_, Sqlite>, col: &str, v: &Option<String>| {
            if let Some(v) = v {
                qb.push(format!(" AND {col} = ")).push_bind(v.clone());
            }
        };
        eq(&mut qb, "f.source_id", &filter.source_id);
        eq(&mut qb, "f.format", &filter.format);
        eq(&mut qb, "f.codec", &filter.codec);
        eq(&mut qb, "f.profile_id", &filter.profile_id);
        eq(&mut qb, "f.label", &filter.label);
        eq(&mut qb, "f.status", &filter.status);
        if let Some(w) = filter.frame_width {
            qb.push(" AND f.frame_width = ").push_bind(w);
        }
        if let Some(h) = filter.frame_height {
            qb.push(" AND f.frame_height = ").push_bind(h);
        }
        if let Some(i) = filter.init_segments {
            qb.push(" AND f.init_segments = ").push_bind(i);
        }
        push_tag_filters(&mut qb, "f.doc", &filter.tags);
        match filter.timerange {
            None => {}
            Some(TimeFilter::NoContent) => {
                qb.push(" AND NOT EXISTS (SELECT 1 FROM segments sg WHERE sg.flow_pk = f.pk)");
            }
            Some(TimeFilter::Overlaps { start, end }) => {
                qb.push(" AND EXISTS (SELECT 1 FROM segments sg WHERE sg.flow_pk = f.pk)");
                if let Some(end) = end {
                    qb.push(" AND (SELECT sg.start_ns FROM segments sg WHERE sg.flow_pk = f.pk ORDER BY sg.start_ns ASC LIMIT 1) < ")
                        .push_bind(end);
                }
                if let Some(start) = start {
                    qb.push(" AND (SELECT sg.end_ns FROM segments sg WHERE sg.flow_pk = f.pk ORDER BY sg.start_ns DESC LIMIT 1) > ")
                        .push_bind(start);
                }
            }
        }
        match &filter.collected_by {
            None => {}
            Some(ids) if ids.is_empty() => {
                qb.push(" AND NOT EXISTS (SELECT 1 FROM flow_collection_members m WHERE m.member_id = f.id)");
            }
            Some(ids) => {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM flow_collection_members m JOIN flows p ON p.pk = m.parent_pk \
                     WHERE m.member_id = f.id AND p.id IN (",
                );
                push_list(&mut qb, ids);
                qb.push("))");
            }
        }
        order.push_after(&mut qb, spec.after.as_ref());
        order.push_order_limit(&mut qb, spec.limit);
        let rows = qb.build().fetch_all(self.reader()).await?;
        let rows = rows
            .iter()
            .map(|r| {
                let row = flow_row(r)?;
                let key = PageKey {
                    k1: r.try_get("k1")?,
                    k2: r.try_get("k2")?,
                    pk: row.pk,
                };
                Ok((row, key))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(rows, spec.limit))
    }

    /// How many Segments Flow `pk` has, counting no further than `cap`.
    pub async fn count_segments_capped(&self, pk: i64, cap: u32) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM segments WHERE flow_pk = ? LIMIT ?)",
        )
        .bind(pk)
        .bind(i64::from(cap))
        .fetch_one(self.reader())
        .await?;
        Ok(n.max(0) as u64)
    }

    /// Marks Flow `pk` as being deleted (it refuses new Segments from now on).
    pub async fn set_flow_deleting(&self, pk: i64) -> Result<()> {
        let done = sqlx::query("UPDATE flows SET deleting = 1 WHERE pk = ?")
            .bind(pk)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(IndexError::NotFound(format!("flow pk {pk}")));
        }
        Ok(())
    }

    /// Deletes the row of Flow `pk` once it has no Segments left, with its collection
    /// members and, if no other Flow refers to it, its Source. Writes `flow_deleted` (and
    /// `source.deleted_event` when the Source goes) in the same transaction. Returns false
    /// when Segments remain (nothing is deleted) and true when the Flow is gone.
    pub async fn delete_flow_row(
        &self,
        pk: i64,
        source: &SourceIfOrphan<'_>,
        flow_deleted: &NewEvent<'_>,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let remaining: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM segments WHERE flow_pk = ? LIMIT 1")
                .bind(pk)
                .fetch_optional(&mut *tx)
                .await?;
        if remaining.is_some() {
            return Ok(false);
        }
        let done = sqlx::query("DELETE FROM flows WHERE pk = ?")
            .bind(pk)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(true);
        }
        insert_event(&mut tx, flow_deleted).await?;
        if delete_source_if_orphan(&mut tx, source.source_id).await? {
            insert_event(&mut tx, &source.deleted_event).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
