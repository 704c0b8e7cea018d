//! Storage allocation: new object ids with signed PUT URLs for a flow.

use rushes_index::NewObject;
use rushes_model::{
    Allocation, FlowId, FlowStorage, FlowStoragePost, HttpRequest, MediaObjectUpload, ObjectId,
};

use rushes_objects::ObjectsError;

use crate::{now_ms, CoreError, Permission, Principal, Result, Store};

impl Store {
    /// `POST /flows/{id}/storage`: allocates objects (new ids, at most `limit`, or the
    /// client's `object_ids`, which must all be new) on the backend named by `storage_id`
    /// (the default backend without it) and returns a signed PUT URL for each. Objects not registered by a segment before the object
    /// timeout are collected.
    ///
    /// Needs write on the flow: upload URLs are handed out only after that check.
    pub async fn allocate_storage(
        &self,
        principal: &Principal,
        flow_id: &FlowId,
        req: &FlowStoragePost,
    ) -> Result<FlowStorage> {
        let flow = self
            .index
            .segment_flow(&flow_id.to_string())
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("flow {flow_id} does not exist")))?;
        if principal.is_class_limited() {
            let classes = self.index.flow_classes(flow.pk).await?;
            self.check_classes(principal, &classes, Permission::Write, || {
                CoreError::NotFound(format!("flow {flow_id} does not exist"))
            })?;
        }
        if flow.read_only {
            return Err(CoreError::Forbidden(format!("flow {flow_id} is read-only")));
        }
        if flow.deleting {
            return Err(CoreError::Forbidden(format!(
                "flow {flow_id} is being deleted"
            )));
        }
        let Some(container) = flow.container.as_deref() else {
            return Err(CoreError::BadRequest(format!(
                "flow {flow_id} has no container; set it before allocating storage"
            )));
        };
        let media = match &req.storage_id {
            Some(sid) => self.media.get(*sid.as_uuid()).ok_or_else(|| {
                CoreError::BadRequest(format!("storage backend {sid} is not known to this store"))
            })?,
            None => self.media.default_backend(),
        };
        let content_type = req
            .content_type
            .as_ref()
            .map_or(container, |c| c.as_str())
            .to_owned();
        let max = u64::from(self.settings.max_page_limit);
        let ids: Vec<ObjectId> = match req.allocation() {
            Allocation::Count(limit) => {
                let n = match limit {
                    None => u64::from(self.settings.default_page_limit),
                    Some(0) => {
                        return Err(CoreError::BadRequest("limit must be at least 1".into()))
                    }
                    Some(n) => n.min(max),
                };
                (0..n).map(|_| ObjectId::new_time_ordered()).collect()
            }
            Allocation::Ids(ids) => {
                if ids.is_empty() {
                    return Err(CoreError::BadRequest("object_ids must not be empty".into()));
                }
                if ids.len() as u64 > max {
                    return Err(CoreError::BadRequest(format!(
                        "at most {max} object_ids per request"
                    )));
                }
                let mut sorted: Vec<&str> = ids.iter().map(ObjectId::as_str).collect();
                sorted.sort_unstable();
                if sorted.windows(2).any(|w| w[0] == w[1]) {
                    return Err(CoreError::BadRequest(
                        "object_ids contains the same id twice".into(),
                    ));
                }
                ids.to_vec()
            }
        };

        // Sign first: a content type the URLs cannot carry fails before anything is recorded.
        let ttl = self.settings.url_ttl.max(self.settings.object_timeout);
        let mut media_objects = Vec::with_capacity(ids.len());
        for id in &ids {
            let url = media
                .put_url(id.as_str(), &content_type, ttl)
                .await
                .map_err(|e| match e {
                    ObjectsError::InvalidContentType(_) | ObjectsError::InvalidObjectId(_) => {
                        CoreError::BadRequest(format!("cannot issue an upload URL: {e}"))
                    }
                    e => CoreError::Unavailable(format!("cannot issue an upload URL: {e}")),
                })?;
            let mut put = HttpRequest::new(url.to_string());
            put.content_type = Some(content_type.clone());
            media_objects.push(MediaObjectUpload {
                object_id: id.clone(),
                put_url: put,
                presigned: Some(true),
                extra: Default::default(),
            });
        }
        let now = now_ms();
        let timeout = i64::try_from(self.settings.object_timeout.as_millis()).unwrap_or(i64::MAX);
        let storage_id = media.backend_id().to_string();
        let rows: Vec<NewObject> = ids
            .iter()
            .map(|id| NewObject {
                id: id.to_string(),
                allocated_for_flow: Some(flow_id.to_string()),
                content_type: Some(content_type.clone()),
                created_ms: now,
                collect_after_ms: now.saturating_add(timeout),
                storage_id: storage_id.clone(),
            })
            .collect();
        self.index
            .allocate_objects(&rows)
            .await
            .map_err(|e| match CoreError::from(e) {
                // The spec's answer when a client-chosen id is in use.
                CoreError::Conflict(m) => CoreError::BadRequest(m),
                e => e,
            })?;

        Ok(FlowStorage { media_objects })
    }
}
