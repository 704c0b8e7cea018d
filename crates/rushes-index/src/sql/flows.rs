//! Flows: rows, create/replace with their collection members and implicit Sources,
//! listings, timeranges from the segment index, and removal of the Flow row.

use super::classes::{classes_of, push_visible, FLOW};
use super::events::NewEvent;
use super::listing::{paginate, push_tag_filters, Page, PageKey, Sql, TagFilter};
use super::sources::{order, ListSpec, NewSource};
use crate::db::{p, Row};
use crate::error::conflict_on_unique;
use crate::sql::Tx;
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
    /// The Flow's own auth classes (its `auth_classes` tag), `None` when it has no such
    /// tag and takes its Source's.
    pub classes: Option<&'a [String]>,
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
    /// Only Flows that are unclassified or share one of these auth classes (`None`: no
    /// such limit).
    pub visible_to: Option<Vec<String>>,
}

const FLOW_COLS: &str =
    "f.pk, f.id, f.source_id, f.format, f.read_only, f.deleting, f.doc, f.max_segment_ns, \
                         f.segments_updated, f.created_ms, f.updated_ms";

/// Reads a row of [`FLOW_COLS`] (columns 0 to 10).
fn flow_row(r: &Row<'_>) -> Result<FlowRow> {
    Ok(FlowRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        source_id: r.get(2)?,
        format: r.get(3)?,
        read_only: r.get(4)?,
        deleting: r.get(5)?,
        doc: r.get(6)?,
        max_segment_ns: r.get(7)?,
        segments_updated: r.get(8)?,
        created_ms: r.get(9)?,
        updated_ms: r.get(10)?,
    })
}

