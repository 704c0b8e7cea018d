//! Flows: create or replace (with implicit Sources and Profiles), read with derived
//! fields (timerange, collected_by), list with filters, and edit single properties.

use rushes_index::{
    FlowFilter, FlowRow, FlowWrite, NewSource, SourceIfNew, SourceIfOrphan, TimeFilter,
};
use rushes_model::{
    Essence, Flow, FlowCollectionItem, FlowDefinition, FlowId, FlowPut, FlowStatus, Format,
    ProfileId, Source, SourceId, TagValue, Tags, TimeRange, Timestamp,
};
use serde_json::{json, Value};

use super::listing::{
    from_doc, index_tags, page_key, to_doc, to_value, Listing, Paging, SortBy, TagFilter,
};
use super::sources::{Event, CAS_ATTEMPTS};
use crate::classes::{classes_of_tags, is_anonymous, recorded_name, AUTH_CLASSES_TAG};
use crate::{now_ms, now_rfc3339, CoreError, Permission, Principal, Result, Store};

/// `GET /flows` filters, sort and page.
#[derive(Debug, Clone, Default)]
pub struct FlowQuery {
    pub source_id: Option<SourceId>,
    pub timerange: Option<TimeRange>,
    pub format: Option<Format>,
    pub codec: Option<String>,
    pub profile_id: Option<ProfileId>,
    pub label: Option<String>,
    pub status: Option<FlowStatus>,
    pub tags: Vec<TagFilter>,
    pub frame_width: Option<u32>,
    pub frame_height: Option<u32>,
    pub init_segments: Option<bool>,
    /// `Some(empty)`: only Flows no Flow collects.
    pub collected_by: Option<Vec<FlowId>>,
    pub sort: SortBy,
    pub reverse: bool,
    pub paging: Paging,
}

/// What `PUT /flows/{id}` did.
#[derive(Debug, Clone)]
pub enum PutFlowOutcome {
    /// A new Flow (201 with the Flow).
    Created(Box<Flow>),
    /// An existing Flow was replaced (204).
    Updated,
}

/// A change to one property of a Flow.
#[derive(Debug, Clone)]
pub enum FlowEdit {
    SetTag(String, TagValue),
    /// Not found when the tag is not set.
    DeleteTag(String),
    Label(Option<String>),
    Description(Option<String>),
    /// Allowed on a read-only Flow.
    ReadOnly(bool),
    Collection(Option<Vec<FlowCollectionItem>>),
    MaxBitRate(Option<u64>),
    /// Refused on a Flow linked to a Profile (its bit rate comes from the Profile).
    AvgBitRate(Option<u64>),
}

/// The columns of a Flow to write, owned.
struct FlowCols {
    id: String,
    source_id: String,
    format: &'static str,
    codec: Option<String>,
    label: Option<String>,
    frame_width: Option<i64>,
    frame_height: Option<i64>,
    read_only: bool,
    profile_id: Option<String>,
    status: Option<&'static str>,
    init_segments: bool,
    doc: String,
    members: Vec<(String, String)>,
    /// The Flow's own auth classes (its tag), `None` without the tag.
    classes: Option<Vec<String>>,
    now_ms: i64,
}

impl FlowCols {
    fn of(flow: &Flow) -> Result<FlowCols> {
        let (w, h) = match flow.essence() {
            Essence::Video(v) => (Some(v.frame_width.get()), Some(v.frame_height.get())),
            Essence::Image(i) => (Some(i.frame_width.get()), Some(i.frame_height.get())),
            _ => (None, None),
        };
        Ok(FlowCols {
            id: flow.id().to_string(),
            source_id: flow.source_id().to_string(),
            format: flow.format().urn(),
            codec: flow.codec().map(|c| c.as_str().to_owned()),
            label: flow.common.label.clone(),
            frame_width: w.map(i64::from),
            frame_height: h.map(i64::from),
            read_only: flow.read_only(),
            profile_id: flow.profile_id.map(|p| p.to_string()),
            status: flow.common.status.map(|s| s.as_str()),
            init_segments: flow.essence().init_segments(),
            doc: to_doc("flow", &stored(flow))?,
            members: flow
                .flow_collection()
                .iter()
                .map(|m| (m.id.to_string(), m.role.clone().unwrap_or_default()))
                .collect(),
            classes: classes_of_tags(flow.common.tags.as_ref()),
            now_ms: now_ms(),
        })
    }

