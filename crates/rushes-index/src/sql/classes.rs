//! Auth classes: the rows that hold the `auth_classes` tag of sources, flows (effective
//! classes) and webhooks, and the predicate that filters listings by them.

use super::listing::Sql;
use crate::db::{p, Conn};
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
pub(crate) fn classes_of(c: Conn<'_>, kind: i64, pk: i64) -> Result<Vec<String>> {
    c.query(
        "SELECT class FROM resource_classes WHERE kind = ?1 AND pk = ?2 ORDER BY class",
        p![kind, pk],
        |r| r.get(0),
    )
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
         AND rc.class IN ("
    ));
    q.push_pick(
        "SELECT value FROM json_each(",
        "SELECT jsonb_array_elements_text(CAST(",
    )
    .bind(json_list(classes))
    .push_pick(")", " AS jsonb))")
    .push(")))");
}

impl Tx<'_> {
    /// Replaces the classes of resource `(kind, pk)`; true when they changed.
    pub(crate) fn set_classes(&self, kind: i64, pk: i64, classes: &[String]) -> Result<bool> {
        let mut wanted: Vec<&String> = classes.iter().collect();
        wanted.sort();
        wanted.dedup();
        let current = classes_of(self.db, kind, pk)?;
        if current.iter().eq(wanted.iter().copied()) {
            return Ok(false);
        }
        self.clear_classes(kind, pk)?;
        for c in wanted {
            self.db.execute(
                "INSERT INTO resource_classes (kind, pk, class) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
                p![kind, pk, c],
            )?;
        }
        Ok(true)
    }

    /// Removes every class row of resource `(kind, pk)`.
    pub(crate) fn clear_classes(&self, kind: i64, pk: i64) -> Result<()> {
        self.db.execute(
            "DELETE FROM resource_classes WHERE kind = ?1 AND pk = ?2",
            p![kind, pk],
        )?;
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
                let source_pk: Option<i64> = self.db.query_opt(
                    "SELECT pk FROM sources WHERE id = ?1",
                    p![source_id],
                    |r| r.get(0),
                )?;
                match source_pk {
                    Some(spk) => classes_of(self.db, SOURCE, spk)?,
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
        self.db.execute(
            self.db.pick(
                "DELETE FROM resource_classes WHERE kind = ?1 AND pk IN (SELECT f.pk FROM flows f \
                 WHERE f.source_id = ?2 AND json_type(f.doc, '$.tags.auth_classes') IS NULL)",
                "DELETE FROM resource_classes WHERE kind = ?1 AND pk IN (SELECT f.pk FROM flows f \
                 WHERE f.source_id = ?2 AND (f.doc::jsonb #> '{tags,auth_classes}') IS NULL)",
            ),
            p![FLOW, source_id],
        )?;
        self.db.execute(
            self.db.pick(
                "INSERT INTO resource_classes (kind, pk, class) \
                 SELECT ?1, f.pk, c.class FROM flows f JOIN resource_classes c ON c.kind = ?2 AND c.pk = ?3 \
                 WHERE f.source_id = ?4 AND json_type(f.doc, '$.tags.auth_classes') IS NULL \
                 ON CONFLICT DO NOTHING",
                "INSERT INTO resource_classes (kind, pk, class) \
                 SELECT CAST(?1 AS BIGINT), f.pk, c.class FROM flows f JOIN resource_classes c ON c.kind = ?2 AND c.pk = ?3 \
                 WHERE f.source_id = ?4 AND (f.doc::jsonb #> '{tags,auth_classes}') IS NULL \
                 ON CONFLICT DO NOTHING",
            ),
            p![FLOW, SOURCE, source_pk, source_id],
        )?;
        Ok(())
    }

    /// The effective classes of flow `pk`, read inside the transaction.
    pub fn flow_classes(&self, pk: i64) -> Result<Vec<String>> {
        classes_of(self.db, FLOW, pk)
    }

    /// Whether object `object_id` is referenced (as media or init object) by a segment of
    /// a flow that is unclassified or shares one of `classes`.
    pub fn object_visible(&self, object_id: &str, classes: &[String]) -> Result<bool> {
        object_visible(self.db, object_id, classes)
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
fn object_visible(c: Conn<'_>, object_id: &str, classes: &[String]) -> Result<bool> {
    let found = c.query_opt(
        c.pick(
            "SELECT 1 FROM (SELECT flow_pk FROM segments WHERE object_id = ?1 \
             UNION SELECT flow_pk FROM segments WHERE init_object_id = ?1) s \
             WHERE NOT EXISTS (SELECT 1 FROM resource_classes rc WHERE rc.kind = 2 AND rc.pk = s.flow_pk) \
             OR EXISTS (SELECT 1 FROM resource_classes rc WHERE rc.kind = 2 AND rc.pk = s.flow_pk \
             AND rc.class IN (SELECT value FROM json_each(?2))) LIMIT 1",
            "SELECT 1 FROM (SELECT flow_pk FROM segments WHERE object_id = ?1 \
             UNION SELECT flow_pk FROM segments WHERE init_object_id = ?1) s \
             WHERE NOT EXISTS (SELECT 1 FROM resource_classes rc WHERE rc.kind = 2 AND rc.pk = s.flow_pk) \
             OR EXISTS (SELECT 1 FROM resource_classes rc WHERE rc.kind = 2 AND rc.pk = s.flow_pk \
             AND rc.class IN (SELECT jsonb_array_elements_text(CAST(?2 AS jsonb)))) LIMIT 1",
        ),
        p![object_id, json_list(classes)],
        |_| Ok(()),
    )?;
    Ok(found.is_some())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn listings_and_objects_are_visible_when_unclassified_or_sharing_a_class() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE resource_classes (kind INTEGER NOT NULL, pk INTEGER NOT NULL, \
             class TEXT NOT NULL, PRIMARY KEY (kind, pk, class)); \
             CREATE TABLE segments (flow_pk INTEGER, object_id TEXT, init_object_id TEXT); \
             CREATE TABLE f (pk INTEGER PRIMARY KEY); \
             INSERT INTO f (pk) VALUES (1), (2), (3); \
             INSERT INTO resource_classes VALUES (2, 2, 'a'), (2, 3, 'b'), (2, 3, 'c'), (1, 1, 'a'); \
             INSERT INTO segments VALUES (1, 'o1', NULL), (2, 'o2', 'i2'), (3, 'o2', NULL);",
        )
        .unwrap();
        let c = Conn::Lite(&c);
        let visible = |classes: &[&str]| {
            let classes: Vec<String> = classes.iter().map(|s| s.to_string()).collect();
            let mut q = Sql::new("SELECT f.pk FROM f WHERE 1=1");
            push_visible(&mut q, FLOW, "f.pk", &classes);
            q.push(" ORDER BY f.pk");
            q.query(c, |r| r.get::<i64>(0)).unwrap()
        };
        assert_eq!(visible(&[]), vec![1]);
        assert_eq!(visible(&["a"]), vec![1, 2]);
        assert_eq!(visible(&["c", "x"]), vec![1, 3]);
        let object = |id: &str, classes: &[&str]| {
            let classes: Vec<String> = classes.iter().map(|s| s.to_string()).collect();
            object_visible(c, id, &classes).unwrap()
        };
        assert!(object("o1", &[]));
        assert!(!object("o2", &[]));
        assert!(object("o2", &["b"]));
        assert!(object("i2", &["a"]));
        assert!(!object("i2", &["b"]));
        assert!(!object("o9", &["a"]));
        assert_eq!(classes_of(c, FLOW, 3).unwrap(), vec!["b", "c"]);
        assert!(classes_of(c, FLOW, 1).unwrap().is_empty());
    }
}
