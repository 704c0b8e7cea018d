//! Media objects: allocation, reference counts (as [`Tx`] methods used by registrations),
//! instances, the flows that reference an object, and the queries of garbage collection.

use crate::db::{p, Conn, IntArray, Row, TextArray};
use crate::error::conflict_on_unique;
use crate::sql::classes::json_list;
use crate::sql::Tx;
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
/// The same shape is read back and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
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

/// The flows with a segment referencing object `?1` after flow pk `?2`.
macro_rules! object_flows_base {
    () => {
        "SELECT f.pk, f.id, f.doc FROM flows f WHERE f.pk IN ( \
         SELECT DISTINCT flow_pk FROM segments WHERE object_id = ?1 AND flow_pk > ?2 \
         UNION SELECT DISTINCT flow_pk FROM segments WHERE init_object_id = ?1 AND flow_pk > ?2)"
    };
}

/// ` AND` flow `f` is unclassified or has one of the classes the query `$classes` lists.
macro_rules! object_flows_visible {
    ($classes:literal) => {
        concat!(
            " AND (NOT EXISTS (SELECT 1 FROM resource_classes rc WHERE rc.kind = 2 AND rc.pk = f.pk) \
             OR EXISTS (SELECT 1 FROM resource_classes rc WHERE rc.kind = 2 AND rc.pk = f.pk \
             AND rc.class IN (",
            $classes,
            ")))"
        )
    };
}

const OBJECT_SQL: &str = "SELECT id, allocated_for_flow, first_referenced_by_flow, \
     object_timerange, content_type, ref_count, collect_after_ms, created_ms, doc \
     FROM objects WHERE id = ?1";

fn object_row(r: &Row<'_>) -> Result<ObjectRow> {
    Ok(ObjectRow {
        id: r.get(0)?,
        allocated_for_flow: r.get(1)?,
        first_referenced_by_flow: r.get(2)?,
        object_timerange: r.get(3)?,
        content_type: r.get(4)?,
        ref_count: r.get(5)?,
        collect_after_ms: r.get(6)?,
        created_ms: r.get(7)?,
        doc: r.get(8)?,
    })
}

/// An instance row from column `at` on: object_id, storage_id, url, label, controlled, doc.
pub(crate) fn instance_row_at(r: &Row<'_>, at: usize) -> Result<InstanceRow> {
    Ok(InstanceRow {
        object_id: r.get(at)?,
        storage_id: r.get(at + 1)?,
        url: r.get(at + 2)?,
        label: r.get(at + 3)?,
        controlled: r.get::<i64>(at + 4)? != 0,
        doc: r.get(at + 5)?,
    })
}

fn owned_ids<S: AsRef<str>>(ids: &[S]) -> Vec<String> {
    ids.iter().map(|s| s.as_ref().to_owned()).collect()
}

/// The objects among `ids` that are recorded, one primary-key lookup each.
/// [`OBJECT_SQL`] for a whole list of ids at once (PostgreSQL: one round trip).
const OBJECTS_ANY_SQL: &str = "SELECT id, allocated_for_flow, first_referenced_by_flow, \
     object_timerange, content_type, ref_count, collect_after_ms, created_ms, doc \
     FROM objects WHERE id = ANY(CAST(?1 AS TEXT[])) ORDER BY id";

fn objects_by_id<S: AsRef<str>>(conn: Conn<'_>, ids: &[S]) -> Result<Vec<ObjectRow>> {
    if conn.is_pg() && ids.len() > 1 {
        let list = TextArray(ids.iter().map(|i| Some(i.as_ref())).collect());
        return conn.query(OBJECTS_ANY_SQL, p![list], object_row);
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(row) = conn.query_opt(OBJECT_SQL, p![id.as_ref()], object_row)? {
            out.push(row);
        }
    }
    Ok(out)
}

fn insert_instance(conn: Conn<'_>, i: &InstanceRow, or_ignore: bool) -> Result<usize> {
    let sql = if or_ignore {
        "INSERT INTO object_instances \
         (object_id, storage_id, url, label, controlled, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT DO NOTHING"
    } else {
        "INSERT INTO object_instances \
         (object_id, storage_id, url, label, controlled, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    };
    conn.execute(
        sql,
        p![
            i.object_id,
            i.storage_id,
            i.url,
            i.label,
            i.controlled,
            i.doc
        ],
    )
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("object {} already has that instance", i.object_id)
        })
    })
}