    /// The Flow's Source as created with it, with document `doc`.
    fn new_source<'a>(&'a self, doc: &'a str) -> NewSource<'a> {
        NewSource {
            id: &self.source_id,
            format: self.format,
            label: self.label.as_deref(),
            doc,
            now_ms: self.now_ms,
            // An implicit Source carries the auth_classes tag of the Flow that made it.
            classes: self.classes.as_deref().unwrap_or(&[]),
        }
    }

    fn write(&self) -> FlowWrite<'_> {
        FlowWrite {
            id: &self.id,
            source_id: &self.source_id,
            format: self.format,
            codec: self.codec.as_deref(),
            label: self.label.as_deref(),
            frame_width: self.frame_width,
            frame_height: self.frame_height,
            read_only: self.read_only,
            profile_id: self.profile_id.as_deref(),
            status: self.status,
            init_segments: self.init_segments,
            doc: &self.doc,
            now_ms: self.now_ms,
            members: &self.members,
            classes: self.classes.as_deref(),
        }
    }
}

/// A change of a Flow's Source: the new one to create if new, the old one to delete if
/// no Flow uses it any more, with their events.
struct SourceMove {
    new_doc: String,
    created: Event,
    old_id: String,
    deleted: Event,
}

/// The Flow as stored: without the fields derived on read.
fn stored(flow: &Flow) -> Flow {
    let mut f = flow.clone();
    f.common.timerange = None;
    f.common.collected_by = None;
    f.common.segments_updated = None;
    f
}

/// Half-open nanosecond bounds of a non-empty range, clamped to the i64 timeline.
pub(crate) fn range_nanos(range: TimeRange) -> Option<(Option<i64>, Option<i64>)> {
    let clamp = |x: i128| i64::try_from(x).unwrap_or(if x < 0 { i64::MIN } else { i64::MAX });
    range
        .nanos_half_open()
        .map(|(s, e)| (s.map(clamp), e.map(clamp)))
}

pub(crate) fn flow_not_found(id: FlowId) -> CoreError {
    CoreError::NotFound(format!("no flow {id}"))
}

