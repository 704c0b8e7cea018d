//! Sources: rows, listings with filters and sorts, and the collections inferred from Flows.

use super::classes::{classes_of, push_visible, SOURCE};
use super::events::NewEvent;
use super::listing::{paginate, push_tag_filters, Order, Page, PageKey, Sql, TagFilter};
use crate::db::{p, Row};
use crate::sql::Tx;
use crate::{Index, Result};

/// A stored Source. `doc` is its JSON without the derived collection fields.
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub pk: i64,
    pub id: String,
    pub format: String,
    pub label: Option<String>,
    pub doc: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A Source to insert (implicitly, with its first Flow).
#[derive(Debug, Clone)]
pub struct NewSource<'a> {
    pub id: &'a str,
    pub format: &'a str,
    pub label: Option<&'a str>,
    pub doc: &'a str,
    pub now_ms: i64,
    /// The Source's auth classes (its `auth_classes` tag); empty when unclassified.
    pub classes: &'a [String],
}

/// How a listing of Sources or Flows is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Most recent first by default.
    Created,
    /// Most recent first by default.
    Updated,
    /// Alphabetical by default; unlabelled rows (by id) after labelled ones.
    Label,
}

/// What a listing returns: the filters-independent part of a listing request.
#[derive(Debug, Clone)]
pub struct ListSpec {
    pub sort: SortBy,
    pub reverse: bool,
    pub after: Option<PageKey>,
    pub limit: u32,
}

/// Filters of `GET /sources`.
#[derive(Debug, Clone, Default)]
pub struct SourceFilter {
    pub label: Option<String>,
    pub format: Option<String>,
    pub tags: Vec<TagFilter>,
    /// `Some(empty)`: only Sources no Source collects.
    pub collected_by: Option<Vec<String>>,
    /// Only Sources that are unclassified or share one of these auth classes (`None`:
    /// no such limit).
    pub visible_to: Option<Vec<String>>,
}

pub(crate) fn order(alias: &str, sort: SortBy, reverse: bool) -> Order {
    // The expressions must be 'static; the two aliases in use are spelled out.
    let (k1, k2, pk) = match (alias, sort) {
        ("s", SortBy::Created) => ("s.created_ms", "''", "s.pk"),
        ("s", SortBy::Updated) => ("s.updated_ms", "''", "s.pk"),
        ("s", SortBy::Label) => ("(s.label IS NULL)", "COALESCE(s.label, s.id)", "s.pk"),
        (_, SortBy::Created) => ("f.created_ms", "''", "f.pk"),
        (_, SortBy::Updated) => ("f.updated_ms", "''", "f.pk"),
        (_, SortBy::Label) => ("(f.label IS NULL)", "COALESCE(f.label, f.id)", "f.pk"),
    };
    let default_desc = sort != SortBy::Label;
    Order {
        k1,
        k2,
        pk,
        desc: default_desc != reverse,
    }
}

const SOURCE_COLS: &str = "s.pk, s.id, s.format, s.label, s.doc, s.created_ms, s.updated_ms";

/// Reads a row of [`SOURCE_COLS`] (columns 0 to 6).
fn source_row(r: &Row<'_>) -> Result<SourceRow> {
    Ok(SourceRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        format: r.get(2)?,
        label: r.get(3)?,
        doc: r.get(4)?,
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
    })
}