/// The instances of the objects `ids` with their object's `content_type`, controlled
/// first, then in registration order. Two lookups per object, each on one of the partial
/// unique indexes (controlled instances have a `storage_id`, uncontrolled ones none).
pub(crate) fn instances_of<S: AsRef<str>>(
    conn: Conn<'_>,
    ids: &[S],
) -> Result<Vec<(InstanceRow, Option<String>)>> {
    const SQL: &str =
        "SELECT i.pk, i.object_id, i.storage_id, i.url, i.label, i.controlled, i.doc, o.content_type \
         FROM object_instances i JOIN objects o ON o.id = i.object_id \
         WHERE i.object_id = ?1 AND i.storage_id IS NOT NULL \
         UNION ALL \
         SELECT i.pk, i.object_id, i.storage_id, i.url, i.label, i.controlled, i.doc, o.content_type \
         FROM object_instances i JOIN objects o ON o.id = i.object_id \
         WHERE i.object_id = ?1 AND i.storage_id IS NULL";
    // PostgreSQL: the instances of every id in one round trip (each half of the union
    // walks one of the two partial indexes on object_id).
    const ANY_SQL: &str =
        "SELECT i.pk, i.object_id, i.storage_id, i.url, i.label, i.controlled, i.doc, o.content_type \
         FROM object_instances i JOIN objects o ON o.id = i.object_id \
         WHERE i.object_id = ANY(CAST(?1 AS TEXT[])) AND i.storage_id IS NOT NULL \
         UNION ALL \
         SELECT i.pk, i.object_id, i.storage_id, i.url, i.label, i.controlled, i.doc, o.content_type \
         FROM object_instances i JOIN objects o ON o.id = i.object_id \
         WHERE i.object_id = ANY(CAST(?1 AS TEXT[])) AND i.storage_id IS NULL";
    let row = |r: &Row<'_>| {
        let inst = instance_row_at(r, 1)?;
        Ok((inst.controlled, r.get::<i64>(0)?, (inst, r.get(7)?)))
    };
    let mut out: Vec<(bool, i64, (InstanceRow, Option<String>))> = Vec::with_capacity(ids.len());
    if conn.is_pg() && ids.len() > 1 {
        let list = TextArray(ids.iter().map(|i| Some(i.as_ref())).collect());
        out = conn.query(ANY_SQL, p![list], row)?;
    } else {
        for id in ids {
            out.extend(conn.query(SQL, p![id.as_ref()], row)?);
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(out.into_iter().map(|(_, _, row)| row).collect())
}

impl Index {
    /// Records newly allocated objects and their controlled instances in one transaction.
    /// An id that exists already is a [`IndexError::Conflict`] and nothing is recorded.
    pub async fn allocate_objects(&self, objects: &[NewObject]) -> Result<()> {
        if objects.is_empty() {
            return Ok(());
        }
        let objects = objects.to_vec();
        self.write(move |tx| {
            for o in &objects {
                tx.db
                    .execute(
                        "INSERT INTO objects \
                         (id, allocated_for_flow, content_type, created_ms, collect_after_ms, ref_count) \
                         VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                        p![
                            o.id,
                            o.allocated_for_flow,
                            o.content_type,
                            o.created_ms,
                            o.collect_after_ms
                        ],
                    )
                    .map_err(|e| {
                        conflict_on_unique(e, || {
                            "an object with one of those ids exists already".to_owned()
                        })
                    })?;
                tx.db.execute(
                    "INSERT INTO object_instances (object_id, storage_id, controlled, doc) \
                     VALUES (?1, ?2, 1, '{}')",
                    p![o.id, o.storage_id],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// The object `id`, if recorded.
    pub async fn object(&self, id: &str) -> Result<Option<ObjectRow>> {
        let id = id.to_owned();
        self.read(move |c| c.query_opt(OBJECT_SQL, p![id], object_row))
            .await
    }

    /// The objects among `ids` that are recorded.
    pub async fn objects<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<ObjectRow>> {
        let ids = owned_ids(ids);
        self.read(move |c| objects_by_id(c, &ids)).await
    }

    /// The instances of the objects `ids`, controlled first, then in registration order,
    /// each with its object's `content_type`.
    pub async fn instances<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> Result<Vec<(InstanceRow, Option<String>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = owned_ids(ids);
        self.read(move |c| instances_of(c, &ids)).await
    }

    /// `(pk, flow id, flow doc)` of the flows with a segment referencing object `id` (as
    /// media or init object), in flow order after `after_pk`, at most `limit + 1`. With
    /// `visible_to`, only flows that are unclassified or share one of those auth classes.
    pub async fn object_flows(
        &self,
        id: &str,
        after_pk: i64,
        limit: u32,
        visible_to: Option<&[String]>,
    ) -> Result<Vec<(i64, String, String)>> {
        let id = id.to_owned();
        let visible = visible_to.map(json_list);
        self.read(move |c| {
            let map = |r: &Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
            let limit = i64::from(limit) + 1;
            match &visible {
                None => c.query(
                    concat!(object_flows_base!(), " ORDER BY f.pk LIMIT ?3"),
                    p![id, after_pk, limit],
                    map,
                ),
                Some(classes) => c.query(
                    c.pick(
                        concat!(
                            object_flows_base!(),
                            object_flows_visible!("SELECT value FROM json_each(?4)"),
                            " ORDER BY f.pk LIMIT ?3"
                        ),
                        concat!(
                            object_flows_base!(),
                            object_flows_visible!(
                                "SELECT jsonb_array_elements_text(CAST(?4 AS jsonb))"
                            ),
                            " ORDER BY f.pk LIMIT ?3"
                        ),
                    ),
                    p![id, after_pk, limit, classes],
                    map,
                ),
            }
        })
        .await
    }

    /// Records an instance of an existing object.
    pub async fn add_instance(&self, inst: &InstanceRow) -> Result<()> {
        let inst = inst.clone();
        self.write(move |tx| insert_instance(tx.db, &inst, false).map(|_| ()))
            .await
    }

    /// Deletes one instance of object `id` unless it is the last one; returns the deleted
    /// row, `Ok(None)` when no instance matches, and [`IndexError::Conflict`] when it is the last.
    pub async fn delete_instance(
        &self,
        id: &str,
        key: InstanceKey<'_>,
    ) -> Result<Option<InstanceRow>> {
        let id = id.to_owned();
        let (by_label, value) = match key {
            InstanceKey::StorageId(s) => (false, s.to_owned()),
            InstanceKey::Label(l) => (true, l.to_owned()),
        };
        self.write(move |tx| {
            // Each half on one of the partial indexes of object_instances.
            let sql = if by_label {
                "SELECT pk, object_id, storage_id, url, label, controlled, doc FROM object_instances \
                 WHERE object_id = ?1 AND label = ?2 AND storage_id IS NOT NULL \
                 UNION ALL \
                 SELECT pk, object_id, storage_id, url, label, controlled, doc FROM object_instances \
                 WHERE object_id = ?1 AND label = ?2 AND storage_id IS NULL \
                 ORDER BY pk LIMIT 1"
            } else {
                "SELECT pk, object_id, storage_id, url, label, controlled, doc FROM object_instances \
                 WHERE object_id = ?1 AND storage_id = ?2 ORDER BY pk LIMIT 1"
            };
            let found = tx.db.query_opt(sql, p![id, value], |r| {
                Ok((r.get::<i64>(0)?, instance_row_at(r, 1)?))
            })?;
            let Some((pk, row)) = found else {
                return Ok(None);
            };
            let total: i64 = tx.db.query_one(
                "SELECT (SELECT count(*) FROM object_instances \
                         WHERE object_id = ?1 AND storage_id IS NOT NULL) \
                      + (SELECT count(*) FROM object_instances \
                         WHERE object_id = ?1 AND storage_id IS NULL)",
                p![id],
                |r| r.get(0),
            )?;
            if total <= 1 {
                return Err(IndexError::Conflict(format!(
                    "instance is the only one of object {id}"
                )));
            }
            tx.db
                .execute("DELETE FROM object_instances WHERE pk = ?1", p![pk])?;
            Ok(Some(row))
        })
        .await
    }

    /// Ids of objects without references whose collection time is before `now_ms`.
    pub async fn collectable_objects(&self, now_ms: i64, limit: u32) -> Result<Vec<String>> {
        self.read(move |c| {
            c.query(
                "SELECT id FROM objects WHERE ref_count = 0 AND collect_after_ms < ?1 \
                 ORDER BY collect_after_ms LIMIT ?2",
                p![now_ms, limit],
                |r| r.get(0),
            )
        })
        .await
    }

    /// Deletes object `id` and its instances if it is still unreferenced and collectable at
    /// `now_ms` (a registration that raced with collection wins). Returns the controlled
    /// instances whose bytes the caller must delete, or `None` if the object was kept.
    pub async fn delete_collectable_object(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<Vec<InstanceRow>>> {
        let id = id.to_owned();
        self.write(move |tx| {
            let deleted = tx.db.execute(
                "DELETE FROM objects WHERE id = ?1 AND ref_count = 0 AND collect_after_ms < ?2",
                p![id, now_ms],
            )?;
            if deleted == 0 {
                return Ok(None);
            }
            // Each statement on one of the partial indexes of object_instances.
            let mut out = Vec::new();
            for sql in [
                "DELETE FROM object_instances WHERE object_id = ?1 AND storage_id IS NOT NULL \
                 RETURNING pk, object_id, storage_id, url, label, controlled, doc",
                "DELETE FROM object_instances WHERE object_id = ?1 AND storage_id IS NULL \
                 RETURNING pk, object_id, storage_id, url, label, controlled, doc",
            ] {
                out.extend(tx.db.query(sql, p![id], |r| {
                    Ok((r.get::<i64>(0)?, instance_row_at(r, 1)?))
                })?);
            }
            out.sort_by_key(|(pk, _)| *pk);
            Ok(Some(out.into_iter().map(|(_, row)| row).collect()))
        })
        .await
    }

    /// The ids among `ids` that have no object row.
    pub async fn unknown_objects<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<String>> {
        let ids = owned_ids(ids);
        self.read(move |c| {
            let mut unknown = Vec::new();
            for id in ids {
                if c.query_opt("SELECT 1 FROM objects WHERE id = ?1", p![id], |_| Ok(()))?
                    .is_none()
                {
                    unknown.push(id);
                }
            }
            Ok(unknown)
        })
        .await
    }
}

impl Tx<'_> {
    /// The objects among `ids` that are recorded, read inside the transaction.
    pub fn objects<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<ObjectRow>> {
        objects_by_id(self.db, ids)
    }

    /// Creates objects first seen in a registration (held outside this store's storage),
    /// with their uncontrolled instances.
    pub fn create_external_objects(
        &self,
        ids: &[String],
        created_ms: i64,
        instances: &[InstanceRow],
    ) -> Result<()> {
        for id in ids {
            self.db
                .execute(
                    "INSERT INTO objects (id, created_ms, ref_count) VALUES (?1, ?2, 0)",
                    p![id, created_ms],
                )
                .map_err(|e| conflict_on_unique(e, || format!("object {id} exists already")))?;
        }
        for i in instances {
            insert_instance(self.db, i, false)?;
        }
        Ok(())
    }

    /// Adds uncontrolled instances to existing objects, ignoring ones already recorded.
    pub fn add_instances_if_new(&self, instances: &[InstanceRow]) -> Result<()> {
        for i in instances {
            insert_instance(self.db, i, true)?;
        }
        Ok(())
    }

    /// Adds references to objects (aggregated per object by the caller), one statement
    /// per object: they stop being collectable, and an object's first registration fixes
    /// its first flow, timerange and doc.
    pub fn add_object_refs(&self, refs: &[ObjectRefs]) -> Result<()> {
        if self.db.is_pg() && refs.len() > 1 {
            // One statement for the whole list (ids are distinct: aggregated per object).
            let ids = TextArray(refs.iter().map(|r| Some(r.id.as_str())).collect());
            let added = IntArray(refs.iter().map(|r| r.added).collect());
            let flows = TextArray(
                refs.iter()
                    .map(|r| r.first_referenced_by_flow.as_deref())
                    .collect(),
            );
            let ranges = TextArray(refs.iter().map(|r| r.object_timerange.as_deref()).collect());
            let docs = TextArray(refs.iter().map(|r| r.doc.as_deref()).collect());
            self.db.execute_later(
                "UPDATE objects o SET ref_count = o.ref_count + r.added, collect_after_ms = NULL, \
                     first_referenced_by_flow = coalesce(o.first_referenced_by_flow, r.flow), \
                     object_timerange = coalesce(o.object_timerange, r.timerange), \
                     doc = coalesce(r.doc, o.doc) \
                 FROM unnest(CAST(?1 AS TEXT[]), CAST(?2 AS BIGINT[]), CAST(?3 AS TEXT[]), \
                             CAST(?4 AS TEXT[]), CAST(?5 AS TEXT[])) \
                      AS r(id, added, flow, timerange, doc) \
                 WHERE o.id = r.id",
                p![ids, added, flows, ranges, docs],
            )?;
            return Ok(());
        }
        for r in refs {
            self.db.execute_later(
                "UPDATE objects SET ref_count = ref_count + ?2, collect_after_ms = NULL, \
                     first_referenced_by_flow = coalesce(first_referenced_by_flow, ?3), \
                     object_timerange = coalesce(object_timerange, ?4), \
                     doc = coalesce(?5, doc) \
                 WHERE id = ?1",
                p![
                    r.id,
                    r.added,
                    r.first_referenced_by_flow,
                    r.object_timerange,
                    r.doc
                ],
            )?;
        }
        Ok(())
    }
}