fn new_version() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Store {
    /// The Flow of `row` with its derived fields; the timerange when asked, limited to
    /// Segments overlapping `within` if given.
    pub(crate) async fn flow_from_row(
        &self,
        row: &FlowRow,
        timerange: Option<Option<TimeRange>>,
    ) -> Result<Flow> {
        let by = self.index.flow_collected_by(&row.id).await?;
        let mut flow = flow_with_collectors(row, &by)?;
        if let Some(within) = timerange {
            let bounds = match within {
                None => None,
                Some(r) => match range_nanos(r) {
                    None => {
                        flow.common.timerange = Some(TimeRange::Never);
                        return Ok(flow);
                    }
                    some => some,
                },
            };
            let tr = self
                .index
                .flow_timerange(row.pk, row.max_segment_ns, bounds)
                .await?;
            flow.common.timerange = Some(match tr {
                Some((s, e)) => {
                    TimeRange::half_open(Timestamp::from_nanos(s), Timestamp::from_nanos(e))
                }
                None => TimeRange::Never,
            });
        }
        Ok(flow)
    }

    /// The Flow `id` if it exists, with its effective auth classes when `principal` is
    /// class-limited (read with the row; otherwise no extra query and `None`).
    pub(crate) async fn flow_classed(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<Option<(FlowRow, Option<Vec<String>>)>> {
        if principal.is_class_limited() {
            Ok(self
                .index
                .get_flow_with_classes(id)
                .await?
                .map(|(r, c)| (r, Some(c))))
        } else {
            Ok(self.index.get_flow(id).await?.map(|r| (r, None)))
        }
    }

    /// The Flow `id`, checked for `need` by `principal`'s auth classes: NotFound when it
    /// may not see it, Forbidden when it may see but not `need`.
    pub(crate) async fn flow_checked(
        &self,
        principal: &Principal,
        id: FlowId,
        need: Permission,
    ) -> Result<(FlowRow, Option<Vec<String>>)> {
        let (row, classes) = self
            .flow_classed(principal, &id.to_string())
            .await?
            .ok_or_else(|| flow_not_found(id))?;
        if let Some(c) = &classes {
            self.check_classes(principal, c, need, || flow_not_found(id))?;
        }
        Ok((row, classes))
    }

    /// The auth classes of Source `id` (empty when it is unclassified or unknown).
    async fn source_classes(&self, id: &str) -> Result<Vec<String>> {
        Ok(self
            .index
            .get_source_with_classes(id)
            .await?
            .map(|(_, c)| c)
            .unwrap_or_default())
    }

    /// `GET /flows/{id}`: with `include_timerange` or a `timerange`, the Flow's timerange
    /// (limited to the Segments overlapping `timerange`).
    pub async fn get_flow(
        &self,
        principal: &Principal,
        id: FlowId,
        include_timerange: bool,
        timerange: Option<TimeRange>,
    ) -> Result<Flow> {
        let (row, _) = self.flow_checked(principal, id, Permission::Read).await?;
        let tr = (include_timerange || timerange.is_some()).then_some(timerange);
        self.flow_from_row(&row, tr).await
    }

    /// `GET /flows`: only the Flows `principal`'s auth classes let it see.
    pub async fn list_flows(&self, principal: &Principal, q: &FlowQuery) -> Result<Listing<Flow>> {
        let timerange = match q.timerange {
            None => None,
            Some(r) if r.is_eternity() => None,
            Some(r) => Some(match range_nanos(r) {
                None => TimeFilter::NoContent,
                Some((start, end)) => TimeFilter::Overlaps { start, end },
            }),
        };
        let filter = FlowFilter {
            source_id: q.source_id.map(|s| s.to_string()),
            timerange,
            format: q.format.map(|f| f.urn().to_owned()),
            codec: q.codec.clone(),
            profile_id: q.profile_id.map(|p| p.to_string()),
            label: q.label.clone(),
            status: q.status.map(|s| s.as_str().to_owned()),
            tags: index_tags(&q.tags),
            frame_width: q.frame_width.map(i64::from),
            frame_height: q.frame_height.map(i64::from),
            init_segments: q.init_segments,
            collected_by: q
                .collected_by
                .as_ref()
                .map(|ids| ids.iter().map(ToString::to_string).collect()),
            visible_to: self.visible_to(principal),
        };
        let spec = rushes_index::ListSpec {
            sort: q.sort.index(),
            reverse: q.reverse,
            after: page_key(&q.paging)?,
            limit: q.paging.limit.max(1),
        };
        let page = self.index.list_flows(&filter, &spec).await?;
        let ids = page.items.iter().map(|r| r.id.clone()).collect();
        let collectors = self.index.flows_collected_by(ids).await?;
        let items = page
            .items
            .iter()
            .zip(&collectors)
            .map(|(row, by)| flow_with_collectors(row, by))
            .collect::<Result<Vec<_>>>()?;
        Ok(Listing {
            items,
            next_page: page.next.map(|k| k.to_string()),
        })
    }

    /// Checks a Flow collection: no self-reference, no repeats, members registered.
    async fn check_collection(&self, id: FlowId, items: &[FlowCollectionItem]) -> Result<()> {
        for (i, item) in items.iter().enumerate() {
            if item.id == id {
                return Err(CoreError::BadRequest(format!(
                    "flow {id} cannot collect itself"
                )));
            }
            if items[..i].iter().any(|o| o.id == item.id) {
                return Err(CoreError::BadRequest(format!(
                    "flow {} appears twice in the flow collection",
                    item.id
                )));
            }
            if self.index.get_flow(&item.id.to_string()).await?.is_none() {
                return Err(CoreError::BadRequest(format!(
                    "flow collection member {} is not registered in this store",
                    item.id
                )));
            }
        }
        Ok(())
    }

    /// `PUT /flows/{id}`: creates the Flow (and its Source, if new) or replaces it.
    ///
    /// A class-limited principal needs write on an existing Flow, or on the existing
    /// Source of a new one; a change of the `auth_classes` tag is checked class by class,
    /// and a Flow it creates that would be unclassified gets its classes.
    pub async fn put_flow(
        &self,
        principal: &Principal,
        id: FlowId,
        put: FlowPut,
    ) -> Result<PutFlowOutcome> {
        if put.id() != id {
            return Err(CoreError::BadRequest(format!(
                "the body's id {} does not match the flow id {id} in the path",
                put.id()
            )));
        }
        let common = put.common.clone();
        self.check_collection(id, common.flow_collection.as_deref().unwrap_or(&[]))
            .await?;
        let limited = principal.is_class_limited();
        for _ in 0..CAS_ATTEMPTS {
            let found = self.flow_classed(principal, &id.to_string()).await?;
            let (existing, effective) = match found {
                Some((row, classes)) => {
                    if let Some(c) = &classes {
                        self.check_classes(principal, c, Permission::Write, || flow_not_found(id))?;
                    }
                    (Some(row), classes)
                }
                None => (None, None),
            };
            let old: Option<Flow> = existing
                .as_ref()
                .map(|r| from_doc("flow", &r.doc))
                .transpose()?;
            // The technical metadata: from the Profile named, or as given.
            let (media, profile_id) = match &put.definition {
                FlowDefinition::Profile(p) => {
                    let doc = self
                        .index
                        .get_profile(&p.to_string())
                        .await?
                        .ok_or_else(|| {
                            CoreError::BadRequest(format!("no profile {p} to create the flow from"))
                        })?;
                    let profile: rushes_model::Profile = from_doc("profile", &doc)?;
                    (profile.flow_metadata.media, Some(*p))
                }
                FlowDefinition::Media {
                    media,
                    unlink_profile,
                } => {
                    let linked = old
                        .as_ref()
                        .and_then(|o| o.profile_id.filter(|_| !unlink_profile).map(|p| (o, p)));
                    match linked {
                        Some((o, p)) if o.media == **media => ((**media).clone(), Some(p)),
                        Some((_, p)) => {
                            return Err(CoreError::BadRequest(format!(
                                "flow {id} was created from profile {p}; to change its technical metadata, unlink it with \"profile_id\": \"\""
                            )))
                        }
                        None => ((**media).clone(), None),
                    }
                }
            };
            let mut flow = Flow {
                common: common.clone(),
                profile_id,
                media,
                extra: put.extra.clone(),
            };
            let source_id = flow.source_id();
            let source = if limited {
                self.index
                    .get_source_with_classes(&source_id.to_string())
                    .await?
            } else {
                self.index
                    .get_source(&source_id.to_string())
                    .await?
                    .map(|r| (r, Vec::new()))
            };
            if let Some((src, source_classes)) = &source {
                let joins = existing
                    .as_ref()
                    .is_none_or(|r| r.source_id != source_id.to_string());
                if limited && joins {
                    // Nobody attaches a crafted Flow to a Source they may not write.
                    self.check_classes(principal, source_classes, Permission::Write, || {
                        CoreError::BadRequest(format!(
                            "source {source_id} cannot take new flows from this request"
                        ))
                    })?;
                }
                if src.format != flow.format().urn() {
                    return Err(CoreError::BadRequest(format!(
                        "source {source_id} has format {}; a {} flow cannot belong to it",
                        src.format,
                        flow.format()
                    )));
                }
            }
            if limited {
                let source_classes = source.as_ref().map(|(_, c)| c.clone()).unwrap_or_default();
                let own = classes_of_tags(flow.common.tags.as_ref());
                let before = effective.clone().unwrap_or_default();
                let old_own = old
                    .as_ref()
                    .and_then(|o| classes_of_tags(o.common.tags.as_ref()));
                let after = own.clone().unwrap_or_else(|| source_classes.clone());
                if after.is_empty() && old.is_none() {
                    // What it creates is neither lost to it nor open to everyone.
                    if let Some(mine) = self.default_classes(principal) {
                        flow.common
                            .tags
                            .get_or_insert_with(Tags::new)
                            .insert(AUTH_CLASSES_TAG.to_owned(), TagValue::List(mine));
                    }
                } else if old.is_none() || own != old_own {
                    let before = if old.is_none() {
                        source_classes
                    } else {
                        before
                    };
                    self.check_class_change(principal, &before, &after)?;
                }
            }
            let now = now_rfc3339();
            flow.common.metadata_updated = Some(now.clone());
            let fid = id.to_string();
            let sid = source_id.to_string();
            match (existing, old) {
                (Some(row), Some(old)) => {
                    let sent = flow.common.created_by.clone();
                    flow.common.created_by =
                        if is_anonymous(principal) || (principal.access.admin && sent.is_some()) {
                            sent
                        } else {
                            old.common.created_by.clone()
                        };
                    flow.common.updated_by =
                        recorded_name(principal, flow.common.updated_by.as_ref());
                    if row.read_only {
                        return Err(CoreError::Forbidden(format!("flow {id} is read-only")));
                    }
                    if row.deleting {
                        return Err(CoreError::Forbidden(format!("flow {id} is being deleted")));
                    }
                    flow.common.created = old.common.created.clone();
                    if flow.common.metadata_version.is_none()
                        || flow.common.metadata_version == old.common.metadata_version
                    {
                        flow.common.metadata_version = Some(new_version());
                    }
                    let cols = FlowCols::of(&flow)?;
                    let mut shown = flow.clone();
                    shown.common.segments_updated = row.segments_updated.clone();
                    let ev = Event {
                        event_type: "flows/updated",
                        flow_id: Some(fid.clone()),
                        source_id: Some(sid.clone()),
                        timestamp: now.clone(),
                        payload: json!({ "flow": to_value("flow", &shown)? }),
                    };
                    // A new source_id: create that Source if new, delete the old one if orphaned.
                    let moved = if row.source_id != sid {
                        let source_doc = to_doc("source", &implicit_source(&flow, &now))?;
                        let src_payload = json!({ "source": serde_json::from_str::<Value>(&source_doc).unwrap_or(Value::Null) });
                        Some(SourceMove {
                            created: Event {
                                event_type: "sources/created",
                                flow_id: None,
                                source_id: Some(sid.clone()),
                                timestamp: now.clone(),
                                payload: src_payload,
                            },
                            new_doc: source_doc,
                            deleted: Event {
                                event_type: "sources/deleted",
                                flow_id: None,
                                source_id: Some(row.source_id.clone()),
                                timestamp: now.clone(),
                                payload: json!({ "source_id": row.source_id }),
                            },
                            old_id: row.source_id.clone(),
                        })
                    } else {
                        None
                    };
                    let (pk, expected) = (row.pk, row.doc);
                    let updated = self
                        .index
                        .write(move |tx| {
                            let new_source = moved.as_ref().map(|m| SourceIfNew {
                                source: cols.new_source(&m.new_doc),
                                created_event: m.created.new_event(),
                            });
                            let old_source = moved.as_ref().map(|m| SourceIfOrphan {
                                source_id: &m.old_id,
                                deleted_event: m.deleted.new_event(),
                            });
                            tx.update_flow(
                                pk,
                                &expected,
                                &cols.write(),
                                new_source.as_ref(),
                                old_source.as_ref(),
                                &[ev.new_event()],
                            )
                        })
                        .await?;
                    if updated {
                        return Ok(PutFlowOutcome::Updated);
                    }
                }
                _ => {
                    flow.common.created_by =
                        recorded_name(principal, flow.common.created_by.as_ref());
                    flow.common.updated_by =
                        recorded_name(principal, flow.common.updated_by.as_ref());
                    flow.common.created = Some(now.clone());
                    if flow.common.metadata_version.is_none() {
                        flow.common.metadata_version = Some(new_version());
                    }
                    let cols = FlowCols::of(&flow)?;
                    let ev = Event {
                        event_type: "flows/created",
                        flow_id: Some(fid.clone()),
                        source_id: Some(sid.clone()),
                        timestamp: now.clone(),
                        payload: json!({ "flow": to_value("flow", &flow)? }),
                    };
                    let source = implicit_source(&flow, &now);
                    let source_doc = to_doc("source", &source)?;
                    let created = Event {
                        event_type: "sources/created",
                        flow_id: None,
                        source_id: Some(sid.clone()),
                        timestamp: now.clone(),
                        payload: json!({ "source": to_value("source", &source)? }),
                    };
                    let written = self
                        .index
                        .write(move |tx| {
                            let new_source = SourceIfNew {
                                source: cols.new_source(&source_doc),
                                created_event: created.new_event(),
                            };
                            tx.create_flow(&cols.write(), &new_source, &[ev.new_event()])
                        })
                        .await;
                    match written {
                        Ok(_) => return Ok(PutFlowOutcome::Created(Box::new(flow))),
                        // Created by another request meanwhile: replace it instead.
                        Err(rushes_index::IndexError::Conflict(_)) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(CoreError::Conflict(format!(
            "flow {id} is being changed by another request; retry"
        )))
    }

    /// Changes one property of a Flow, writing `flows/updated`. Needs write on the Flow;
    /// a change of its `auth_classes` tag is checked class by class.
    pub async fn edit_flow(&self, principal: &Principal, id: FlowId, edit: FlowEdit) -> Result<()> {
        if let FlowEdit::Collection(Some(items)) = &edit {
            self.check_collection(id, items).await?;
        }
        let touches_classes = matches!(&edit,
            FlowEdit::SetTag(n, _) | FlowEdit::DeleteTag(n) if n == AUTH_CLASSES_TAG);
        for _ in 0..CAS_ATTEMPTS {
            let (row, effective) = self.flow_checked(principal, id, Permission::Write).await?;
            let mut flow: Flow = from_doc("flow", &row.doc)?;
            if row.read_only && !matches!(edit, FlowEdit::ReadOnly(_)) {
                return Err(CoreError::Forbidden(format!("flow {id} is read-only")));
            }
            let c = &mut flow.common;
            match &edit {
                FlowEdit::SetTag(name, value) => {
                    c.tags
                        .get_or_insert_with(Tags::new)
                        .insert(name.clone(), value.clone());
                }
                FlowEdit::DeleteTag(name) => {
                    if c.tags.as_mut().and_then(|t| t.remove(name)).is_none() {
                        return Err(CoreError::NotFound(format!(
                            "flow {id} has no tag {name:?}"
                        )));
                    }
                }
                FlowEdit::Label(l) => c.label = l.clone(),
                FlowEdit::Description(d) => c.description = d.clone(),
                FlowEdit::ReadOnly(r) => c.read_only = Some(*r),
                FlowEdit::Collection(items) => c.flow_collection = items.clone(),
                FlowEdit::MaxBitRate(r) => c.max_bit_rate = *r,
                FlowEdit::AvgBitRate(r) => {
                    if let Some(p) = flow.profile_id {
                        return Err(CoreError::BadRequest(format!(
                            "flow {id} takes its avg_bit_rate from profile {p}; unlink the profile first"
                        )));
                    }
                    flow.media.avg_bit_rate = *r;
                }
            }
            if let (true, Some(before)) = (touches_classes, &effective) {
                let after = match classes_of_tags(flow.common.tags.as_ref()) {
                    Some(own) => own,
                    None => self.source_classes(&row.source_id).await?,
                };
                self.check_class_change(principal, before, &after)?;
            }
            if let Some(name) = recorded_name(principal, None) {
                flow.common.updated_by = Some(name);
            }
            let now = now_rfc3339();
            flow.common.metadata_updated = Some(now.clone());
            flow.common.metadata_version = Some(new_version());
            let cols = FlowCols::of(&flow)?;
            let mut shown = flow.clone();
            shown.common.segments_updated = row.segments_updated.clone();
            let ev = Event {
                event_type: "flows/updated",
                flow_id: Some(id.to_string()),
                source_id: Some(row.source_id.clone()),
                timestamp: now,
                payload: json!({ "flow": to_value("flow", &shown)? }),
            };
            let (pk, expected) = (row.pk, row.doc);
            if self
                .index
                .write(move |tx| {
                    tx.update_flow(pk, &expected, &cols.write(), None, None, &[ev.new_event()])
                })
                .await?
            {
                return Ok(());
            }
        }
        Err(CoreError::Conflict(format!(
            "flow {id} is being changed by another request; retry"
        )))
    }
}

/// The Source a Flow creates when its `source_id` is new: same format, the Flow's label,
/// description and creator.
fn implicit_source(flow: &Flow, now: &str) -> Source {
    let mut s = Source::new(flow.source_id(), flow.format());
    s.label = flow.common.label.clone();
    s.description = flow.common.description.clone();
    s.created_by = flow.common.created_by.clone();
    if let Some(classes) = flow
        .common
        .tags
        .as_ref()
        .and_then(|t| t.get(AUTH_CLASSES_TAG))
    {
        s.tags
            .get_or_insert_with(Tags::new)
            .insert(AUTH_CLASSES_TAG.to_owned(), classes.clone());
    }
    s.created = Some(now.to_owned());
    s.updated = Some(now.to_owned());
    s
}

/// A Flow as stored in `row`, with the derived fields that need no further read:
/// `segments_updated`, and `collected_by` from `by` (the ids of the Flows whose
/// collection holds it).
fn flow_with_collectors(row: &FlowRow, by: &[String]) -> Result<Flow> {
    let mut flow: Flow = from_doc("flow", &row.doc)?;
    flow.common.segments_updated = row.segments_updated.clone();
    let by = by
        .iter()
        .map(|s| FlowId::parse(s).map_err(|e| CoreError::Internal(format!("stored flow id: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    flow.common.collected_by = Some(by).filter(|b| !b.is_empty());
    Ok(flow)
}
