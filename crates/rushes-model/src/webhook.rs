//! Webhook registrations: [`Webhook`] (`webhook.json`) and its POST, PUT and GET forms.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ErrorBody, EventType, FlowId, SourceId, StorageBackendId, Tags, WebhookId};

crate::essence::wire_enum!(
    /// The state of a webhook as the store reports it.
    WebhookStatus { Created = "created", Started = "started", Disabled = "disabled", Error = "error" }
);

crate::essence::wire_enum!(
    /// The states a client may request in POST or PUT.
    WebhookRequestStatus { Created = "created", Disabled = "disabled" }
);

impl From<WebhookRequestStatus> for WebhookStatus {
    fn from(s: WebhookRequestStatus) -> WebhookStatus {
        match s {
            WebhookRequestStatus::Created => WebhookStatus::Created,
            WebhookRequestStatus::Disabled => WebhookStatus::Disabled,
        }
    }
}

/// The fields every webhook form shares: where to send which events, and filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    /// The HTTP header the store adds to each event POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_name: Option<String>,
    pub events: Vec<EventType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_ids: Option<Vec<FlowId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ids: Option<Vec<SourceId>>,
    /// An empty list selects Flows not collected by any Flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_collected_by_ids: Option<Vec<FlowId>>,
    /// An empty list selects Sources not collected by any Source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_collected_by_ids: Option<Vec<SourceId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_get_urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_storage_ids: Option<Vec<StorageBackendId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbose_storage: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_object_timerange: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

impl Webhook {
    pub fn new(url: impl Into<String>, events: Vec<EventType>) -> Webhook {
        Webhook {
            url: url.into(),
            api_key_name: None,
            events,
            flow_ids: None,
            source_ids: None,
            flow_collected_by_ids: None,
            source_collected_by_ids: None,
            accept_get_urls: None,
            accept_storage_ids: None,
            presigned: None,
            verbose_storage: None,
            include_object_timerange: None,
            tags: None,
        }
    }
}

/// The body of `POST /webhooks` (`webhook-post.json`). `status` defaults to `created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookPost {
    #[serde(flatten)]
    pub webhook: Webhook,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WebhookRequestStatus>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of `PUT /webhooks/{id}` (`webhook-put.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookPut {
    pub id: WebhookId,
    #[serde(flatten)]
    pub webhook: Webhook,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_value: Option<String>,
    pub status: WebhookRequestStatus,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A registered webhook with its id (`webhook-with-id.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookWithId {
    pub id: WebhookId,
    #[serde(flatten)]
    pub webhook: Webhook,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A webhook as returned by `GET /webhooks/{id}` (`webhook-get.json`); never carries
/// `api_key_value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookGet {
    pub id: WebhookId,
    #[serde(flatten)]
    pub webhook: Webhook,
    pub status: WebhookStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
