//! Media objects: allocation, reference counts (inside a [`SegmentWriter`]), instances,
//! the flows that reference an object, and the queries of garbage collection.

use sqlx::{Row, Sqlite, Transaction};

use crate::error::conflict_on_unique;
use crate::sqlite::segments::SegmentWriter;
use crate::{Index, IndexError, Result};

/// One object row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    pub id: String,
    pub allocated_for_flow: Option<String>,
    pub first_referenced_by_flow: Option<String>,
    /// The object's own timerange text, as first registered.
    pub object_timerange: Option<String>,
    pub content_type: Option<String>,
    pub ref_count: i64,
    pub collect_after_ms: Option<i64>,
    pub created_ms: i64,
    /// Other properties fixed at first registration (JSON object).
    pub doc: String,
}

/// One instance of an object: controlled (in a storage backend of this store) or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    pub object_id: String,
    pub storage_id: Option<String>,
    pub url: Option<String>,
    pub label: Option<String>,
    pub controlled: bool,
    pub doc: String,
}

/// A new instance to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    pub object_id: String,
    pub storage_id: Option<String>,
    pub url: Option<String>,
    pub label: Option<String>,
    pub controlled: bool,
    pub doc: String,
}

/// An object allocated through `/flows/{id}/storage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObject {
    pub id: String,
    pub allocated_for_flow: Option<String>,
    pub content_type: Option<String>,
    pub created_ms: i64,
    /// When it is collected if no segment registers it.
    pub collect_after_ms: i64,
    /// Its controlled instance.
    pub storage_id: String,
}

/// A change of one object's references within a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRefs {
    pub id: String,
    /// References added.
    pub added: i64,
    /// Set if the object had never been referenced.
    pub first_referenced_by_flow: Option<String>,
    /// Set if the object had no timerange yet.
    pub object_timerange: Option<String>,
    /// Replaces the object's doc when set (first registration only).
    pub doc: Option<String>,
}

/// Which instance to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceKey<'a> {
    StorageId(&'a str),
    Label(&'a str),
}

const OBJECT_COLS: &str =
    "id, allocated_for_flow, first_referenced_by_flow, object_timerange, content_type, \
     ref_count, collect_after_ms, created_ms, doc";
const INSTANCE_COLS: &str = "object_id, storage_id, url, label, controlled, doc";

fn object_row(r: &sqlx::sqlite::SqliteRow) -> Result<ObjectRow> {
    Ok(ObjectRow {
        id: r.try_get(0)?,
        allocated_for_flow: r.try_get(1)?,
        first_referenced_by_flow: r.try_get(2)?,
        object_timerange: r.try_get(3)?,
        content_type: r.try_get(4)?,
        ref_count: r.try_get(5)?,
        collect_after_ms: r.try_get(6)?,
        created_ms: r.try_get(7)?,
        doc: r.try_get(8)?,
    })
}

fn instance_row(r: &sqlx::sqlite::SqliteRow) -> Result<InstanceRow> {
    Ok(InstanceRow {
        object_id: r.try_get(0)?,
        storage_id: r.try_get(1)?,
        url: r.try_get(2)?,
        label: r.try_get(3)?,
        controlled: r.try_get::<i64, _>(4)? != 0,
        doc: r.try_get(5)?,
    })
}

fn json_list<S: AsRef<str>>(ids: &[S]) -> String {
    serde_json::Value::Array(
        ids.iter()
            .map(|s| serde_json::Value::from(s.as_ref()))
            .collect(),
    )
    .to_string()
}

async fn insert_instances(
    tx: &mut Transaction<'static, Sqlite>,
    list: &[NewInstance],
) -> Result<()> {
    for i in list {
        sqlx::query(&format!(
            "INSERT INTO object_instances ({INSTANCE_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
        ))
        .bind(&i.object_id)
        .bind(&i.storage_id)
        .bind(&i.url)
        .bind(&i.label)
        .bind(i64::from(i.controlled))
        .bind(&i.doc)
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                format!("object {} already has that instance", i.object_id)
            })
        })?;
    }
    Ok(())
}

