//! Flow segments: register (one or a list), list by timerange with keyset paging, delete.

use std::collections::{BTreeMap, HashMap};

use rushes_index::{
    InstanceRow, NewEvent, ObjectRefs, SegmentPage, SegmentRow, SegmentSelection, Tx,
};
use rushes_model::{FlowId, ObjectId, Segment, SegmentInitObject, SegmentPost, TimeRangeText};
use rushes_time::{TimeRange, Timestamp};

use crate::classes::ClassCeilings;
use crate::ops::objects::{ObjectProps, UrlBuilder, UrlFilter};
use crate::{now_ms, now_rfc3339, CoreError, Permission, Principal, Result, Store};

/// A class-limited principal and the ceilings its checks use, moved into writer closures.
type ClassLimit = Option<(Principal, ClassCeilings)>;

impl Store {
    /// The principal and class ceilings for checks on the index writer; `None` (no check,
    /// no extra query) for a principal without class limits.
    fn class_limit(&self, principal: &Principal) -> ClassLimit {
        principal
            .is_class_limited()
            .then(|| (principal.clone(), self.settings.class_ceilings.clone()))
    }
}

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

/// Parameters of `GET /flows/{id}/segments`.
#[derive(Debug, Clone, Default)]
pub struct SegmentQuery {
    /// Only segments overlapping this range (all when `None`).
    pub timerange: Option<TimeRange>,
    pub object_id: Option<ObjectId>,
    pub reverse: bool,
    /// The opaque key of a previous page's `next_key`.
    pub page: Option<String>,
    /// Page size (the store's default when `None`, capped to its maximum).
    pub limit: Option<u32>,
    pub include_object_timerange: bool,
    pub urls: UrlFilter,
}

/// One page of segments.
#[derive(Debug, Clone)]
pub struct SegmentListing {
    pub segments: Vec<Segment>,
    /// The timerange the returned segments cover (`()` when none).
    pub timerange: TimeRange,
    pub next_key: Option<String>,
    pub limit: u32,
    pub reverse: bool,
}

/// A segment of a POST that was not registered, and why.
#[derive(Debug)]
pub struct SegmentFailure {
    pub object_id: ObjectId,
    pub timerange: TimeRangeText,
    pub error: CoreError,
}

/// A segment that passed the checks that need no database.
struct Candidate {
    index: usize,
    start: i64,
    end: i64,
    /// The object's timerange this segment implies (timerange minus ts_offset), or the one given.
    object_timerange: TimeRange,
    object_timerange_text: String,
    /// The segment as stored and as the event carries it (JSON text made outside the writer).
    doc: String,
}

/// What a registration knows of an object while it runs (loaded, then updated in memory).
#[derive(Debug, Clone)]
struct ObjectState {
    exists: bool,
    allocated_for_flow: Option<String>,
    registered: bool,
    timerange: Option<TimeRange>,
    timerange_text: Option<String>,
    props: ObjectProps,
    /// References added by this request.
    added: i64,
    /// First registration happens in this request.
    first_here: bool,
    /// Created by this request from uncontrolled URLs.
    external_new: bool,
}

fn bad(msg: impl Into<String>) -> CoreError {
    CoreError::BadRequest(msg.into())
}

