//! Sources: rows, listings with filters and sorts, and the collections inferred from Flows.

use sqlx::{QueryBuilder, Row, Sqlite};

use super::events::{insert_event, NewEvent};
use super::listing::{paginate, push_list, push_tag_filters, Order, Page, PageKey, TagFilter};
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

fn source_row(r: &sqlx::sqlite::SqliteRow) -> Result<SourceRow> {
    Ok(SourceRow {
        pk: r.try_get("pk")?,
        id: r.try_get("id")?,
        format: r.try_get("format")?,
        label: r.try_get("label")?,
        doc: r.try_get("doc")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

impl Index {
    /// The Source with id `id`, if any.
    pub async fn get_source(&self, id: &str) -> Result<Option<SourceRow>> {
        let row = sqlx::query(&format!(
            "SELECT {SOURCE_COLS} FROM sources s WHERE s.id = ?"
        ))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(source_row).transpose()
    }

    /// One page of Sources matching `filter`.
    pub async fn list_sources(
        &self,
        filter: &SourceFilter,
        spec: &ListSpec,
    ) -> Result<Page<SourceRow>> {
        let order = order("s", spec.sort, spec.reverse);
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(format!("SELECT {SOURCE_COLS}"));
        order.push_select(&mut qb);
        qb.push(" FROM sources s WHERE 1=1");
        if let Some(label) = &filter.label {
            qb.push(" AND s.label = ").push_bind(label.clone());
        }
        if let Some(format) = &filter.format {
            qb.push(" AND s.format = ").push_bind(format.clone());
        }
        push_tag_filters(&mut qb, "s.doc", &filter.tags);
        match &filter.collected_by {
            None => {}
            Some(ids) if ids.is_empty() => {
                qb.push(
                    " AND NOT EXISTS (SELECT 1 FROM flows cf JOIN flow_collection_members m ON m.member_id = cf.id \
                     JOIN flows p ON p.pk = m.parent_pk WHERE cf.source_id = s.id AND p.source_id <> s.id)",
                );
            }
            Some(ids) => {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM flows cf JOIN flow_collection_members m ON m.member_id = cf.id \
                     JOIN flows p ON p.pk = m.parent_pk WHERE cf.source_id = s.id AND p.source_id <> s.id AND p.source_id IN (",
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
                let row = source_row(r)?;
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

    /// Replaces the Source's label and document if its document is still `expected_doc`
    /// (compare-and-swap), writing `events` in the same transaction. Returns false when the
    /// Source is gone or was changed meanwhile.
    pub async fn update_source(
        &self,
        id: &str,
        expected_doc: &str,
        label: Option<&str>,
        doc: &str,
        now_ms: i64,
        events: &[NewEvent<'_>],
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(
            "UPDATE sources SET label = ?, doc = ?, updated_ms = ? WHERE id = ? AND doc = ?",
        )
        .bind(label)
        .bind(doc)
        .bind(now_ms)
        .bind(id)
        .bind(expected_doc)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        for ev in events {
            insert_event(&mut tx, ev).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The Sources collected by Source `id` (through the collections of its Flows), with
    /// the role given in the Flow collection (empty when none), in collection order.
    pub async fn source_collection(&self, id: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT mf.source_id AS sid, m.role AS role FROM flows f \
             JOIN flow_collection_members m ON m.parent_pk = f.pk \
             JOIN flows mf ON mf.id = m.member_id \
             WHERE f.source_id = ? AND mf.source_id <> f.source_id ORDER BY f.pk, m.position",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("sid")?, r.try_get("role")?)))
            .collect()
    }

    /// The Sources whose Flows collect a Flow of Source `id`.
    pub async fn source_collected_by(&self, id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT p.source_id AS sid FROM flows f \
             JOIN flow_collection_members m ON m.member_id = f.id \
             JOIN flows p ON p.pk = m.parent_pk \
             WHERE f.source_id = ? AND p.source_id <> f.source_id ORDER BY p.source_id",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("sid")?)).collect()
    }
}

/// Inserts `source` unless a Source with its id exists; true when inserted.
pub(crate) async fn insert_source_if_new(
    conn: &mut sqlx::SqliteConnection,
    source: &NewSource<'_>,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO sources (id, format, label, doc, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT(id) DO NOTHING",
    )
    .bind(source.id)
    .bind(source.format)
    .bind(source.label)
    .bind(source.doc)
    .bind(source.now_ms)
    .bind(source.now_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes Source `id` if no Flow refers to it any more; true when deleted.
pub(crate) async fn delete_source_if_orphan(
    conn: &mut sqlx::SqliteConnection,
    id: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM sources WHERE id = ? AND NOT EXISTS (SELECT 1 FROM flows WHERE source_id = ?)",
    )
    .bind(id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
