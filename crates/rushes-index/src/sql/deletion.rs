//! Flow deletion requests: rows claimed by workers under a lease, and their listings.

use super::classes::{classes_of, push_visible, DELETION, FLOW};
use super::listing::{paginate, Order, Page, PageKey, Sql};
use crate::db::{p, Conn, Row};
use crate::sql::Tx;
use crate::{Index, Result};

/// A stored deletion request. `doc` is the request as clients see it.
#[derive(Debug, Clone)]
pub struct DeletionRow {
    pub pk: i64,
    pub id: String,
    pub flow_id: String,
    pub flow_pk: Option<i64>,
    pub status: String,
    pub doc: String,
}

/// A deletion request to insert.
#[derive(Debug, Clone)]
pub struct NewDeletion<'a> {
    pub id: &'a str,
    pub flow_id: &'a str,
    pub flow_pk: i64,
    pub status: &'a str,
    pub doc: &'a str,
    pub created_ms: i64,
    pub expiry_ms: Option<i64>,
}

/// How a listing of deletion requests is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionSort {
    Created,
    Expiry,
}

const COLS: &str = "d.pk, d.id, d.flow_id, d.flow_pk, d.status, d.doc";

/// Reads a row of [`COLS`] (columns 0 to 5).
fn deletion_row(r: &Row<'_>) -> Result<DeletionRow> {
    Ok(DeletionRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        flow_id: r.get(2)?,
        flow_pk: r.get(3)?,
        status: r.get(4)?,
        doc: r.get(5)?,
    })
}

/// Deletion request `id`, if any.
fn deletion_by_id(c: Conn<'_>, id: &str) -> Result<Option<DeletionRow>> {
    c.query_opt(
        "SELECT d.pk, d.id, d.flow_id, d.flow_pk, d.status, d.doc \
         FROM deletion_requests d WHERE d.id = ?1",
        p![id],
        deletion_row,
    )
}

impl Index {
    /// Deletion request `id`, if any.
    pub async fn get_deletion(&self, id: &str) -> Result<Option<DeletionRow>> {
        let id = id.to_owned();
        self.read(move |c| deletion_by_id(c, &id)).await
    }

    /// Deletion request `id` and its auth classes (its Flow's when it was made), in one read.
    pub async fn get_deletion_with_classes(
        &self,
        id: &str,
    ) -> Result<Option<(DeletionRow, Vec<String>)>> {
        let id = id.to_owned();
        self.read(move |c| {
            let Some(row) = deletion_by_id(c, &id)? else {
                return Ok(None);
            };
            let classes = classes_of(c, DELETION, row.pk)?;
            Ok(Some((row, classes)))
        })
        .await
    }

    /// The unfinished deletion request of Flow `flow_id`, if any.
    pub async fn pending_deletion_for_flow(&self, flow_id: &str) -> Result<Option<DeletionRow>> {
        let flow_id = flow_id.to_owned();
        self.read(move |c| {
            c.query_opt(
                "SELECT d.pk, d.id, d.flow_id, d.flow_pk, d.status, d.doc \
                 FROM deletion_requests d WHERE d.flow_id = ?1 \
                 AND d.status IN ('created', 'started') ORDER BY d.pk LIMIT 1",
                p![flow_id],
                deletion_row,
            )
        })
        .await
    }

