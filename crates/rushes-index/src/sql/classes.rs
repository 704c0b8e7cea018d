//! Auth classes: the rows that hold the `auth_classes` tag of sources, flows (effective
//! classes) and webhooks, and the predicate that filters listings by them.

use rusqlite::{params, Connection};

use super::listing::Sql;
use crate::sql::Tx;
use crate::Result;

/// `resource_classes.kind` of a source's own classes.
pub(crate) const SOURCE: i64 = 1;
/// `resource_classes.kind` of a flow's effective classes.
pub(crate) const FLOW: i64 = 2;
/// `resource_classes.kind` of a webhook's classes.
pub(crate) const WEBHOOK: i64 = 3;
/// `resource_classes.kind` of a flow deletion request: its flow's classes when made.
pub(crate) const DELETION: i64 = 4;

/// The classes of resource `(kind, pk)`, sorted; empty when unclassified.
pub(crate) fn classes_of(c: &Connection, kind: i64, pk: i64) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT class FROM resource_classes WHERE kind = ?1 AND pk = ?2 ORDER BY class",
    )?;
    let rows = st
        .query_map(params![kind, pk], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(rows)
}

/// The classes as a JSON array, bound as one parameter (so the statement stays cacheable).
pub(crate) fn json_list(classes: &[String]) -> String {
    serde_json::Value::from(classes.to_vec()).to_string()
}

/// Adds ` AND (...)`: the row `pk_expr` of `kind` is unclassified or shares one of
/// `classes`. The filter is part of the keyset query, so pages stay full.
pub(crate) fn push_visible(q: &mut Sql, kind: i64, pk_expr: &str, classes: &[String]) {
    q.push(&format!(
        " AND (NOT EXISTS (SELECT 1 FROM resource_classes rc WHERE rc.kind = {kind} AND rc.pk = {pk_expr}) \
         OR EXISTS (SELECT 1 FROM resource_classes rc WHERE rc.kind = {kind} AND rc.pk = {pk_expr} \
         AND rc.class IN (SELECT value FROM json_each("
    ));
    q.bind(json_list(classes)).push("))))");
}

impl Tx<'_> {
    /// Replaces the classes of resource `(kind, pk)`; true when they changed.
    pub(crate) fn set_classes(&self, kind: i64, pk: i64, classes: &[String]) -> Result<bool> {
        let mut wanted: Vec<&String> = classes.iter().collect();
        wanted.sort();
        wanted.dedup();
        let current = classes_of(self.conn, kind, pk)?;
        if current.iter().eq(wanted.iter().copied()) {
            return Ok(false);
        }
        self.clear_classes(kind, pk)?;
        let mut st = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO resource_classes (kind, pk, class) VALUES (?1, ?2, ?3)",
        )?;
        for c in wanted {
            st.execute(params![kind, pk, c])?;
        }
        Ok(true)
    }

    /// Removes every class row of resource `(kind, pk)`.
    pub(crate) fn clear_classes(&self, kind: i64, pk: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM resource_classes WHERE kind = ?1 AND pk = ?2")?
            .execute(params![kind, pk])?;
        Ok(())
    }

    /// Sets flow `pk`'s effective classes: `own` (its tag) when given, else its source's.
    pub(crate) fn set_flow_classes(
        &self,
        pk: i64,
        own: Option<&[String]>,
        source_id: &str,
    ) -> Result<()> {
        let classes = match own {
            Some(own) => own.to_vec(),
            None => {
                let source_pk: Option<i64> = {
                    use rusqlite::OptionalExtension;
                    self.conn
                        .prepare_cached("SELECT pk FROM sources WHERE id = ?1")?
                        .query_row([source_id], |r| r.get(0))
                        .optional()?
                };
                match source_pk {
                    Some(spk) => classes_of(self.conn, SOURCE, spk)?,
                    None => Vec::new(),
                }
            }
        };
        self.set_classes(FLOW, pk, &classes)?;
        Ok(())
    }

    /// Rewrites the effective classes of the flows of source `source_id` that have no
    /// `auth_classes` tag of their own, from the source's classes (after the source's tag
    /// changed). Bounded by that source's flows.
    pub(crate) fn refresh_source_flows(&self, source_pk: i64, source_id: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "DELETE FROM resource_classes WHERE kind = ?1 AND pk IN (SELECT f.pk FROM flows f \
                 WHERE f.source_id = ?2 AND json_type(f.doc, '$.tags.auth_classes') IS NULL)",
            )?
            .execute(params![FLOW, source_id])?;
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO resource_classes (kind, pk, class) \
                 SELECT ?1, f.pk, c.class FROM flows f JOIN resource_classes c ON c.kind = ?2 AND c.pk = ?3 \
                 WHERE f.source_id = ?4 AND json_type(f.doc, '$.tags.auth_classes') IS NULL",
            )?
            .execute(params![FLOW, SOURCE, source_pk, source_id])?;
        Ok(())
    }

    /// The effective classes of flow `pk`, read inside the transaction.
    pub fn flow_classes(&self, pk: i64) -> Result<Vec<String>> {
        classes_of(self.conn, FLOW, pk)
    }

    /// Whether object `object_id` is referenced (as media or init object) by a segment of
    /// a flow that is unclassified or shares one of `classes`.
    pub fn object_visible(&self, object_id: &str, classes: &[String]) -> Result<bool> {
        object_visible(self.conn, object_id, classes)
    }
}

impl crate::Index {
    /// Whether object `object_id` is referenced by a segment of a flow that is
    /// unclassified or shares one of `classes` (as [`Tx::object_visible`]).
    pub async fn object_visible(&self, object_id: &str, classes: &[String]) -> Result<bool> {
        let (id, classes) = (object_id.to_owned(), classes.to_vec());
        self.read(move |c| object_visible(c, &id, &classes)).await
    }
}

/// See [`Tx::object_visible`].
fn object_visible(c: &Connection, object_id: &str, classes: &[String]) -> Result<bool> {
    use rusqlite::OptionalExtension;
    let found = c
        .prepare_cached(
            "SELECT 1 FROM (SELECT flow_pk FROM segments WHERE object_id = ?1 \
             UNION SELECT flow_pk FROM segments WHERE init_object_id = ?1) s \
             WHERE NOT EXISTS (SELECT 1 FROM resource_classes rc WHERE rc.kind = 2 AND rc.pk = s.flow_pk) \
             OR EXISTS (SELECT 1 FROM resource_classes rc WHERE rc.kind = 2 AND rc.pk = s.flow_pk \
             AND rc.class IN (SELECT value FROM json_each(?2))) LIMIT 1",
        )?
        .query_row(params![object_id, json_list(classes)], |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}