/// Checks one posted segment on its own and works out its nanosecond bounds.
fn precheck(i: usize, s: &SegmentPost) -> Result<Candidate> {
    let tr = s.timerange.range();
    if !tr.is_bounded() {
        return Err(bad(format!(
            "segment timerange {} must have a start and an end",
            s.timerange
        )));
    }
    let Some((Some(st), Some(en))) = tr.nanos_half_open() else {
        return Err(bad(format!("segment timerange {} is empty", s.timerange)));
    };
    let (Ok(start), Ok(end)) = (i64::try_from(st), i64::try_from(en)) else {
        return Err(bad(format!(
            "segment timerange {} is beyond the last representable timestamp",
            s.timerange
        )));
    };
    if s.init_object_id.as_ref() == Some(&s.object_id) {
        return Err(bad("init_object_id must differ from object_id"));
    }
    if s.get_urls
        .as_ref()
        .is_some_and(|u| u.iter().any(|u| u.url.is_empty() || u.label.is_empty()))
    {
        return Err(bad("get_urls entries need a url and a label"));
    }
    let offset = s.ts_offset.unwrap_or_default();
    let (object_timerange, object_timerange_text) = match &s.object_timerange {
        Some(t) => {
            if t.range().is_empty() || !t.range().is_bounded() {
                return Err(bad(format!(
                    "object_timerange {t} must be bounded and not empty"
                )));
            }
            (t.range(), t.as_str().to_owned())
        }
        None => {
            let neg = offset
                .checked_neg()
                .ok_or_else(|| bad("ts_offset is out of range"))?;
            let r = tr
                .shift(neg)
                .map_err(|_| bad("timerange minus ts_offset is out of range"))?;
            (r, r.to_string())
        }
    };
    // The segment, on the object's timeline, must lie within the object's timerange.
    let on_object = tr
        .shift(
            offset
                .checked_neg()
                .ok_or_else(|| bad("ts_offset is out of range"))?,
        )
        .map_err(|_| bad("timerange minus ts_offset is out of range"))?;
    if !object_timerange.contains_range(on_object) {
        return Err(bad(format!(
            "segment timerange {} minus ts_offset {} is not within object_timerange {}",
            s.timerange, offset, object_timerange
        )));
    }
    let doc = segment_value(s, &object_timerange_text)?.to_string();
    Ok(Candidate {
        index: i,
        start,
        end,
        object_timerange,
        object_timerange_text,
        doc,
    })
}

/// The stored document of a segment: the Segment as registered, with the object's
/// timerange and without URLs (added when read).
fn segment_value(s: &SegmentPost, object_timerange: &str) -> Result<serde_json::Value> {
    let mut seg = Segment::new(s.object_id.clone(), s.timerange.clone());
    seg.ts_offset = s.ts_offset;
    seg.last_duration = s.last_duration;
    seg.object_timerange = Some(
        TimeRangeText::parse(object_timerange).map_err(|e| CoreError::Internal(e.to_string()))?,
    );
    seg.sample_offset = s.sample_offset;
    seg.sample_count = s.sample_count;
    seg.key_frame_count = s.key_frame_count;
    seg.init_object = s.init_object_id.clone().map(|object_id| SegmentInitObject {
        object_id,
        get_urls: None,
    });
    seg.extra = s.extra.clone();
    serde_json::to_value(&seg).map_err(|e| CoreError::Internal(e.to_string()))
}

fn uncontrolled_instances(s: &SegmentPost) -> Vec<InstanceRow> {
    s.get_urls
        .iter()
        .flatten()
        .map(|u| InstanceRow {
            object_id: s.object_id.to_string(),
            storage_id: None,
            url: Some(u.url.clone()),
            label: Some(u.label.clone()),
            controlled: false,
            doc: "{}".into(),
        })
        .collect()
}

/// True when `[start, end)` overlaps an interval of `taken` (start -> end, non-overlapping).
fn overlaps_taken(taken: &BTreeMap<i64, i64>, start: i64, end: i64) -> bool {
    taken
        .range(..end)
        .next_back()
        .is_some_and(|(_, &e)| e > start)
}