impl Index {
    /// The Flow with id `id`, if any.
    pub async fn get_flow(&self, id: &str) -> Result<Option<FlowRow>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_opt(
                &format!("SELECT {FLOW_COLS} FROM flows f WHERE f.id = ?1"),
                p![id],
                flow_row,
            )
        })
        .await
    }

    /// The Flow with id `id` and its effective auth classes, in one read.
    pub async fn get_flow_with_classes(&self, id: &str) -> Result<Option<(FlowRow, Vec<String>)>> {
        let id = id.to_owned();
        self.read(move |c| {
            let Some(row) = c.query_opt(
                &format!("SELECT {FLOW_COLS} FROM flows f WHERE f.id = ?1"),
                p![id],
                flow_row,
            )?
            else {
                return Ok(None);
            };
            let classes = classes_of(c, FLOW, row.pk)?;
            Ok(Some((row, classes)))
        })
        .await
    }

    /// The effective auth classes of Flow `pk`.
    pub async fn flow_classes(&self, pk: i64) -> Result<Vec<String>> {
        self.read(move |c| classes_of(c, FLOW, pk)).await
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
        self.read(move |c| {
            let first: Option<i64> = c.query_opt(
                "SELECT start_ns FROM segments WHERE flow_pk = ?1 AND start_ns < ?2 \
                 AND start_ns >= ?3 AND end_ns > ?4 ORDER BY start_ns ASC LIMIT 1",
                p![pk, qe, lower, qs],
                |r| r.get(0),
            )?;
            let Some(first) = first else { return Ok(None) };
            let last: Option<i64> = c.query_opt(
                "SELECT end_ns FROM segments WHERE flow_pk = ?1 AND start_ns < ?2 \
                 ORDER BY start_ns DESC LIMIT 1",
                p![pk, qe],
                |r| r.get(0),
            )?;
            Ok(last.filter(|&e| e > qs).map(|e| (first, e)))
        })
        .await
    }

    /// The ids of the Flows whose collection holds Flow `id`.
    pub async fn flow_collected_by(&self, id: &str) -> Result<Vec<String>> {
        let mut all = self.flows_collected_by(vec![id.to_owned()]).await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// For each of `ids`, in order, the ids of the Flows whose collection holds it: one
    /// read for a whole page of Flows.
    pub async fn flows_collected_by(&self, ids: Vec<String>) -> Result<Vec<Vec<String>>> {
        self.read(move |c| {
            ids.iter()
                .map(|id| {
                    c.query(
                        "SELECT p.id FROM flow_collection_members m JOIN flows p ON p.pk = m.parent_pk \
                         WHERE m.member_id = ?1 ORDER BY p.pk",
                        p![id],
                        |r| r.get(0),
                    )
                })
                .collect()
        })
        .await
    }

    /// One page of Flows matching `filter`.
    pub async fn list_flows(&self, filter: &FlowFilter, spec: &ListSpec) -> Result<Page<FlowRow>> {
        let order = order("f", spec.sort, spec.reverse);
        let mut q = Sql::new(format!("SELECT {FLOW_COLS}"));
        order.push_select(&mut q);
        q.push(" FROM flows f WHERE 1=1");
        let eq = |q: &mut Sql, col: &str, v: &Option<String>| {
            if let Some(v) = v {
                q.push(&format!(" AND {col} = ")).bind(v.clone());
            }
        };
        eq(&mut q, "f.source_id", &filter.source_id);
        eq(&mut q, "f.format", &filter.format);
        eq(&mut q, "f.codec", &filter.codec);
        eq(&mut q, "f.profile_id", &filter.profile_id);
        eq(&mut q, "f.label", &filter.label);
        eq(&mut q, "f.status", &filter.status);
        if let Some(w) = filter.frame_width {
            q.push(" AND f.frame_width = ").bind(w);
        }
        if let Some(h) = filter.frame_height {
            q.push(" AND f.frame_height = ").bind(h);
        }
        if let Some(i) = filter.init_segments {
            q.push(" AND f.init_segments = ").bind(i);
        }
        push_tag_filters(&mut q, "f.doc", &filter.tags);
        if let Some(classes) = &filter.visible_to {
            push_visible(&mut q, FLOW, "f.pk", classes);
        }
        match filter.timerange {
            None => {}
            Some(TimeFilter::NoContent) => {
                q.push(" AND NOT EXISTS (SELECT 1 FROM segments sg WHERE sg.flow_pk = f.pk)");
            }
            Some(TimeFilter::Overlaps { start, end }) => {
                q.push(" AND EXISTS (SELECT 1 FROM segments sg WHERE sg.flow_pk = f.pk)");
                if let Some(end) = end {
                    q.push(" AND (SELECT sg.start_ns FROM segments sg WHERE sg.flow_pk = f.pk ORDER BY sg.start_ns ASC LIMIT 1) < ")
                        .bind(end);
                }
                if let Some(start) = start {
                    q.push(" AND (SELECT sg.end_ns FROM segments sg WHERE sg.flow_pk = f.pk ORDER BY sg.start_ns DESC LIMIT 1) > ")
                        .bind(start);
                }
            }
        }
        match &filter.collected_by {
            None => {}
            Some(ids) if ids.is_empty() => {
                q.push(" AND NOT EXISTS (SELECT 1 FROM flow_collection_members m WHERE m.member_id = f.id)");
            }
            Some(ids) => {
                q.push(
                    " AND EXISTS (SELECT 1 FROM flow_collection_members m JOIN flows p ON p.pk = m.parent_pk \
                     WHERE m.member_id = f.id AND p.id IN (",
                );
                q.list(ids);
                q.push("))");
            }
        }
        order.push_after(&mut q, spec.after.as_ref());
        order.push_order_limit(&mut q, spec.limit);
        let rows = self
            .read(move |c| {
                q.query(c, |r| {
                    let row = flow_row(r)?;
                    let key = PageKey {
                        k1: r.get(11)?,
                        k2: r.get(12)?,
                        pk: row.pk,
                    };
                    Ok((row, key))
                })
            })
            .await?;
        Ok(paginate(rows, spec.limit))
    }

    /// How many Segments Flow `pk` has, counting no further than `cap`.
    pub async fn count_segments_capped(&self, pk: i64, cap: u32) -> Result<u64> {
        self.read(move |c| {
            let n: i64 = c.query_one(
                "SELECT COUNT(*) FROM (SELECT 1 FROM segments WHERE flow_pk = ?1 LIMIT ?2) s",
                p![pk, i64::from(cap)],
                |r| r.get(0),
            )?;
            Ok(n.max(0) as u64)
        })
        .await
    }
}