impl Index {
    /// Records newly allocated objects and their controlled instances in one transaction.
    /// An id that exists already is a [`IndexError::Conflict`] and nothing is recorded.
    pub async fn allocate_objects(&self, objects: &[NewObject]) -> Result<()> {
        if objects.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer().begin().await?;
        let rows: Vec<serde_json::Value> = objects
            .iter()
            .map(|o| {
                serde_json::json!([
                    o.id,
                    o.allocated_for_flow,
                    o.content_type,
                    o.created_ms,
                    o.collect_after_ms
                ])
            })
            .collect();
        sqlx::query(
            "INSERT INTO objects (id, allocated_for_flow, content_type, created_ms, collect_after_ms, ref_count) \
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
                    json_extract(value, '$[3]'), json_extract(value, '$[4]'), 0 FROM json_each(?)",
        )
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, || "an object with one of those ids exists already".to_owned()))?;
        let instances: Vec<serde_json::Value> = objects
            .iter()
            .map(|o| serde_json::json!([o.id, o.storage_id]))
            .collect();
        sqlx::query(
            "INSERT INTO object_instances (object_id, storage_id, controlled, doc) \
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), 1, '{}' FROM json_each(?)",
        )
        .bind(serde_json::Value::Array(instances).to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The object `id`, if recorded.
    pub async fn object(&self, id: &str) -> Result<Option<ObjectRow>> {
        let row = sqlx::query(&format!("SELECT {OBJECT_COLS} FROM objects WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(object_row).transpose()
    }

    /// The objects among `ids` that are recorded.
    pub async fn objects<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<ObjectRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {OBJECT_COLS} FROM objects WHERE id IN (SELECT value FROM json_each(?))"
        ))
        .bind(json_list(ids))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(object_row).collect()
    }

    /// The instances of the objects `ids`, controlled first, then in registration order,
    /// each with its object's `content_type`.
    pub async fn instances<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> Result<Vec<(InstanceRow, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT i.object_id, i.storage_id, i.url, i.label, i.controlled, i.doc, o.content_type \
             FROM object_instances i JOIN objects o ON o.id = i.object_id \
             WHERE i.object_id IN (SELECT value FROM json_each(?)) ORDER BY i.controlled DESC, i.pk",
        )
        .bind(json_list(ids))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((instance_row(r)?, r.try_get(6)?)))
            .collect()
    }

    /// `(pk, flow id)` of the flows with a segment referencing object `id` (as media or init
    /// object), in flow order after `after_pk`, at most `limit + 1`.
    pub async fn object_flows(
        &self,
        id: &str,
        after_pk: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String, String)>> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT f.pk, f.id, f.doc FROM flows f WHERE f.pk IN ( \
                 SELECT DISTINCT flow_pk FROM segments WHERE object_id = ?1 AND flow_pk > ?2 \
                 UNION SELECT DISTINCT flow_pk FROM segments WHERE init_object_id = ?1 AND flow_pk > ?2) \
             ORDER BY f.pk LIMIT ?3",
        )
        .bind(id)
        .bind(after_pk)
        .bind(i64::from(limit) + 1)
        .fetch_all(self.reader())
        .await?;
        Ok(rows)
    }

    /// Records an instance of an existing object.
    pub async fn add_instance(&self, inst: &NewInstance) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        insert_instances(&mut tx, std::slice::from_ref(inst)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes one instance of object `id` unless it is the last one; returns the deleted
    /// row, `Ok(None)` when no instance matches, and [`IndexError::Conflict`] when it is the last.
    pub async fn delete_instance(
        &self,
        id: &str,
        key: InstanceKey<'_>,
    ) -> Result<Option<InstanceRow>> {
        let mut tx = self.writer().begin().await?;
        let (col, val) = match key {
            InstanceKey::StorageId(s) => ("storage_id", s),
            InstanceKey::Label(l) => ("label", l),
        };
        let found = sqlx::query(&format!(
            "SELECT pk, {INSTANCE_COLS} FROM object_instances WHERE object_id = ? AND {col} = ? ORDER BY pk LIMIT 1"
        ))
        .bind(id)
        .bind(val)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(found) = found else {
            return Ok(None);
        };
        let pk: i64 = found.try_get(0)?;
        let total: i64 =
            sqlx::query_scalar("SELECT count(*) FROM object_instances WHERE object_id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if total <= 1 {
            return Err(IndexError::Conflict(format!(
                "instance is the only one of object {id}"
            )));
        }
        sqlx::query("DELETE FROM object_instances WHERE pk = ?")
            .bind(pk)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let row = InstanceRow {
            object_id: found.try_get(1)?,
            storage_id: found.try_get(2)?,
            url: found.try_get(3)?,
            label: found.try_get(4)?,
            controlled: found.try_get::<i64, _>(5)? != 0,
            doc: found.try_get(6)?,
        };
        Ok(Some(row))
    }

    /// Ids of objects without references whose collection time is before `now_ms`.
    pub async fn collectable_objects(&self, now_ms: i64, limit: u32) -> Result<Vec<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM objects WHERE ref_count = 0 AND collect_after_ms < ? ORDER BY collect_after_ms LIMIT ?",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        Ok(ids)
    }

    /// Deletes object `id` and its instances if it is still unreferenced and collectable at
    /// `now_ms` (a registration that raced with collection wins). Returns the controlled
    /// instances whose bytes the caller must delete, or `None` if the object was kept.
    pub async fn delete_collectable_object(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<Vec<InstanceRow>>> {
        let mut tx = self.writer().begin().await?;
        let deleted = sqlx::query(
            "DELETE FROM objects WHERE id = ? AND ref_count = 0 AND collect_after_ms < ?",
        )
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 0 {
            return Ok(None);
        }
        let rows = sqlx::query(&format!(
            "DELETE FROM object_instances WHERE object_id = ? RETURNING {INSTANCE_COLS}"
        ))
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(instance_row)
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// The ids among `ids` that have no object row.
    pub async fn unknown_objects<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT value FROM json_each(?) WHERE value NOT IN (SELECT id FROM objects)",
        )
        .bind(json_list(ids))
        .fetch_all(self.reader())
        .await?;
        Ok(ids)
    }
}