/// Parses a page key of the segment listing.
fn parse_key(p: &str) -> Result<i64> {
    p.strip_prefix('s')
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| bad(format!("invalid page key {p:?}")))
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
        let batch = DeleteBatch {
            flow_pk: Some(flow_pk),
            flow_id: *flow_id,
            lo,
            hi,
            covered: false,
            object_id: None,
            max_rows: max_rows.max(1),
            check_writable: false,
            limit: None,
            collect_after_ms: self.collect_after_grace(),
        };
        self.index.write(move |tx| batch.run(tx)).await
    }

    /// `DELETE /flows/{id}/segments`: deletes the segments lying entirely within
    /// `timerange` (all when `None`), only those of `object_id` if given, in batches.
    /// Returns how many were deleted.
    pub async fn delete_segments(
        &self,
        principal: &Principal,
        flow_id: &FlowId,
        timerange: Option<TimeRange>,
        object_id: Option<&ObjectId>,
    ) -> Result<u64> {
        let range = timerange.unwrap_or(TimeRange::ETERNITY);
        let Some((lo, hi)) = query_bounds(range) else {
            // Nothing can lie in an empty range; still answer for an unknown or read-only flow.
            let f = self.index.segment_flow(&flow_id.to_string()).await?;
            if let (Some(f), true) = (&f, principal.is_class_limited()) {
                let classes = self.index.flow_classes(f.pk).await?;
                self.check_classes(principal, &classes, Permission::Delete, || {
                    CoreError::NotFound(format!("flow {flow_id} does not exist"))
                })?;
            }
            return match f {
                None => Err(CoreError::NotFound(format!(
                    "flow {flow_id} does not exist"
                ))),
                Some(f) if f.read_only => {
                    Err(CoreError::Forbidden(format!("flow {flow_id} is read-only")))
                }
                Some(_) => Ok(0),
            };
        };
        let mut total = 0;
        loop {
            let batch = DeleteBatch {
                flow_pk: None,
                flow_id: *flow_id,
                lo,
                hi,
                covered: true,
                object_id: object_id.map(ObjectId::to_string),
                max_rows: DELETE_BATCH,
                check_writable: true,
                limit: self.class_limit(principal),
                collect_after_ms: self.collect_after_grace(),
            };
            let p = self.index.write(move |tx| batch.run(tx)).await?;
            total += p.deleted;
            if p.done {
                return Ok(total);
            }
        }
    }

    /// `POST /flows/{id}/segments`: registers `segments` in one transaction. Segments that
    /// break a rule are left out and returned with their error; the others are registered.
    /// A missing, read-only or container-less flow fails the whole request.
    ///
    /// Everything that needs no database (parsing, checks of each segment on its own, the
    /// stored documents) happens here; the rest is one closure on the index writer.
    pub async fn register_segments(
        &self,
        principal: &Principal,
        flow_id: &FlowId,
        segments: Vec<SegmentPost>,
    ) -> Result<Vec<SegmentFailure>> {
        let mut failures: Vec<(usize, CoreError)> = Vec::new();
        let mut candidates = Vec::with_capacity(segments.len());
        for (i, s) in segments.iter().enumerate() {
            match precheck(i, s) {
                Ok(c) => candidates.push(c),
                Err(e) => failures.push((i, e)),
            }
        }
        let mut reg = Registration {
            flow_id: *flow_id,
            flow_text: flow_id.to_string(),
            segments,
            candidates,
            failures,
            now: now_rfc3339(),
            now_ms: now_ms(),
            limit: self.class_limit(principal),
            spent: None,
        };
        let reg = self
            .index
            .write(move |tx| {
                reg.run(tx)?;
                Ok::<_, CoreError>(reg)
            })
            .await?;

        let Registration {
            segments,
            mut failures,
            ..
        } = reg;
        failures.sort_by_key(|(i, _)| *i);
        Ok(failures
            .into_iter()
            .map(|(i, error)| SegmentFailure {
                object_id: segments[i].object_id.clone(),
                timerange: segments[i].timerange.clone(),
                error,
            })
            .collect())
    }
}

/// One transaction of segment deletion, run on the index writer.
struct DeleteBatch {
    /// The flow's pk when the caller knows it (checked against the row found).
    flow_pk: Option<i64>,
    flow_id: FlowId,
    lo: i64,
    hi: i64,
    covered: bool,
    object_id: Option<String>,
    max_rows: u32,
    /// A read-only flow is Forbidden and an unknown flow NotFound (otherwise: nothing to do).
    check_writable: bool,
    /// A class-limited caller: needs delete on the flow (checked in the transaction).
    limit: ClassLimit,
    collect_after_ms: i64,
}