    /// One page of deletion requests. `created` and `expiry` sort most recent first by
    /// default; requests without an expiry sort after the others (before when reversed).
    /// With `visible_to`, only requests that are unclassified or share one of those classes.
    pub async fn list_deletions(
        &self,
        sort: DeletionSort,
        reverse: bool,
        after: Option<&PageKey>,
        limit: u32,
        visible_to: Option<&[String]>,
    ) -> Result<Page<DeletionRow>> {
        let order = match sort {
            DeletionSort::Created => Order {
                k1: "d.created_ms",
                k2: "''",
                pk: "d.pk",
                desc: !reverse,
            },
            // Unset expiry (fallback) last by default: k1 = -1 sorts after any time when descending.
            DeletionSort::Expiry => Order {
                k1: "COALESCE(d.expiry_ms, -1)",
                k2: "''",
                pk: "d.pk",
                desc: !reverse,
            },
        };
        let mut q = Sql::new(format!("SELECT {COLS}"));
        order.push_select(&mut q);
        q.push(" FROM deletion_requests d WHERE 1=1");
        if let Some(classes) = visible_to {
            push_visible(&mut q, DELETION, "d.pk", classes);
        }
        order.push_after(&mut q, after);
        order.push_order_limit(&mut q, limit);
        let rows = self
            .read(move |c| {
                q.query(c, |r| {
                    let row = deletion_row(r)?;
                    let key = PageKey {
                        k1: r.get(6)?,
                        k2: String::new(),
                        pk: row.pk,
                    };
                    Ok((row, key))
                })
            })
            .await?;
        Ok(paginate(rows, limit))
    }
}

impl Tx<'_> {
    /// Inserts a deletion request; it keeps its Flow's auth classes of this moment.
    pub fn insert_deletion(&self, d: &NewDeletion<'_>) -> Result<()> {
        let pk: i64 = self.db.query_one(
            "INSERT INTO deletion_requests (id, flow_id, flow_pk, status, doc, created_ms, expiry_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING pk",
            p![
                d.id,
                d.flow_id,
                d.flow_pk,
                d.status,
                d.doc,
                d.created_ms,
                d.expiry_ms
            ],
            |r| r.get(0),
        )?;
        self.set_classes(DELETION, pk, &classes_of(self.db, FLOW, d.flow_pk)?)?;
        Ok(())
    }

    /// Claims one unfinished request whose lease is free or has expired, for `owner`
    /// until `lease_until_ms`.
    pub fn claim_deletion(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<DeletionRow>> {
        self.db.query_opt(
            "UPDATE deletion_requests SET lease_owner = ?1, lease_until_ms = ?2 WHERE pk = (\
               SELECT pk FROM deletion_requests WHERE status IN ('created', 'started') \
               AND (lease_until_ms IS NULL OR lease_until_ms < ?3) ORDER BY pk LIMIT 1) \
             RETURNING pk, id, flow_id, flow_pk, status, doc",
            p![owner, lease_until_ms, now_ms],
            deletion_row,
        )
    }

    /// Records progress of a claimed request, extending the lease (or releasing it when
    /// `lease_until_ms` is `None`), and setting `expiry_ms` if given. False when `owner` no
    /// longer holds the lease.
    pub fn update_deletion(
        &self,
        pk: i64,
        owner: &str,
        status: &str,
        doc: &str,
        lease_until_ms: Option<i64>,
        expiry_ms: Option<i64>,
    ) -> Result<bool> {
        let changed = self.db.execute(
            "UPDATE deletion_requests SET status = ?1, doc = ?2, expiry_ms = COALESCE(?3, expiry_ms), \
             lease_until_ms = ?4, lease_owner = CASE WHEN CAST(?4 AS BIGINT) IS NULL THEN NULL ELSE lease_owner END \
             WHERE pk = ?5 AND lease_owner = ?6",
            p![status, doc, expiry_ms, lease_until_ms, pk, owner],
        )?;
        Ok(changed == 1)
    }

    /// Removes finished requests whose expiry has passed.
    pub fn delete_expired_deletions(&self, now_ms: i64) -> Result<u64> {
        let deleted = self.db.execute(
            "DELETE FROM deletion_requests WHERE status IN ('done', 'error') \
             AND expiry_ms IS NOT NULL AND expiry_ms < ?1",
            p![now_ms],
        )?;
        if deleted > 0 {
            self.db.execute(
                "DELETE FROM resource_classes WHERE kind = ?1 \
                 AND pk NOT IN (SELECT pk FROM deletion_requests)",
                p![DELETION],
            )?;
        }
        Ok(deleted as u64)
    }
}
