//! Segments: the hot path. Reads by overlap with a timerange (keyset by `start_ns`), and
//! the statements of a registration or deletion ([`Tx`] methods) that change segments
//! together with the object reference counts, the flow's derived columns and the outbox.
//!
//! Every overlap query is bounded by the flow's `max_segment_ns` so that it walks the
//! `(flow_pk, start_ns)` primary key from just before the range it returns.

use std::collections::HashMap;

use crate::db::{p, Conn, IntArray, Row, TextArray, ToParam};
use crate::sql::classes::{classes_of, FLOW};
use crate::sql::objects::instances_of;
use crate::sql::Tx;
use crate::{Index, InstanceRow, Result};

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
            ("end_ns <= ?4", self.hi)
        } else {
            ("end_ns > ?4", self.lo)
        }
    }

    /// The object filter, bound as `?5`, and the number of the row limit parameter after
    /// it (parameters are numbered without gaps, as PostgreSQL requires).
    fn object_test(&self) -> (&'static str, &'static str) {
        if self.object_id.is_some() {
            (" AND object_id = ?5", "?6")
        } else {
            ("", "?5")
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

/// A page of a flow's segments, read with the flow ([`Index::flow_segment_page`]).
#[derive(Debug, Clone)]
pub struct FlowSegments {
    pub flow: SegmentFlow,
    /// At most `limit + 1` rows: the last tells that a next page exists.
    pub rows: Vec<SegmentRow>,
    /// When asked for: the instances of the objects (media and init) of the first `limit`
    /// rows, as [`Index::instances`] returns them.
    pub instances: Vec<(InstanceRow, Option<String>)>,
    /// When asked for: the flow's effective auth classes.
    pub classes: Option<Vec<String>>,
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

const INSERT_SEGMENT_SQL: &str =
    "INSERT INTO segments (flow_pk, start_ns, end_ns, object_id, init_object_id, doc) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

const SEGMENT_COLS: &str = "start_ns, end_ns, object_id, init_object_id, doc";

fn segment_row(r: &Row<'_>) -> Result<SegmentRow> {
    Ok(SegmentRow {
        start_ns: r.get(0)?,
        end_ns: r.get(1)?,
        object_id: r.get(2)?,
        init_object_id: r.get(3)?,
        doc: r.get(4)?,
    })
}

const FLOW_SQL: &str = "SELECT pk, id, source_id, read_only, deleting, max_segment_ns, \
     json_extract(doc, '$.container') FROM flows WHERE id = ?1";

/// [`FLOW_SQL`] on PostgreSQL: a container that is not a string reads as NULL.
const FLOW_SQL_PG: &str = "SELECT pk, id, source_id, read_only, deleting, max_segment_ns, \
     CASE WHEN jsonb_typeof(doc::jsonb -> 'container') = 'string' \
     THEN doc::jsonb ->> 'container' END FROM flows WHERE id = ?1";

fn flow_row(r: &Row<'_>) -> Result<SegmentFlow> {
    // A non-text container would be a damaged document; treat it as unset.
    let container: Option<String> = r.get::<Option<String>>(6).unwrap_or_default();
    Ok(SegmentFlow {
        pk: r.get(0)?,
        id: r.get(1)?,
        source_id: r.get(2)?,
        read_only: r.get::<i64>(3)? != 0,
        deleting: r.get::<i64>(4)? != 0,
        max_segment_ns: r.get(5)?,
        container,
    })
}

fn flow_by_id(conn: Conn<'_>, flow_id: &str) -> Result<Option<SegmentFlow>> {
    conn.query_opt(conn.pick(FLOW_SQL, FLOW_SQL_PG), p![flow_id], flow_row)
}

/// The owned form of a [`SegmentPage`], for a read on another thread.
struct OwnedPage {
    lo: i64,
    hi: i64,
    covered: bool,
    object_id: Option<String>,
    position: Option<i64>,
    reverse: bool,
    limit: u32,
}

impl OwnedPage {
    fn new(page: &SegmentPage<'_>) -> OwnedPage {
        OwnedPage {
            lo: page.selection.lo,
            hi: page.selection.hi,
            covered: page.selection.covered,
            object_id: page.selection.object_id.map(str::to_owned),
            position: page.position,
            reverse: page.reverse,
            limit: page.limit,
        }
    }

    /// Reads the page of flow `flow_pk`: one cached statement per shape of query.
    fn run(&self, conn: Conn<'_>, flow_pk: i64, max_segment_ns: i64) -> Result<Vec<SegmentRow>> {
        let sel = SegmentSelection {
            lo: self.lo,
            hi: self.hi,
            covered: self.covered,
            object_id: self.object_id.as_deref(),
        };
        let (_, end_value) = sel.end_test();
        let mut floor = sel.start_floor(max_segment_ns);
        let mut ceil = sel.hi;
        match (self.position, self.reverse) {
            (Some(p), false) => floor = floor.max(p),
            (Some(p), true) => ceil = ceil.min(p),
            (None, _) => {}
        }
        let sql = page_sql(self.reverse, sel.covered, sel.object_id.is_some());
        let limit = i64::from(self.limit) + 1;
        let (params, n) =
            selection_params(&flow_pk, &floor, &ceil, &end_value, &sel.object_id, &limit);
        conn.query(sql, &params[..n], segment_row)
    }
}

/// Reads the instances of a sorted, distinct list of object ids.
type InstanceReader = fn(Conn<'_>, &[&str]) -> Result<Vec<(InstanceRow, Option<String>)>>;

/// The instances of the objects `ids` (sorted, distinct) as [`instances_of`] returns them,
/// in one statement per engine whatever the number of ids.
fn instances_bulk(conn: Conn<'_>, ids: &[&str]) -> Result<Vec<(InstanceRow, Option<String>)>> {
    // Each half of the union walks one of the two partial indexes on `object_id`, once
    // per id of the list.
    const SQL: &str =
        "SELECT i.pk, i.object_id, i.storage_id, i.url, i.label, i.controlled, i.doc, o.content_type \
         FROM object_instances i JOIN objects o ON o.id = i.object_id \
         WHERE i.object_id IN (SELECT value FROM json_each(?1)) AND i.storage_id IS NOT NULL \
         UNION ALL \
         SELECT i.pk, i.object_id, i.storage_id, i.url, i.label, i.controlled, i.doc, o.content_type \
         FROM object_instances i JOIN objects o ON o.id = i.object_id \
         WHERE i.object_id IN (SELECT value FROM json_each(?1)) AND i.storage_id IS NULL";
    if conn.is_pg() || ids.len() < 2 {
        // PostgreSQL reads every id in one round trip there already.
        return instances_of(conn, ids);
    }
    let list = serde_json::to_string(ids)?;
    let mut out = conn.query(SQL, p![list], |r: &Row<'_>| {
        let inst = crate::sql::objects::instance_row_at(r, 1)?;
        Ok((inst.controlled, r.get::<i64>(0)?, (inst, r.get(7)?)))
    })?;
    out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(out.into_iter().map(|(_, _, row)| row).collect())
}

/// The text of a page query; fixed strings, so that each shape is prepared once.
fn page_sql(reverse: bool, covered: bool, object: bool) -> &'static str {
    macro_rules! page {
        ($end:literal, $obj:literal, $order:literal, $limit:literal) => {
            concat!(
                "SELECT start_ns, end_ns, object_id, init_object_id, doc FROM segments ",
                "WHERE flow_pk = ?1 AND start_ns >= ?2 AND start_ns < ?3 AND ",
                $end,
                $obj,
                " ORDER BY start_ns ",
                $order,
                " LIMIT ",
                $limit
            )
        };
    }
    match (covered, object, reverse) {
        (false, false, false) => page!("end_ns > ?4", "", "ASC", "?5"),
        (false, false, true) => page!("end_ns > ?4", "", "DESC", "?5"),
        (false, true, false) => page!("end_ns > ?4", " AND object_id = ?5", "ASC", "?6"),
        (false, true, true) => page!("end_ns > ?4", " AND object_id = ?5", "DESC", "?6"),
        (true, false, false) => page!("end_ns <= ?4", "", "ASC", "?5"),
        (true, false, true) => page!("end_ns <= ?4", "", "DESC", "?5"),
        (true, true, false) => page!("end_ns <= ?4", " AND object_id = ?5", "ASC", "?6"),
        (true, true, true) => page!("end_ns <= ?4", " AND object_id = ?5", "DESC", "?6"),
    }
}

/// The parameters of a selection statement: `?1` flow, `?2`/`?3` start bounds, `?4` end
/// bound, then `?5` object when there is one (the text names it), and the row limit.
/// The first `n` of the array returned with `n` (no allocation on the hot path).
fn selection_params<'a>(
    flow_pk: &'a i64,
    floor: &'a i64,
    ceil: &'a i64,
    end_value: &'a i64,
    object_id: &'a Option<&str>,
    limit: &'a i64,
) -> ([&'a dyn ToParam; 6], usize) {
    match object_id {
        Some(o) => ([flow_pk, floor, ceil, end_value, o, limit], 6),
        None => ([flow_pk, floor, ceil, end_value, limit, limit], 5),
    }
}

impl Index {
    /// The flow `flow_id` as the segment operations see it.
    pub async fn segment_flow(&self, flow_id: &str) -> Result<Option<SegmentFlow>> {
        let flow_id = flow_id.to_owned();
        self.read(move |c| flow_by_id(c, &flow_id)).await
    }

    /// One page of a flow's segments in timeline order (or reversed), at most `limit + 1`
    /// rows so that the caller can tell whether a next page exists.
    pub async fn segment_page(
        &self,
        flow_pk: i64,
        max_segment_ns: i64,
        page: &SegmentPage<'_>,
    ) -> Result<Vec<SegmentRow>> {
        let page = OwnedPage::new(page);
        self.read(move |c| page.run(c, flow_pk, max_segment_ns))
            .await
    }

    /// The flow `flow_id`, one page of its segments (as [`Index::segment_page`]) and, with
    /// `with_instances`, the instances of their objects, in one read; `None` when the flow
    /// does not exist. With `with_classes`, the flow's auth classes too (same read).
    pub async fn flow_segment_page(
        &self,
        flow_id: &str,
        page: &SegmentPage<'_>,
        with_instances: bool,
        with_classes: bool,
    ) -> Result<Option<FlowSegments>> {
        let per_object: InstanceReader = |c, ids| instances_of(c, ids);
        let instances = with_instances.then_some(per_object);
        self.flow_page_with(flow_id, page, instances, with_classes)
            .await
    }

    /// As [`Index::flow_segment_page`] with instances, for pages of thousands of rows
    /// (HLS playlists): the instances of all the page's objects are read in one statement
    /// on either engine (SQLite: an `IN` over a JSON list of the ids; PostgreSQL:
    /// `= ANY`), not one statement per object. Same rows, same instance order.
    pub async fn flow_segment_page_bulk(
        &self,
        flow_id: &str,
        page: &SegmentPage<'_>,
        with_classes: bool,
    ) -> Result<Option<FlowSegments>> {
        self.flow_page_with(flow_id, page, Some(instances_bulk), with_classes)
            .await
    }

    /// The flow, a page of its segments, the instances of their objects read by
    /// `instances` (none without it) and, with `with_classes`, its auth classes: one read.
    async fn flow_page_with(
        &self,
        flow_id: &str,
        page: &SegmentPage<'_>,
        instances: Option<InstanceReader>,
        with_classes: bool,
    ) -> Result<Option<FlowSegments>> {
        let flow_id = flow_id.to_owned();
        let page = OwnedPage::new(page);
        self.read(move |c| {
            let Some(flow) = flow_by_id(c, &flow_id)? else {
                return Ok(None);
            };
            let classes = if with_classes {
                Some(classes_of(c, FLOW, flow.pk)?)
            } else {
                None
            };
            let rows = page.run(c, flow.pk, flow.max_segment_ns)?;
            let instances = match instances {
                Some(read) => {
                    let shown = rows.len().min(page.limit as usize);
                    let mut ids: Vec<&str> = Vec::with_capacity(shown * 2);
                    for r in &rows[..shown] {
                        ids.push(&r.object_id);
                        if let Some(i) = &r.init_object_id {
                            ids.push(i);
                        }
                    }
                    ids.sort_unstable();
                    ids.dedup();
                    read(c, &ids)?
                }
                None => Vec::new(),
            };
            Ok(Some(FlowSegments {
                flow,
                rows,
                instances,
                classes,
            }))
        })
        .await
    }

    /// The flow's timeline extent `[first start, last end)` from two primary-key lookups;
    /// `None` when it has no segments.
    pub async fn segments_extent(&self, flow_pk: i64) -> Result<Option<(i64, i64)>> {
        self.read(move |c| {
            let first: Option<i64> = c.query_opt(
                "SELECT start_ns FROM segments WHERE flow_pk = ?1 ORDER BY start_ns ASC LIMIT 1",
                p![flow_pk],
                |r| r.get(0),
            )?;
            let last: Option<i64> = c.query_opt(
                "SELECT end_ns FROM segments WHERE flow_pk = ?1 ORDER BY start_ns DESC LIMIT 1",
                p![flow_pk],
                |r| r.get(0),
            )?;
            Ok(first.zip(last))
        })
        .await
    }

    /// How many segments of flow `flow_pk` start before `start_ns` (an HLS playlist's
    /// media sequence number); walks the `(flow_pk, start_ns)` primary key.
    pub async fn segments_before(&self, flow_pk: i64, start_ns: i64) -> Result<u64> {
        self.read(move |c| {
            let n: i64 = c
                .query_opt(
                    "SELECT COUNT(*) FROM segments WHERE flow_pk = ?1 AND start_ns < ?2",
                    p![flow_pk, start_ns],
                    |r| r.get(0),
                )?
                .unwrap_or(0);
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}

impl Tx<'_> {
    /// The flow `flow_id`, read inside the transaction.
    pub fn segment_flow(&self, flow_id: &str) -> Result<Option<SegmentFlow>> {
        flow_by_id(self.db, flow_id)
    }

    /// `(start_ns, end_ns)` of the segments overlapping `[lo, hi)`, in timeline order, at most `limit`.
    pub fn overlapping(
        &self,
        flow_pk: i64,
        max_segment_ns: i64,
        lo: i64,
        hi: i64,
        limit: u32,
    ) -> Result<Vec<(i64, i64)>> {
        self.db.query(
            "SELECT start_ns, end_ns FROM segments \
             WHERE flow_pk = ?1 AND start_ns >= ?2 AND start_ns < ?3 AND end_ns > ?4 \
             ORDER BY start_ns LIMIT ?5",
            p![flow_pk, lo.saturating_sub(max_segment_ns), hi, lo, limit],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Inserts one segment. A segment starting where another starts is a
    /// [`crate::IndexError::Conflict`]; callers check overlaps first.
    pub fn insert_segment(
        &self,
        flow_pk: i64,
        start_ns: i64,
        end_ns: i64,
        object_id: &str,
        init_object_id: Option<&str>,
        doc: &str,
    ) -> Result<()> {
        self.db
            .execute(
                INSERT_SEGMENT_SQL,
                p![flow_pk, start_ns, end_ns, object_id, init_object_id, doc],
            )
            .map_err(|e| {
                crate::error::conflict_on_unique(e, || {
                    "a segment already starts at that timestamp".to_owned()
                })
            })?;
        Ok(())
    }

    /// Inserts segments given as `(start_ns, end_ns, object_id, init_object_id, doc)`,
    /// with one statement (see [`Tx::insert_segment`]).
    pub fn insert_segment_rows<'a>(
        &self,
        flow_pk: i64,
        rows: impl IntoIterator<Item = (i64, i64, &'a str, Option<&'a str>, &'a str)>,
    ) -> Result<()> {
        if self.db.is_pg() {
            // One statement for the whole list.
            let (mut starts, mut ends) = (IntArray::default(), IntArray::default());
            let (mut objects, mut inits, mut docs) = (
                TextArray::default(),
                TextArray::default(),
                TextArray::default(),
            );
            for (start_ns, end_ns, object_id, init_object_id, doc) in rows {
                starts.0.push(start_ns);
                ends.0.push(end_ns);
                objects.0.push(Some(object_id));
                inits.0.push(init_object_id);
                docs.0.push(Some(doc));
            }
            if starts.0.is_empty() {
                return Ok(());
            }
            // Sent with the next statement (callers checked overlaps under the write lock,
            // so it cannot meet a segment starting at the same time).
            return self.db.execute_later(
                "INSERT INTO segments (flow_pk, start_ns, end_ns, object_id, init_object_id, doc) \
                 SELECT CAST(?1 AS BIGINT), s.* FROM unnest(CAST(?2 AS BIGINT[]), \
                     CAST(?3 AS BIGINT[]), CAST(?4 AS TEXT[]), CAST(?5 AS TEXT[]), \
                     CAST(?6 AS TEXT[])) AS s",
                p![flow_pk, starts, ends, objects, inits, docs],
            );
        }
        for (start_ns, end_ns, object_id, init_object_id, doc) in rows {
            self.db
                .execute(
                    INSERT_SEGMENT_SQL,
                    p![flow_pk, start_ns, end_ns, object_id, init_object_id, doc],
                )
                .map_err(|e| {
                    crate::error::conflict_on_unique(e, || {
                        "a segment already starts at that timestamp".to_owned()
                    })
                })?;
        }
        Ok(())
    }

    /// Inserts `segments` (see [`Tx::insert_segment`]).
    pub fn insert_segments(&self, flow_pk: i64, segments: &[NewSegment]) -> Result<()> {
        for s in segments {
            self.insert_segment(
                flow_pk,
                s.start_ns,
                s.end_ns,
                &s.object_id,
                s.init_object_id.as_deref(),
                &s.doc,
            )?;
        }
        Ok(())
    }

    /// Deletes up to `max_rows` segments of the selection in timeline order and returns them.
    pub fn delete_segments(
        &self,
        flow_pk: i64,
        max_segment_ns: i64,
        sel: &SegmentSelection<'_>,
        max_rows: u32,
    ) -> Result<Vec<SegmentRow>> {
        let (end_test, end_value) = sel.end_test();
        let (object, limit_param) = sel.object_test();
        let sql = format!(
            "DELETE FROM segments WHERE flow_pk = ?1 AND start_ns IN (\
                 SELECT start_ns FROM segments \
                 WHERE flow_pk = ?1 AND start_ns >= ?2 AND start_ns < ?3 AND {end_test}{object} \
                 ORDER BY start_ns LIMIT {limit_param}) \
             RETURNING {SEGMENT_COLS}"
        );
        // One of four texts: kept prepared like the fixed ones.
        let (floor, max_rows) = (sel.start_floor(max_segment_ns), i64::from(max_rows));
        let (params, n) = selection_params(
            &flow_pk,
            &floor,
            &sel.hi,
            &end_value,
            &sel.object_id,
            &max_rows,
        );
        let mut out = self.db.query(&sql, &params[..n], segment_row)?;
        out.sort_by_key(|r| r.start_ns);
        Ok(out)
    }

    /// Drops `n` references from each object; an object left with none becomes collectable
    /// at `collect_after_ms`.
    pub fn release_objects(
        &self,
        refs: &HashMap<String, i64>,
        collect_after_ms: i64,
    ) -> Result<()> {
        let sql = self.db.pick(
            "UPDATE objects SET ref_count = max(ref_count - ?2, 0), \
                 collect_after_ms = CASE WHEN ref_count - ?2 <= 0 THEN ?3 ELSE collect_after_ms END \
             WHERE id = ?1",
            "UPDATE objects SET ref_count = GREATEST(ref_count - ?2, 0), \
                 collect_after_ms = CASE WHEN ref_count - ?2 <= 0 THEN ?3 ELSE collect_after_ms END \
             WHERE id = ?1",
        );
        if self.db.is_pg() && refs.len() > 1 {
            // One statement for the whole list.
            let ids = TextArray(refs.keys().map(|k| Some(k.as_str())).collect());
            let counts = IntArray(refs.values().copied().collect());
            self.db.execute(
                "UPDATE objects o SET ref_count = GREATEST(o.ref_count - r.n, 0), \
                     collect_after_ms = CASE WHEN o.ref_count - r.n <= 0 THEN ?3 \
                                        ELSE o.collect_after_ms END \
                 FROM unnest(CAST(?1 AS TEXT[]), CAST(?2 AS BIGINT[])) AS r(id, n) \
                 WHERE o.id = r.id",
                p![ids, counts, collect_after_ms],
            )?;
            return Ok(());
        }
        for (id, n) in refs {
            self.db.execute(sql, p![id, n, collect_after_ms])?;
        }
        Ok(())
    }

    /// Records a change of the flow's segments: `segments_updated`, and `max_segment_ns`
    /// raised to at least `longest_ns`.
    pub fn touch_flow(&self, flow_pk: i64, longest_ns: i64, segments_updated: &str) -> Result<()> {
        self.db.execute_later(
            self.db.pick(
                "UPDATE flows SET max_segment_ns = max(max_segment_ns, ?1), segments_updated = ?2 \
                 WHERE pk = ?3",
                "UPDATE flows SET max_segment_ns = GREATEST(max_segment_ns, ?1), \
                 segments_updated = ?2 WHERE pk = ?3",
            ),
            p![longest_ns, segments_updated, flow_pk],
        )?;
        Ok(())
    }
}