impl DeleteBatch {
    fn run(self, tx: &Tx<'_>) -> Result<PurgeProgress> {
        let flow_id = &self.flow_id;
        let flow_text = flow_id.to_string();
        let Some(flow) = tx.segment_flow(&flow_text)? else {
            if self.check_writable {
                return Err(CoreError::NotFound(format!(
                    "flow {flow_id} does not exist"
                )));
            }
            return Ok(PurgeProgress {
                deleted: 0,
                done: true,
            });
        };
        if let Some((p, ceilings)) = &self.limit {
            let classes = tx.flow_classes(flow.pk)?;
            crate::classes::check(p, &classes, Permission::Delete, ceilings, || {
                CoreError::NotFound(format!("flow {flow_id} does not exist"))
            })?;
        }
        if self.flow_pk.is_some_and(|pk| pk != flow.pk) {
            return Err(CoreError::Internal(format!(
                "flow {flow_id} has pk {}, not {:?}",
                flow.pk, self.flow_pk
            )));
        }
        if self.check_writable && flow.read_only {
            return Err(CoreError::Forbidden(format!("flow {flow_id} is read-only")));
        }
        let sel = SegmentSelection {
            lo: self.lo,
            hi: self.hi,
            covered: self.covered,
            object_id: self.object_id.as_deref(),
        };
        let rows = tx.delete_segments(flow.pk, flow.max_segment_ns, &sel, self.max_rows)?;
        let deleted = rows.len() as u64;
        if let (Some(first), Some(last)) = (rows.first(), rows.iter().map(|r| r.end_ns).max()) {
            tx.release_objects(&released_refs(&rows), self.collect_after_ms)?;
            let now = now_rfc3339();
            tx.touch_flow(flow.pk, 0, &now)?;
            let payload = serde_json::json!({ "flow_id": flow_text, "timerange": span_text(first.start_ns, last) });
            tx.insert_event(&NewEvent {
                event_type: "flows/segments_deleted",
                flow_id: Some(&flow_text),
                source_id: Some(&flow.source_id),
                timestamp: &now,
                payload: &payload,
            })?;
        }
        Ok(PurgeProgress {
            deleted,
            done: deleted < u64::from(self.max_rows),
        })
    }
}

/// A registration, prepared outside the writer and completed on it by [`Registration::run`].
struct Registration {
    flow_id: FlowId,
    flow_text: String,
    segments: Vec<SegmentPost>,
    /// The segments that passed the checks that need no database.
    candidates: Vec<Candidate>,
    /// Segments left out, by index in `segments`, and why.
    failures: Vec<(usize, CoreError)>,
    /// The time of the change (RFC 3339 and ms).
    now: String,
    now_ms: i64,
    /// A class-limited caller: needs write on the flow, and read on objects already
    /// registered elsewhere (checked in the transaction).
    limit: ClassLimit,
    /// The event payload and reference changes, kept so that they are freed after the
    /// commit by the request task rather than on the index writer.
    spent: Option<(String, Vec<ObjectRefs>)>,
}

