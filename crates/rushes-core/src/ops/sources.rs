//! Sources: read, list and edit (tags, label, description). Sources are created and
//! deleted only through their Flows.

use rushes_index::{NewEvent, SourceCollections, SourceFilter, SourceRow};
use rushes_model::{Format, Source, SourceCollectionItem, SourceId, TagValue, Tags};
use serde_json::{json, Value};

use super::listing::{
    from_doc, index_tags, page_key, to_doc, to_value, Listing, Paging, SortBy, TagFilter,
};
use crate::classes::{classes_of_tags, recorded_name};
use crate::{now_ms, now_rfc3339, CoreError, Permission, Principal, Result, Store};

/// `GET /sources` filters, sort and page.
#[derive(Debug, Clone, Default)]
pub struct SourceQuery {
    pub label: Option<String>,
    pub format: Option<Format>,
    pub tags: Vec<TagFilter>,
    /// `Some(empty)`: only Sources no Source collects.
    pub collected_by: Option<Vec<SourceId>>,
    pub sort: SortBy,
    pub reverse: bool,
    pub paging: Paging,
}

/// A change to one property of a Source.
#[derive(Debug, Clone)]
pub enum SourceEdit {
    SetTag(String, TagValue),
    /// Not found when the tag is not set.
    DeleteTag(String),
    Label(Option<String>),
    Description(Option<String>),
}

/// How many times a compare-and-swap write is retried when another write got there first.
pub(crate) const CAS_ATTEMPTS: usize = 8;

/// An outbox event with owned parts, to move into an index write.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub event_type: &'static str,
    pub flow_id: Option<String>,
    pub source_id: Option<String>,
    pub timestamp: String,
    pub payload: Value,
}

impl Event {
    /// The event as the index writes it.
    pub(crate) fn new_event(&self) -> NewEvent<'_> {
        NewEvent {
            event_type: self.event_type,
            flow_id: self.flow_id.as_deref(),
            source_id: self.source_id.as_deref(),
            timestamp: &self.timestamp,
            payload: &self.payload,
        }
    }
}

impl Store {
    pub(crate) async fn source_from_row(&self, row: &SourceRow) -> Result<Source> {
        let mut all = self.index.source_collections(vec![row.id.clone()]).await?;
        source_with_collections(row, &all.pop().unwrap_or_default())
    }

    /// The Source `id`, checked for `need` by `principal`'s auth classes (NotFound when it
    /// may not see it, Forbidden when it may see but not `need`), with its classes when
    /// the principal is class-limited (no extra query otherwise).
    async fn source_checked(
        &self,
        principal: &Principal,
        id: SourceId,
        need: Permission,
    ) -> Result<(SourceRow, Option<Vec<String>>)> {
        let sid = id.to_string();
        if !principal.is_class_limited() {
            let row = self
                .index
                .get_source(&sid)
                .await?
                .ok_or_else(|| not_found(id))?;
            return Ok((row, None));
        }
        let (row, classes) = self
            .index
            .get_source_with_classes(&sid)
            .await?
            .ok_or_else(|| not_found(id))?;
        self.check_classes(principal, &classes, need, || not_found(id))?;
        Ok((row, Some(classes)))
    }

    /// `GET /sources/{id}`.
    pub async fn get_source(&self, principal: &Principal, id: SourceId) -> Result<Source> {
        let (row, _) = self.source_checked(principal, id, Permission::Read).await?;
        self.source_from_row(&row).await
    }

