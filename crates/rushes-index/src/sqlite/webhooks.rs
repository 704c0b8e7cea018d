//! Webhook registrations: documents with their status, listed by URL.

use sqlx::{QueryBuilder, Row, Sqlite};

use super::listing::{paginate, push_tag_filters, Order, Page, PageKey, TagFilter};
use crate::error::conflict_on_unique;
use crate::{Index, Result};

/// A stored webhook registration. `doc` includes `api_key_value`; never show it.
#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub pk: i64,
    pub id: String,
    pub status: String,
    pub doc: String,
}

fn webhook_row(r: &sqlx::sqlite::SqliteRow) -> Result<WebhookRow> {
    Ok(WebhookRow {
        pk: r.try_get("pk")?,
        id: r.try_get("id")?,
        status: r.try_get("status")?,
        doc: r.try_get("doc")?,
    })
}

impl Index {
    /// Inserts a registration.
    pub async fn insert_webhook(&self, id: &str, url: &str, status: &str, doc: &str) -> Result<()> {
        sqlx::query("INSERT INTO webhooks (id, url, status, doc) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(url)
            .bind(status)
            .bind(doc)
            .execute(self.writer())
            .await
            .map_err(|e| conflict_on_unique(e, || format!("webhook {id} already exists")))?;
        Ok(())
    }

    /// The registration `id`, if any.
    pub async fn get_webhook(&self, id: &str) -> Result<Option<WebhookRow>> {
        let row = sqlx::query("SELECT pk, id, status, doc FROM webhooks WHERE id = ?")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(webhook_row).transpose()
    }

    /// Replaces registration `id`; false when it does not exist.
    pub async fn update_webhook(
        &self,
        id: &str,
        url: &str,
        status: &str,
        doc: &str,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE webhooks SET url = ?, status = ?, doc = ? WHERE id = ?")
            .bind(url)
            .bind(status)
            .bind(doc)
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes registration `id`; false when it does not exist.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM webhooks WHERE id = ?")
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One page of registrations matching `tags`, in order of URL (reversed if asked).
    pub async fn list_webhooks(
        &self,
        tags: &[TagFilter],
        reverse: bool,
        after: Option<&PageKey>,
        limit: u32,
    ) -> Result<Page<WebhookRow>> {
        let order = Order {
            k1: "(w.pk * 0)",
            k2: "w.url",
            pk: "w.pk",
            desc: reverse,
        };
        let mut qb: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new("SELECT w.pk, w.id, w.status, w.doc");
        order.push_select(&mut qb);
        qb.push(" FROM webhooks w WHERE 1=1");
        push_tag_filters(&mut qb, "w.doc", tags);
        order.push_after(&mut qb, after);
        order.push_order_limit(&mut qb, limit);
        let rows = qb.build().fetch_all(self.reader()).await?;
        let rows = rows
            .iter()
            .map(|r| {
                let row = webhook_row(r)?;
                let key = PageKey {
                    k1: 0,
                    k2: r.try_get("k2")?,
                    pk: row.pk,
                };
                Ok((row, key))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(rows, limit))
    }
}