impl Registration {
    /// Runs on the index writer, inside the registration's transaction: flow checks,
    /// overlap check, object rules, then the writes and the event. Segments that break a
    /// rule join `failures`; an error fails (and rolls back) the whole request.
    fn run(&mut self, tx: &Tx<'_>) -> Result<()> {
        let flow_id = &self.flow_id;
        let flow_text = self.flow_text.as_str();
        let flow = tx
            .segment_flow(flow_text)?
            .ok_or_else(|| CoreError::NotFound(format!("flow {flow_id} does not exist")))?;
        if let Some((p, ceilings)) = &self.limit {
            let classes = tx.flow_classes(flow.pk)?;
            crate::classes::check(p, &classes, Permission::Write, ceilings, || {
                CoreError::NotFound(format!("flow {flow_id} does not exist"))
            })?;
        }
        if flow.read_only {
            return Err(CoreError::Forbidden(format!("flow {flow_id} is read-only")));
        }
        if flow.deleting {
            return Err(CoreError::Forbidden(format!(
                "flow {flow_id} is being deleted"
            )));
        }
        if flow.container.is_none() {
            return Err(bad(format!(
                "flow {flow_id} has no container; set it before registering segments"
            )));
        }
        let candidates = &mut self.candidates;
        let segments = &self.segments;

        // Existing segments around the posted ones, in one query (per segment only if
        // the posted list is scattered over a crowded part of the timeline).
        let mut taken: BTreeMap<i64, i64> = BTreeMap::new();
        let mut per_segment = false;
        if let (Some(lo), Some(hi)) = (
            candidates.iter().map(|c| c.start).min(),
            candidates.iter().map(|c| c.end).max(),
        ) {
            let cap =
                u32::try_from(candidates.len().saturating_mul(4).max(1024)).unwrap_or(u32::MAX);
            let rows = tx.overlapping(flow.pk, flow.max_segment_ns, lo, hi, cap)?;
            per_segment = rows.len() >= cap as usize;
            taken.extend(rows);
        }

        // Objects (media and init) named by the candidates, in one pass.
        let mut ids: Vec<&str> = Vec::with_capacity(candidates.len() * 2);
        for c in candidates.iter() {
            let s = &segments[c.index];
            ids.push(s.object_id.as_str());
            if let Some(init) = &s.init_object_id {
                ids.push(init.as_str());
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let mut objects: HashMap<String, ObjectState> = HashMap::with_capacity(ids.len());
        for row in tx.objects(&ids)? {
            let timerange = row
                .object_timerange
                .as_deref()
                .and_then(|t| t.parse::<TimeRange>().ok());
            // An object not yet registered has the default empty document.
            let props = if row.doc == "{}" {
                ObjectProps::default()
            } else {
                ObjectProps::parse(&row.doc)
            };
            objects.insert(
                row.id,
                ObjectState {
                    exists: true,
                    allocated_for_flow: row.allocated_for_flow,
                    registered: row.first_referenced_by_flow.is_some(),
                    timerange,
                    timerange_text: row.object_timerange,
                    props,
                    added: 0,
                    first_here: false,
                    external_new: false,
                },
            );
        }

        // Knowing an object's id must not grant its bytes: an object already registered
        // needs read on one of the flows that reference it (appnote 0016, step 5).
        let mut hidden: HashMap<String, bool> = HashMap::new();
        if let Some((p, _)) = &self.limit {
            let held = p.auth_classes.clone().unwrap_or_default();
            for (id, o) in &objects {
                if o.registered {
                    hidden.insert(id.clone(), !tx.object_visible(id, &held)?);
                }
            }
        }
        let mut accepted: Vec<usize> = Vec::with_capacity(candidates.len());
        let mut new_instances: Vec<InstanceRow> = Vec::new();
        let mut longest = 0i64;
        for (k, c) in candidates.iter_mut().enumerate() {
            let s = &segments[c.index];
            let denied = [Some(&s.object_id), s.init_object_id.as_ref()]
                .into_iter()
                .flatten()
                .find(|o| hidden.get(o.as_str()).copied().unwrap_or(false));
            if let Some(o) = denied {
                self.failures.push((
                    c.index,
                    CoreError::Forbidden(format!(
                        "object {o} is registered on flows this request may not read"
                    )),
                ));
                continue;
            }
            let overlap = overlaps_taken(&taken, c.start, c.end)
                || (per_segment
                    && !tx
                        .overlapping(flow.pk, flow.max_segment_ns, c.start, c.end, 1)?
                        .is_empty());
            if overlap {
                self.failures.push((
                    c.index,
                    bad(format!(
                        "segment {} overlaps a segment of flow {flow_id}",
                        s.timerange
                    )),
                ));
                continue;
            }
            match check_objects(flow_text, s, c, &mut objects) {
                Ok(object_timerange) => {
                    if object_timerange != c.object_timerange_text {
                        // The object was registered with other text for its timerange:
                        // the segment repeats the object's.
                        let mut value: serde_json::Value = serde_json::from_str(&c.doc)
                            .map_err(|e| CoreError::Internal(e.to_string()))?;
                        value["object_timerange"] = serde_json::Value::String(object_timerange);
                        c.doc = value.to_string();
                    }
                    taken.insert(c.start, c.end);
                    longest = longest.max(c.end.saturating_sub(c.start));
                    new_instances.extend(uncontrolled_instances(s));
                    accepted.push(k);
                }
                Err(e) => self.failures.push((c.index, e)),
            }
        }
        if accepted.is_empty() {
            return Ok(());
        }

        let external: Vec<String> = objects
            .iter()
            .filter(|(_, o)| o.external_new)
            .map(|(id, _)| id.clone())
            .collect();
        // Instances may repeat within a request (several segments of one object): the
        // index ignores ones already recorded.
        tx.create_external_objects(&external, self.now_ms, &[])?;
        tx.add_instances_if_new(&new_instances)?;
        tx.insert_segment_rows(
            flow.pk,
            accepted.iter().map(|&k| {
                let c = &candidates[k];
                let s = &segments[c.index];
                (
                    c.start,
                    c.end,
                    s.object_id.as_str(),
                    s.init_object_id.as_ref().map(ObjectId::as_str),
                    c.doc.as_str(),
                )
            }),
        )?;
        let refs: Vec<ObjectRefs> = objects
            .into_iter()
            .filter(|(_, o)| o.added > 0)
            .map(|(id, o)| ObjectRefs {
                id,
                added: o.added,
                first_referenced_by_flow: o.first_here.then(|| flow_text.to_owned()),
                object_timerange: if o.first_here { o.timerange_text } else { None },
                doc: o.first_here.then(|| o.props.to_doc()),
            })
            .collect();
        tx.add_object_refs(&refs)?;
        tx.touch_flow(flow.pk, longest, &self.now)?;
        // `{"flow_id": .., "segments": [..]}` from the stored documents, as serde_json
        // writes the object (keys in order), without building it as a value.
        let flow_json = serde_json::Value::from(flow_text).to_string();
        let len = accepted.iter().map(|&k| candidates[k].doc.len() + 1);
        let mut payload = String::with_capacity(flow_json.len() + 32 + len.sum::<usize>());
        payload.push_str("{\"flow_id\":");
        payload.push_str(&flow_json);
        payload.push_str(",\"segments\":[");
        for (n, &k) in accepted.iter().enumerate() {
            if n > 0 {
                payload.push(',');
            }
            payload.push_str(&candidates[k].doc);
        }
        payload.push_str("]}");
        tx.insert_event_json(
            "flows/segments_added",
            Some(flow_text),
            Some(&flow.source_id),
            &self.now,
            &payload,
        )?;
        // Freed by the request task, not on the writer.
        self.spent = Some((payload, refs));
        Ok(())
    }
}

/// The object rules of one segment (media object and init object); on success the
/// in-memory object states take the new references and the object's timerange text
/// is returned.
fn check_objects(
    flow_text: &str,
    s: &SegmentPost,
    c: &Candidate,
    objects: &mut HashMap<String, ObjectState>,
) -> Result<String> {
    let oid = s.object_id.as_str();
    let init = s.init_object_id.as_ref().map(ObjectId::as_str);

    // The init object first (read only), so that a failure leaves no trace.
    if let Some(init_id) = init {
        let o = objects.get(init_id).filter(|o| o.exists).ok_or_else(|| {
                bad(format!("init object {init_id} is not known; allocate it through /flows/{flow_text}/storage"))
            })?;
        if !o.registered
            && o.allocated_for_flow
                .as_deref()
                .is_some_and(|f| f != flow_text)
        {
            return Err(bad(format!(
                "init object {init_id} was allocated for another flow"
            )));
        }
        if o.props.role.as_deref() == Some("media") {
            return Err(bad(format!(
                "object {init_id} is a media object, not an init object"
            )));
        }
    }

    let media = match objects.get(oid) {
            Some(o) if o.exists => o.clone(),
            _ if s.get_urls.as_ref().is_some_and(|u| !u.is_empty()) => ObjectState {
                exists: true,
                allocated_for_flow: None,
                registered: false,
                timerange: None,
                timerange_text: None,
                props: ObjectProps::default(),
                added: 0,
                first_here: false,
                external_new: true,
            },
            _ => {
                return Err(bad(format!(
                    "object {oid} is not known; allocate it through /flows/{flow_text}/storage or give get_urls"
                )))
            }
        };
    if media.registered || media.first_here {
        // Re-use: the object's own properties may not change.
        if media.props.role.as_deref() == Some("init") {
            return Err(bad(format!(
                "object {oid} is an init object, not a media object"
            )));
        }
        if let (Some(given), Some(have)) = (&s.object_timerange, media.timerange) {
            if !given.range().normalised_eq(have) {
                return Err(bad(format!(
                    "object_timerange {given} differs from object {oid}'s timerange {have}"
                )));
            }
        }
        // The segment, moved onto the object's timeline, must lie inside the object
        // (when object_timerange is given, precheck tested it against that, equal to `have`).
        if let (Some(have), None) = (media.timerange, &s.object_timerange) {
            if !have.contains_range(c.object_timerange) {
                return Err(bad(format!(
                    "segment {} minus ts_offset is not within object {oid}'s timerange {have}",
                    s.timerange
                )));
            }
        }
        if init.map(str::to_owned) != media.props.init_object_id {
            return Err(bad(format!(
                "init_object_id differs from the one object {oid} was registered with"
            )));
        }
    } else if media
        .allocated_for_flow
        .as_deref()
        .is_some_and(|f| f != flow_text)
    {
        return Err(bad(format!("object {oid} was allocated for another flow")));
    }

    // Commit the references in memory.
    let entry = objects.entry(oid.to_owned()).or_insert(media);
    if !(entry.registered || entry.first_here) {
        entry.first_here = true;
        entry.timerange = Some(c.object_timerange);
        entry.timerange_text = Some(c.object_timerange_text.clone());
        entry.props = ObjectProps {
            role: Some("media".into()),
            key_frame_count: s.key_frame_count,
            init_object_id: init.map(str::to_owned),
        };
    }
    entry.added += 1;
    let object_timerange = entry
        .timerange_text
        .clone()
        .unwrap_or_else(|| c.object_timerange_text.clone());
    if let Some(init_id) = init {
        if let Some(o) = objects.get_mut(init_id) {
            if !(o.registered || o.first_here) {
                o.first_here = true;
                o.props = ObjectProps {
                    role: Some("init".into()),
                    ..ObjectProps::default()
                };
            }
            o.added += 1;
        }
    }
    Ok(object_timerange)
}

impl Store {
    /// `GET /flows/{id}/segments`: one page in timeline order (or reversed). An unknown
    /// flow has no segments.
    pub async fn list_segments(
        &self,
        principal: &Principal,
        flow_id: &FlowId,
        q: &SegmentQuery,
    ) -> Result<SegmentListing> {
        let limit = q
            .limit
            .unwrap_or(self.settings.default_page_limit)
            .clamp(1, self.settings.max_page_limit);
        let empty = |limit| SegmentListing {
            segments: Vec::new(),
            timerange: TimeRange::Never,
            next_key: None,
            limit,
            reverse: q.reverse,
        };
        let position = q.page.as_deref().map(parse_key).transpose()?;
        // An empty range selects nothing, whether or not the flow exists.
        let Some((lo, hi)) = query_bounds(q.timerange.unwrap_or(TimeRange::ETERNITY)) else {
            return Ok(empty(limit));
        };
        let page = SegmentPage {
            selection: SegmentSelection {
                lo,
                hi,
                covered: false,
                object_id: q.object_id.as_ref().map(ObjectId::as_str),
            },
            position,
            reverse: q.reverse,
            limit,
        };
        let Some(found) = self
            .index
            .flow_segment_page(
                &flow_id.to_string(),
                &page,
                !q.urls.wants_none(),
                principal.is_class_limited(),
            )
            .await?
        else {
            return Ok(empty(limit));
        };
        // A flow the principal may not see has no segments for it, as an unknown flow.
        if let Some(classes) = &found.classes {
            if self
                .check_classes(principal, classes, Permission::Read, || {
                    CoreError::NotFound(String::new())
                })
                .is_err()
            {
                return Ok(empty(limit));
            }
        }
        let (flow, mut rows) = (found.flow, found.rows);
        let next_key = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| {
                if q.reverse {
                    format!("s{}", r.start_ns)
                } else {
                    format!("s{}", r.start_ns.saturating_add(1))
                }
            })
        } else {
            None
        };
        let mut urls = UrlBuilder::new(self, &q.urls, flow.container.as_deref());
        urls.add(&found.instances).await?;

        let mut segments = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut seg: Segment = serde_json::from_str(&r.doc).map_err(|e| {
                CoreError::Internal(format!("stored segment of flow {flow_id} is damaged: {e}"))
            })?;
            if !q.include_object_timerange {
                seg.object_timerange = None;
            }
            seg.get_urls = urls.get(&r.object_id);
            if let Some(init) = &mut seg.init_object {
                init.get_urls = urls.get(init.object_id.as_str());
            }
            segments.push(seg);
        }
        let first = rows.iter().map(|r| r.start_ns).min();
        let last = rows.iter().map(|r| r.end_ns).max();
        let timerange = match (first, last) {
            (Some(a), Some(b)) => {
                TimeRange::half_open(Timestamp::from_nanos(a), Timestamp::from_nanos(b))
            }
            _ => TimeRange::Never,
        };
        Ok(SegmentListing {
            segments,
            timerange,
            next_key,
            limit,
            reverse: q.reverse,
        })
    }
}

/// Segments deleted per transaction by `DELETE /flows/{id}/segments`.
const DELETE_BATCH: u32 = 1000;
