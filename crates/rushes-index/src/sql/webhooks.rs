//! Webhook registrations: documents with their status, listed by URL.

use super::classes::WEBHOOK;
use super::listing::{paginate, push_tag_filters, Order, Page, PageKey, Sql, TagFilter};
use crate::db::{p, Row};
use crate::error::conflict_on_unique;
use crate::sql::Tx;
use crate::{Index, Result};

/// A stored webhook registration. `doc` includes `api_key_value`; never show it.
#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub pk: i64,
    pub id: String,
    pub status: String,
    pub doc: String,
}

/// Reads a row of `pk, id, status, doc` (columns 0 to 3).
fn webhook_row(r: &Row<'_>) -> Result<WebhookRow> {
    Ok(WebhookRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        status: r.get(2)?,
        doc: r.get(3)?,
    })
}

impl Tx<'_> {
    /// Inserts a registration with its auth classes (its `auth_classes` tag).
    pub fn insert_webhook(
        &self,
        id: &str,
        url: &str,
        status: &str,
        doc: &str,
        classes: &[String],
    ) -> Result<()> {
        let pk: i64 = self
            .db
            .query_one(
                "INSERT INTO webhooks (id, url, status, doc) VALUES (?1, ?2, ?3, ?4) RETURNING pk",
                p![id, url, status, doc],
                |r| r.get(0),
            )
            .map_err(|e| conflict_on_unique(e, || format!("webhook {id} already exists")))?;
        self.set_classes(WEBHOOK, pk, classes)?;
        Ok(())
    }

    /// Replaces registration `id` and its auth classes; false when it does not exist.
    pub fn update_webhook(
        &self,
        id: &str,
        url: &str,
        status: &str,
        doc: &str,
        classes: &[String],
    ) -> Result<bool> {
        let pk: Option<i64> = self.db.query_opt(
            "UPDATE webhooks SET url = ?1, status = ?2, doc = ?3 WHERE id = ?4 RETURNING pk",
            p![url, status, doc, id],
            |r| r.get(0),
        )?;
        let Some(pk) = pk else { return Ok(false) };
        self.set_classes(WEBHOOK, pk, classes)?;
        Ok(true)
    }

    /// Deletes registration `id` and its class rows; false when it does not exist.
    pub fn delete_webhook(&self, id: &str) -> Result<bool> {
        let pk: Option<i64> = self.db.query_opt(
            "DELETE FROM webhooks WHERE id = ?1 RETURNING pk",
            p![id],
            |r| r.get(0),
        )?;
        let Some(pk) = pk else { return Ok(false) };
        self.clear_classes(WEBHOOK, pk)?;
        Ok(true)
    }
}

impl Index {
    /// The registration `id`, if any.
    pub async fn get_webhook(&self, id: &str) -> Result<Option<WebhookRow>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_opt(
                "SELECT pk, id, status, doc FROM webhooks WHERE id = ?1",
                p![id],
                webhook_row,
            )
        })
        .await
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
        let mut q = Sql::new("SELECT w.pk, w.id, w.status, w.doc");
        order.push_select(&mut q);
        q.push(" FROM webhooks w WHERE 1=1");
        push_tag_filters(&mut q, "w.doc", tags);
        order.push_after(&mut q, after);
        order.push_order_limit(&mut q, limit);
        let rows = self
            .read(move |c| {
                q.query(c, |r| {
                    let row = webhook_row(r)?;
                    let key = PageKey {
                        k1: 0,
                        k2: r.get(5)?,
                        pk: row.pk,
                    };
                    Ok((row, key))
                })
            })
            .await?;
        Ok(paginate(rows, limit))
    }
}