impl Tx<'_> {
    fn replace_members(&self, pk: i64, members: &[(String, String)]) -> Result<()> {
        self.db.execute(
            "DELETE FROM flow_collection_members WHERE parent_pk = ?1",
            p![pk],
        )?;
        for (position, (member, role)) in members.iter().enumerate() {
            self.db
                .execute(
                    "INSERT INTO flow_collection_members (parent_pk, member_id, role, position) \
                     VALUES (?1, ?2, ?3, ?4)",
                    p![pk, member, role, position],
                )
                .map_err(|e| {
                    conflict_on_unique(e, || {
                        format!("flow {member} appears twice in the flow collection")
                    })
                })?;
        }
        Ok(())
    }

    fn write_events(&self, events: &[NewEvent<'_>]) -> Result<()> {
        for ev in events {
            self.insert_event(ev)?;
        }
        Ok(())
    }

    /// Creates a Flow (and its Source, if new) with `events`. Returns whether the Source
    /// was created. A Flow with the same id is a conflict.
    pub fn create_flow(
        &self,
        w: &FlowWrite<'_>,
        source: &SourceIfNew<'_>,
        events: &[NewEvent<'_>],
    ) -> Result<bool> {
        let created_source = self.insert_source_if_new(&source.source)?;
        if created_source {
            self.insert_event(&source.created_event)?;
        }
        let pk: i64 = self
            .db
            .query_one(
                "INSERT INTO flows (id, source_id, format, codec, label, frame_width, frame_height, \
                 read_only, doc, profile_id, status, init_segments, created_ms, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13) RETURNING pk",
                p![
                    w.id,
                    w.source_id,
                    w.format,
                    w.codec,
                    w.label,
                    w.frame_width,
                    w.frame_height,
                    w.read_only,
                    w.doc,
                    w.profile_id,
                    w.status,
                    w.init_segments,
                    w.now_ms
                ],
                |r| r.get(0),
            )
            .map_err(|e| conflict_on_unique(e, || format!("flow {} already exists", w.id)))?;
        self.replace_members(pk, w.members)?;
        self.set_flow_classes(pk, w.classes, w.source_id)?;
        self.write_events(events)?;
        Ok(created_source)
    }

    /// Replaces Flow `pk` if its document is still `expected_doc` (compare-and-swap):
    /// columns, document and collection members, creating `new_source` and deleting an
    /// orphaned old Source as given, with `events`. Returns false (nothing written) when
    /// the Flow is gone or was changed meanwhile.
    pub fn update_flow(
        &self,
        pk: i64,
        expected_doc: &str,
        w: &FlowWrite<'_>,
        new_source: Option<&SourceIfNew<'_>>,
        old_source: Option<&SourceIfOrphan<'_>>,
        events: &[NewEvent<'_>],
    ) -> Result<bool> {
        let unchanged = self
            .db
            .query_opt(
                "SELECT 1 FROM flows WHERE pk = ?1 AND doc = ?2",
                p![pk, expected_doc],
                |_| Ok(()),
            )?
            .is_some();
        if !unchanged {
            return Ok(false);
        }
        // The new Source must exist before the Flow refers to it.
        if let Some(s) = new_source {
            if self.insert_source_if_new(&s.source)? {
                self.insert_event(&s.created_event)?;
            }
        }
        self.db.execute(
            "UPDATE flows SET source_id = ?1, format = ?2, codec = ?3, label = ?4, frame_width = ?5, \
             frame_height = ?6, read_only = ?7, doc = ?8, profile_id = ?9, status = ?10, \
             init_segments = ?11, updated_ms = ?12 WHERE pk = ?13",
            p![
                w.source_id,
                w.format,
                w.codec,
                w.label,
                w.frame_width,
                w.frame_height,
                w.read_only,
                w.doc,
                w.profile_id,
                w.status,
                w.init_segments,
                w.now_ms,
                pk
            ])?;
        self.replace_members(pk, w.members)?;
        self.set_flow_classes(pk, w.classes, w.source_id)?;
        if let Some(o) = old_source {
            self.delete_source_if_orphan(o.source_id, &o.deleted_event)?;
        }
        self.write_events(events)?;
        Ok(true)
    }

    /// Marks Flow `pk` as being deleted (it refuses new Segments from now on).
    pub fn set_flow_deleting(&self, pk: i64) -> Result<()> {
        let changed = self
            .db
            .execute("UPDATE flows SET deleting = 1 WHERE pk = ?1", p![pk])?;
        if changed == 0 {
            return Err(IndexError::NotFound(format!("flow pk {pk}")));
        }
        Ok(())
    }

    /// Deletes the row of Flow `pk` once it has no Segments left, with its collection
    /// members and, if no other Flow refers to it, its Source. Writes `flow_deleted` (and
    /// `source.deleted_event` when the Source goes) with it. Returns false when Segments
    /// remain (nothing is deleted) and true when the Flow is gone.
    pub fn delete_flow_row(
        &self,
        pk: i64,
        source: &SourceIfOrphan<'_>,
        flow_deleted: &NewEvent<'_>,
    ) -> Result<bool> {
        let remaining = self.db.query_opt(
            "SELECT 1 FROM segments WHERE flow_pk = ?1 LIMIT 1",
            p![pk],
            |_| Ok(()),
        )?;
        if remaining.is_some() {
            return Ok(false);
        }
        let exists = self
            .db
            .query_opt("SELECT 1 FROM flows WHERE pk = ?1", p![pk], |_| Ok(()))?;
        if exists.is_none() {
            return Ok(true);
        }
        // The event first, so that it carries the classes the Flow had.
        self.insert_event(flow_deleted)?;
        self.clear_classes(FLOW, pk)?;
        self.db.execute("DELETE FROM flows WHERE pk = ?1", p![pk])?;
        self.delete_source_if_orphan(source.source_id, &source.deleted_event)?;
        Ok(true)
    }
}