impl Index {
    /// The Source with id `id`, if any.
    pub async fn get_source(&self, id: &str) -> Result<Option<SourceRow>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_opt(
                &format!("SELECT {SOURCE_COLS} FROM sources s WHERE s.id = ?1"),
                p![id],
                source_row,
            )
        })
        .await
    }

    /// The Source with id `id` and its auth classes, in one read.
    pub async fn get_source_with_classes(
        &self,
        id: &str,
    ) -> Result<Option<(SourceRow, Vec<String>)>> {
        let id = id.to_owned();
        self.read(move |c| {
            let Some(row) = c.query_opt(
                &format!("SELECT {SOURCE_COLS} FROM sources s WHERE s.id = ?1"),
                p![id],
                source_row,
            )?
            else {
                return Ok(None);
            };
            let classes = classes_of(c, SOURCE, row.pk)?;
            Ok(Some((row, classes)))
        })
        .await
    }

    /// One page of Sources matching `filter`.
    pub async fn list_sources(
        &self,
        filter: &SourceFilter,
        spec: &ListSpec,
    ) -> Result<Page<SourceRow>> {
        let order = order("s", spec.sort, spec.reverse);
        let mut q = Sql::new(format!("SELECT {SOURCE_COLS}"));
        order.push_select(&mut q);
        q.push(" FROM sources s WHERE 1=1");
        if let Some(label) = &filter.label {
            q.push(" AND s.label = ").bind(label.clone());
        }
        if let Some(format) = &filter.format {
            q.push(" AND s.format = ").bind(format.clone());
        }
        push_tag_filters(&mut q, "s.doc", &filter.tags);
        if let Some(classes) = &filter.visible_to {
            push_visible(&mut q, SOURCE, "s.pk", classes);
        }
        match &filter.collected_by {
            None => {}
            Some(ids) if ids.is_empty() => {
                q.push(
                    " AND NOT EXISTS (SELECT 1 FROM flows cf JOIN flow_collection_members m ON m.member_id = cf.id \
                     JOIN flows p ON p.pk = m.parent_pk WHERE cf.source_id = s.id AND p.source_id <> s.id)",
                );
            }
            Some(ids) => {
                q.push(
                    " AND EXISTS (SELECT 1 FROM flows cf JOIN flow_collection_members m ON m.member_id = cf.id \
                     JOIN flows p ON p.pk = m.parent_pk WHERE cf.source_id = s.id AND p.source_id <> s.id AND p.source_id IN (",
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
                    let row = source_row(r)?;
                    let key = PageKey {
                        k1: r.get(7)?,
                        k2: r.get(8)?,
                        pk: row.pk,
                    };
                    Ok((row, key))
                })
            })
            .await?;
        Ok(paginate(rows, spec.limit))
    }

    /// The Sources collected by Source `id` (through the collections of its Flows), with
    /// the role given in the Flow collection (empty when none), in collection order.
    pub async fn source_collection(&self, id: &str) -> Result<Vec<(String, String)>> {
        let mut all = self.source_collections(vec![id.to_owned()]).await?;
        Ok(all.pop().map(|c| c.members).unwrap_or_default())
    }

    /// The Sources whose Flows collect a Flow of Source `id`.
    pub async fn source_collected_by(&self, id: &str) -> Result<Vec<String>> {
        let mut all = self.source_collections(vec![id.to_owned()]).await?;
        Ok(all.pop().map(|c| c.collected_by).unwrap_or_default())
    }

    /// For each of `ids`, in order, the Sources it collects and the Sources that collect
    /// it: one read for a whole page of Sources.
    pub async fn source_collections(&self, ids: Vec<String>) -> Result<Vec<SourceCollections>> {
        self.read(move |c| {
            ids.iter()
                .map(|id| {
                    Ok(SourceCollections {
                        members: c.query(
                            "SELECT mf.source_id, m.role FROM flows f \
                             JOIN flow_collection_members m ON m.parent_pk = f.pk \
                             JOIN flows mf ON mf.id = m.member_id \
                             WHERE f.source_id = ?1 AND mf.source_id <> f.source_id \
                             ORDER BY f.pk, m.position",
                            p![id],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )?,
                        collected_by: c.query(
                            "SELECT DISTINCT p.source_id FROM flows f \
                             JOIN flow_collection_members m ON m.member_id = f.id \
                             JOIN flows p ON p.pk = m.parent_pk \
                             WHERE f.source_id = ?1 AND p.source_id <> f.source_id \
                             ORDER BY p.source_id",
                            p![id],
                            |r| r.get(0),
                        )?,
                    })
                })
                .collect()
        })
        .await
    }
}

/// A Source's place in Flow collections, as read by [`Index::source_collections`].
#[derive(Debug, Clone, Default)]
pub struct SourceCollections {
    /// The Sources it collects, with their roles (empty when none), in collection order.
    pub members: Vec<(String, String)>,
    /// The Sources that collect it.
    pub collected_by: Vec<String>,
}

impl Tx<'_> {
    /// Replaces the Source's label, document and auth classes if its document is still
    /// `expected_doc` (compare-and-swap), writing `events` with it. When the classes
    /// change, the effective classes of its Flows without a tag of their own follow.
    /// Returns false (nothing written) when the Source is gone or was changed meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub fn update_source(
        &self,
        id: &str,
        expected_doc: &str,
        label: Option<&str>,
        doc: &str,
        classes: &[String],
        now_ms: i64,
        events: &[NewEvent<'_>],
    ) -> Result<bool> {
        let pk: Option<i64> = self.db.query_opt(
            "UPDATE sources SET label = ?1, doc = ?2, updated_ms = ?3 WHERE id = ?4 AND doc = ?5 \
             RETURNING pk",
            p![label, doc, now_ms, id, expected_doc],
            |r| r.get(0),
        )?;
        let Some(pk) = pk else { return Ok(false) };
        if self.set_classes(SOURCE, pk, classes)? {
            self.refresh_source_flows(pk, id)?;
        }
        for ev in events {
            self.insert_event(ev)?;
        }
        Ok(true)
    }

    /// Inserts `source` (with its auth classes) unless a Source with its id exists; true
    /// when inserted.
    pub(crate) fn insert_source_if_new(&self, source: &NewSource<'_>) -> Result<bool> {
        let pk: Option<i64> = self.db.query_opt(
            "INSERT INTO sources (id, format, label, doc, created_ms, updated_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(id) DO NOTHING RETURNING pk",
            p![
                source.id,
                source.format,
                source.label,
                source.doc,
                source.now_ms
            ],
            |r| r.get(0),
        )?;
        let Some(pk) = pk else { return Ok(false) };
        if !source.classes.is_empty() {
            self.set_classes(SOURCE, pk, source.classes)?;
        }
        Ok(true)
    }

    /// Deletes Source `id` if no Flow refers to it any more, writing `deleted_event`
    /// first (so that it carries the Source's classes); true when deleted.
    pub(crate) fn delete_source_if_orphan(
        &self,
        id: &str,
        deleted_event: &NewEvent<'_>,
    ) -> Result<bool> {
        let pk: Option<i64> = self.db.query_opt(
            "SELECT pk FROM sources WHERE id = ?1 \
             AND NOT EXISTS (SELECT 1 FROM flows WHERE source_id = ?1)",
            p![id],
            |r| r.get(0),
        )?;
        let Some(pk) = pk else { return Ok(false) };
        self.insert_event(deleted_event)?;
        self.clear_classes(SOURCE, pk)?;
        self.db
            .execute("DELETE FROM sources WHERE pk = ?1", p![pk])?;
        Ok(true)
    }
}
