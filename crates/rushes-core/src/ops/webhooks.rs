//! Webhook registrations (`/service/webhooks`). Delivery of events is a separate worker.

use rushes_index::WebhookRow;
use rushes_model::{
    WebhookGet, WebhookId, WebhookPost, WebhookPut, WebhookRequestStatus, WebhookStatus,
};

use super::listing::{from_doc, index_tags, page_key, to_doc, Listing, Paging, TagFilter};
use crate::classes::webhook_classes;
use crate::{CoreError, Result, Store};

fn check_url(url: &str) -> Result<()> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::BadRequest(format!(
            "webhook url {url:?} must be an absolute http:// or https:// URL"
        )))
    }
}

fn status_of(s: &str) -> Result<WebhookStatus> {
    match s {
        "created" => Ok(WebhookStatus::Created),
        "started" => Ok(WebhookStatus::Started),
        "disabled" => Ok(WebhookStatus::Disabled),
        "error" => Ok(WebhookStatus::Error),
        other => Err(CoreError::Internal(format!(
            "stored webhook status {other:?}"
        ))),
    }
}

/// The registration as clients see it: never with `api_key_value`.
fn shown(row: &WebhookRow) -> Result<WebhookGet> {
    let stored: WebhookPut = from_doc("webhook", &row.doc)?;
    Ok(WebhookGet {
        id: stored.id,
        webhook: stored.webhook,
        status: status_of(&row.status)?,
        error: None,
        extra: stored.extra,
    })
}

impl Store {
    /// `POST /service/webhooks`.
    pub async fn create_webhook(&self, post: WebhookPost) -> Result<WebhookGet> {
        check_url(&post.webhook.url)?;
        self.check_webhook_target(&post.webhook.url).await?;
        let id = WebhookId::new_random();
        let status = post.status.unwrap_or(WebhookRequestStatus::Created);
        let stored = WebhookPut {
            id,
            webhook: post.webhook,
            api_key_value: post.api_key_value,
            status,
            extra: post.extra,
        };
        let doc = to_doc("webhook", &stored)?;
        let status = WebhookStatus::from(status);
        let (wid, url) = (id.to_string(), stored.webhook.url.clone());
        let classes = webhook_classes(&stored.webhook).unwrap_or_default();
        self.index
            .write(move |tx| tx.insert_webhook(&wid, &url, status.as_str(), &doc, &classes))
            .await?;
        Ok(WebhookGet {
            id,
            webhook: stored.webhook,
            status,
            error: None,
            extra: stored.extra,
        })
    }

    /// `GET /service/webhooks/{id}`.
    pub async fn get_webhook(&self, id: WebhookId) -> Result<WebhookGet> {
        let row = self
            .index
            .get_webhook(&id.to_string())
            .await?
            .ok_or_else(|| not_found(id))?;
        self.with_delivery_error(shown(&row)?).await
    }

    /// `PUT /service/webhooks/{id}`: replaces the registration.
    pub async fn update_webhook(&self, id: WebhookId, put: WebhookPut) -> Result<WebhookGet> {
        if put.id != id {
            return Err(CoreError::BadRequest(format!(
                "the body's id {} does not match the webhook id {id} in the path",
                put.id
            )));
        }
        check_url(&put.webhook.url)?;
        self.check_webhook_target(&put.webhook.url).await?;
        let status = WebhookStatus::from(put.status);
        if status == WebhookStatus::Disabled {
            // The spec: a transition from `error` to `disabled` SHOULD be rejected (the
            // way out of `error` is `created`).
            let current = self.index.get_webhook(&id.to_string()).await?;
            if current.is_some_and(|r| r.status == WebhookStatus::Error.as_str()) {
                return Err(CoreError::BadRequest(format!(
                    "webhook {id} is in status error: it may be re-enabled with status \
                     created, not disabled"
                )));
            }
        }
        let doc = to_doc("webhook", &put)?;
        let (wid, url) = (id.to_string(), put.webhook.url.clone());
        let classes = webhook_classes(&put.webhook).unwrap_or_default();
        if !self
            .index
            .write(move |tx| tx.update_webhook(&wid, &url, status.as_str(), &doc, &classes))
            .await?
        {
            return Err(not_found(id));
        }
        Ok(WebhookGet {
            id,
            webhook: put.webhook,
            status,
            error: None,
            extra: put.extra,
        })
    }

    /// `DELETE /service/webhooks/{id}`.
    pub async fn delete_webhook(&self, id: WebhookId) -> Result<()> {
        let wid = id.to_string();
        if self.index.write(move |tx| tx.delete_webhook(&wid)).await? {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    /// `GET /service/webhooks`: by URL (reversed if asked).
    pub async fn list_webhooks(
        &self,
        tags: &[TagFilter],
        reverse: bool,
        paging: &Paging,
    ) -> Result<Listing<WebhookGet>> {
        let page = self
            .index
            .list_webhooks(
                &index_tags(tags),
                reverse,
                page_key(paging)?.as_ref(),
                paging.limit.max(1),
            )
            .await?;
        let items = page.items.iter().map(shown).collect::<Result<Vec<_>>>()?;
        let items = self.with_delivery_errors(items).await?;
        Ok(Listing {
            items,
            next_page: page.next.map(|k| k.to_string()),
        })
    }
}

fn not_found(id: WebhookId) -> CoreError {
    CoreError::NotFound(format!("no webhook {id}"))
}