impl SegmentWriter {
    /// The objects among `ids` that are recorded, read inside the transaction.
    pub async fn objects<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<Vec<ObjectRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {OBJECT_COLS} FROM objects WHERE id IN (SELECT value FROM json_each(?))"
        ))
        .bind(json_list(ids))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(object_row).collect()
    }

    /// Creates objects first seen in a registration (held outside this store's storage),
    /// with their uncontrolled instances.
    pub async fn create_external_objects(
        &mut self,
        ids: &[String],
        created_ms: i64,
        instances: &[NewInstance],
    ) -> Result<()> {
        for id in ids {
            sqlx::query("INSERT INTO objects (id, created_ms, ref_count) VALUES (?, ?, 0)")
                .bind(id)
                .bind(created_ms)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| conflict_on_unique(e, || format!("object {id} exists already")))?;
        }
        insert_instances(&mut self.tx, instances).await
    }

    /// Adds uncontrolled instances to existing objects, ignoring ones already recorded.
    pub async fn add_instances_if_new(&mut self, instances: &[NewInstance]) -> Result<()> {
        for i in instances {
            sqlx::query(&format!(
                "INSERT OR IGNORE INTO object_instances ({INSTANCE_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .bind(&i.object_id)
            .bind(&i.storage_id)
            .bind(&i.url)
            .bind(&i.label)
            .bind(i64::from(i.controlled))
            .bind(&i.doc)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Adds references to objects (aggregated per object by the caller) in one statement:
    /// they stop being collectable, and an object's first registration fixes its first
    /// flow, timerange and doc.
    pub async fn add_object_refs(&mut self, refs: &[ObjectRefs]) -> Result<()> {
        if refs.is_empty() {
            return Ok(());
        }
        let list: Vec<serde_json::Value> = refs
            .iter()
            .map(|r| {
                serde_json::json!([
                    r.id,
                    r.added,
                    r.first_referenced_by_flow,
                    r.object_timerange,
                    r.doc
                ])
            })
            .collect();
        sqlx::query(
            "UPDATE objects SET ref_count = objects.ref_count + d.n, collect_after_ms = NULL, \
                 first_referenced_by_flow = coalesce(objects.first_referenced_by_flow, d.first), \
                 object_timerange = coalesce(objects.object_timerange, d.tr), \
                 doc = coalesce(d.doc, objects.doc) \
             FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS n, \
                          json_extract(value, '$[2]') AS first, json_extract(value, '$[3]') AS tr, \
                          json_extract(value, '$[4]') AS doc FROM json_each(?)) AS d \
             WHERE objects.id = d.id",
        )
        .bind(serde_json::Value::Array(list).to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
