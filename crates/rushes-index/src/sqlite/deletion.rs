//! Flow deletion requests: rows claimed by workers under a lease, and their listings.

use sqlx::{QueryBuilder, Row, Sqlite};

use super::listing::{paginate, Order, Page, PageKey};
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

fn deletion_row(r: &sqlx::sqlite::SqliteRow) -> Result<DeletionRow> {
    Ok(DeletionRow {
        pk: r.try_get("pk")?,
        id: r.try_get("id")?,
        flow_id: r.try_get("flow_id")?,
        flow_pk: r.try_get("flow_pk")?,
        status: r.try_get("status")?,
        doc: r.try_get("doc")?,
    })
}

impl Index {
    /// Inserts a deletion request.
    pub async fn insert_deletion(&self, d: &NewDeletion<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO deletion_requests (id, flow_id, flow_pk, status, doc, created_ms, expiry_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(d.id)
        .bind(d.flow_id)
        .bind(d.flow_pk)
        .bind(d.status)
        .bind(d.doc)
        .bind(d.created_ms)
        .bind(d.expiry_ms)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Deletion request `id`, if any.
    pub async fn get_deletion(&self, id: &str) -> Result<Option<DeletionRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM deletion_requests d WHERE d.id = ?"
        ))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(deletion_row).transpose()
    }

    /// The unfinished deletion request of Flow `flow_id`, if any.
    pub async fn pending_deletion_for_flow(&self, flow_id: &str) -> Result<Option<DeletionRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM deletion_requests d WHERE d.flow_id = ? AND d.status IN ('created', 'started') ORDER BY d.pk LIMIT 1"
        ))
        .bind(flow_id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(deletion_row).transpose()
    }

    /// One page of deletion requests. `created` and `expiry` sort most recent first by
    /// default; requests without an expiry sort after the others (before when reversed).
    pub async fn list_deletions(
        &self,
        sort: DeletionSort,
        reverse: bool,
        after: Option<&PageKey>,
        limit: u32,
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
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(format!("SELECT {COLS}"));
        order.push_select(&mut qb);
        qb.push(" FROM deletion_requests d WHERE 1=1");
        order.push_after(&mut qb, after);
        order.push_order_limit(&mut qb, limit);
        let rows = qb.build().fetch_all(self.reader()).await?;
        let rows = rows
            .iter()
            .map(|r| {
                let row = deletion_row(r)?;
                let key = PageKey {
                    k1: r.try_get("k1")?,
                    k2: String::new(),
                    pk: row.pk,
                };
                Ok((row, key))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(rows, limit))
    }

    /// Claims one unfinished request whose lease is free or has expired, for `owner`
    /// until `lease_until_ms`.
    pub async fn claim_deletion(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<DeletionRow>> {
        let row = sqlx::query(
            "UPDATE deletion_requests SET lease_owner = ?, lease_until_ms = ? WHERE pk = (\
               SELECT pk FROM deletion_requests WHERE status IN ('created', 'started') \
               AND (lease_until_ms IS NULL OR lease_until_ms < ?) ORDER BY pk LIMIT 1) \
             RETURNING pk, id, flow_id, flow_pk, status, doc",
        )
        .bind(owner)
        .bind(lease_until_ms)
        .bind(now_ms)
        .fetch_optional(self.writer())
        .await?;
        row.as_ref().map(deletion_row).transpose()
    }

    /// Records progress of a claimed request, extending the lease (or releasing it when
    /// `lease_until_ms` is `None`), and setting `expiry_ms` if given. False when `owner` no longer holds the lease.
    pub async fn update_deletion(
        &self,
        pk: i64,
        owner: &str,
        status: &str,
        doc: &str,
        lease_until_ms: Option<i64>,
        expiry_ms: Option<i64>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE deletion_requests SET status = ?, doc = ?, expiry_ms = COALESCE(?, expiry_ms), lease_until_ms = ?, \
             lease_owner = CASE WHEN ? IS NULL THEN NULL ELSE lease_owner END WHERE pk = ? AND lease_owner = ?",
        )
        .bind(status)
        .bind(doc)
        .bind(expiry_ms)
        .bind(lease_until_ms)
        .bind(lease_until_ms)
        .bind(pk)
        .bind(owner)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes finished requests whose expiry has passed.
    pub async fn delete_expired_deletions(&self, now_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM deletion_requests WHERE status IN ('done', 'error') AND expiry_ms IS NOT NULL AND expiry_ms < ?",
        )
        .bind(now_ms)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }
}