    /// `GET /sources`: only the Sources `principal`'s auth classes let it see.
    pub async fn list_sources(
        &self,
        principal: &Principal,
        q: &SourceQuery,
    ) -> Result<Listing<Source>> {
        let filter = SourceFilter {
            label: q.label.clone(),
            format: q.format.map(|f| f.urn().to_owned()),
            tags: index_tags(&q.tags),
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
        let page = self.index.list_sources(&filter, &spec).await?;
        let ids = page.items.iter().map(|r| r.id.clone()).collect();
        let collections = self.index.source_collections(ids).await?;
        let items = page
            .items
            .iter()
            .zip(&collections)
            .map(|(row, c)| source_with_collections(row, c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Listing {
            items,
            next_page: page.next.map(|k| k.to_string()),
        })
    }

    /// Changes one property of a Source, writing `sources/updated`. Needs write on the
    /// Source; a change of its `auth_classes` tag is checked class by class, and the
    /// Flows that take their classes from it follow in the same transaction.
    pub async fn edit_source(
        &self,
        principal: &Principal,
        id: SourceId,
        edit: SourceEdit,
    ) -> Result<()> {
        let sid = id.to_string();
        for _ in 0..CAS_ATTEMPTS {
            let (row, before) = self
                .source_checked(principal, id, Permission::Write)
                .await?;
            let mut source: Source = from_doc("source", &row.doc)?;
            match &edit {
                SourceEdit::SetTag(name, value) => {
                    source
                        .tags
                        .get_or_insert_with(Tags::new)
                        .insert(name.clone(), value.clone());
                }
                SourceEdit::DeleteTag(name) => {
                    if source.tags.as_mut().and_then(|t| t.remove(name)).is_none() {
                        return Err(CoreError::NotFound(format!(
                            "source {id} has no tag {name:?}"
                        )));
                    }
                }
                SourceEdit::Label(l) => source.label = l.clone(),
                SourceEdit::Description(d) => source.description = d.clone(),
            }
            let classes = classes_of_tags(source.tags.as_ref()).unwrap_or_default();
            if let Some(before) = &before {
                self.check_class_change(principal, before, &classes)?;
            }
            if let Some(name) = recorded_name(principal, None) {
                source.updated_by = Some(name);
            }
            source.updated = Some(now_rfc3339());
            let doc = to_doc("source", &source)?;
            let mut full = source.clone();
            let current = self.source_from_row(&row).await?;
            full.source_collection = current.source_collection;
            full.collected_by = current.collected_by;
            let ev = Event {
                event_type: "sources/updated",
                flow_id: None,
                source_id: Some(sid.clone()),
                timestamp: now_rfc3339(),
                payload: json!({ "source": to_value("source", &full)? }),
            };
            let (key, expected, label, now) = (sid.clone(), row.doc, source.label, now_ms());
            if self
                .index
                .write(move |tx| {
                    tx.update_source(
                        &key,
                        &expected,
                        label.as_deref(),
                        &doc,
                        &classes,
                        now,
                        &[ev.new_event()],
                    )
                })
                .await?
            {
                return Ok(());
            }
        }
        Err(CoreError::Conflict(format!(
            "source {id} is being changed by another request; retry"
        )))
    }
}

pub(crate) fn parse_source_id(s: &str) -> Result<SourceId> {
    SourceId::parse(s).map_err(|e| CoreError::Internal(format!("stored source id: {e}")))
}

fn not_found(id: SourceId) -> CoreError {
    CoreError::NotFound(format!("no source {id}"))
}

/// A Source as stored in `row`, with `source_collection` and `collected_by` from `c`.
fn source_with_collections(row: &SourceRow, c: &SourceCollections) -> Result<Source> {
    let mut source: Source = from_doc("source", &row.doc)?;
    let mut collection: Vec<SourceCollectionItem> = Vec::new();
    for (sid, role) in &c.members {
        let id = parse_source_id(sid)?;
        if collection.iter().any(|c| c.id == id) {
            continue;
        }
        collection.push(SourceCollectionItem {
            id,
            role: Some(role.clone()).filter(|r| !r.is_empty()),
            extra: Default::default(),
        });
    }
    source.source_collection = Some(collection).filter(|c| !c.is_empty());
    let by = c
        .collected_by
        .iter()
        .map(|s| parse_source_id(s))
        .collect::<Result<Vec<_>>>()?;
    source.collected_by = Some(by).filter(|b| !b.is_empty());
    Ok(source)
}
