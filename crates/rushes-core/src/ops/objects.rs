//! Media objects: `get_urls` of their instances on every backend (signed once per instance
//! per request), object information with the flows that reference it, instance
//! registration, and copying objects between storage backends.

use std::collections::HashMap;

use rushes_index::{InstanceKey, InstanceRow, ObjectRow};
use rushes_model::{
    FlowId, GetUrl, Object, ObjectId, ObjectInitRef, ObjectInstancesPost, StorageBackendId,
    StoreType, TimeRangeText,
};

use rushes_objects::{GetUrlBatch, MediaStore, StorageBackendInfo};
use uuid::Uuid;

use crate::{CoreError, Permission, Principal, Result, Store};

/// Which `get_urls` a client wants (the spec's `accept_get_urls`, `accept_storage_ids`,
/// `presigned`, `storage_backend_tag*` and `verbose_storage` query parameters).
#[derive(Debug, Clone, Default)]
pub struct UrlFilter {
    /// Include storage metadata, not only `url`, `presigned` and `label`.
    pub verbose: bool,
    /// Only URLs with one of these labels; `Some(empty)` means none at all.
    pub accept_labels: Option<Vec<String>>,
    /// Only URLs on one of these backends (ignored when empty).
    pub accept_storage_ids: Vec<StorageBackendId>,
    /// Only presigned (`true`) or only not presigned (`false`) URLs.
    pub presigned: Option<bool>,
    /// `storage_backend_tag.{name}={value}`: the backend's tag must match.
    pub backend_tags: Vec<(String, String)>,
    /// `storage_backend_tag_exists.{name}={bool}`.
    pub backend_tag_exists: Vec<(String, bool)>,
}

impl UrlFilter {
    /// True when no URL can pass, so that none need be looked up or signed.
    pub fn wants_none(&self) -> bool {
        matches!(&self.accept_labels, Some(l) if l.is_empty())
    }

    fn accepts(
        &self,
        label: Option<&str>,
        storage_id: Option<StorageBackendId>,
        presigned: bool,
    ) -> bool {
        if let Some(labels) = &self.accept_labels {
            match label {
                Some(l) if labels.iter().any(|x| x == l) => {}
                _ => return false,
            }
        }
        if !self.accept_storage_ids.is_empty() {
            match storage_id {
                Some(s) if self.accept_storage_ids.contains(&s) => {}
                _ => return false,
            }
        }
        if self.presigned.is_some_and(|p| p != presigned) {
            return false;
        }
        // The backends of this store carry no tags: a tag value never matches, a tag
        // never exists. URLs on no backend (uncontrolled) fail every tag filter.
        if !self.backend_tags.is_empty() {
            return false;
        }
        if self.backend_tag_exists.iter().any(|(_, exists)| *exists) {
            return false;
        }
        if !self.backend_tag_exists.is_empty() && storage_id.is_none() {
            return false;
        }
        true
    }
}

/// Builds `get_urls` for a set of objects, signing each controlled URL once.
pub(crate) struct UrlBuilder<'a> {
    store: &'a Store,
    filter: &'a UrlFilter,
    /// Content type for objects that have none recorded (the flow's container).
    fallback_content_type: Option<&'a str>,
    urls: HashMap<String, Vec<GetUrl>>,
    /// Batch signers by backend and content type (`None`: the backend signs one by one).
    batches: Vec<(uuid::Uuid, Option<String>, Option<GetUrlBatch>)>,
}

impl<'a> UrlBuilder<'a> {
    pub(crate) fn new(
        store: &'a Store,
        filter: &'a UrlFilter,
        fallback_content_type: Option<&'a str>,
    ) -> Self {
        UrlBuilder {
            store,
            filter,
            fallback_content_type,
            urls: HashMap::new(),
            batches: Vec::new(),
        }
    }

    /// Looks up the instances of `ids` (one read) and builds their URLs.
    pub(crate) async fn load(&mut self, ids: &[&str]) -> Result<()> {
        if self.filter.wants_none() || ids.is_empty() {
            return Ok(());
        }
        let rows = self.store.index.instances(ids).await?;
        self.add(&rows).await
    }

    /// Builds the URLs of instances already read (as [`rushes_index::Index::instances`]
    /// returns them), signing each controlled one once.
    pub(crate) async fn add(&mut self, rows: &[(InstanceRow, Option<String>)]) -> Result<()> {
        if self.filter.wants_none() {
            return Ok(());
        }
        for (inst, content_type) in rows {
            if let Some(url) = self.url_of(inst, content_type.as_deref()).await? {
                self.urls
                    .entry(inst.object_id.clone())
                    .or_default()
                    .push(url);
            }
        }
        Ok(())
    }

    /// The URLs of `id` (empty if none passed the filter).
    pub(crate) fn get(&self, id: &str) -> Option<Vec<GetUrl>> {
        if self.filter.wants_none() {
            return None;
        }
        Some(self.urls.get(id).cloned().unwrap_or_default())
    }

    /// The URL of `id` a player should fetch, without copying: the first presigned one
    /// that passed the filter, else the first.
    pub(crate) fn pick(&self, id: &str) -> Option<&str> {
        let urls = self.urls.get(id)?;
        urls.iter()
            .find(|u| u.presigned == Some(true))
            .or_else(|| urls.first())
            .map(|u| u.url.as_str())
    }

    /// The batch signer of `media` for content type `ct`, made on first use.
    fn batch(&mut self, media: &MediaStore, ct: Option<&str>) -> Result<Option<&GetUrlBatch>> {
        let id = media.backend_id();
        let at = match self
            .batches
            .iter()
            .position(|(b, c, _)| *b == id && c.as_deref() == ct)
        {
            Some(at) => at,
            None => {
                let batch = media
                    .get_url_batch(ct, self.store.settings.url_ttl)
                    .map_err(|e| CoreError::Unavailable(format!("cannot sign URLs: {e}")))?;
                self.batches.push((id, ct.map(str::to_owned), batch));
                self.batches.len() - 1
            }
        };
        Ok(self.batches[at].2.as_ref())
    }

    async fn url_of(
        &mut self,
        inst: &InstanceRow,
        content_type: Option<&str>,
    ) -> Result<Option<GetUrl>> {
        if inst.controlled {
            let sid = inst
                .storage_id
                .as_deref()
                .and_then(|s| StorageBackendId::parse(s).ok());
            // An instance on a backend this node does not know cannot be signed.
            let store = self.store;
            let Some(media) = sid.and_then(|s| store.media.get(*s.as_uuid())) else {
                return Ok(None);
            };
            let backend = media.storage_backend();
            if !self.filter.accepts(Some(&backend.label), sid, true) {
                return Ok(None);
            }
            let ct = content_type.or(self.fallback_content_type);
            let signed = match self.batch(media, ct)? {
                // Local backends: the same URL, signed without per-URL setup.
                Some(batch) => batch.url(&inst.object_id),
                None => media
                    .get_url(&inst.object_id, ct, self.store.settings.url_ttl)
                    .await
                    .map(String::from),
            };
            let url = signed.map_err(|e| {
                CoreError::Unavailable(format!(
                    "cannot sign a URL for object {}: {e}",
                    inst.object_id
                ))
            })?;
            let mut g = GetUrl::new(url);
            g.presigned = Some(true);
            g.label = Some(backend.label.clone());
            if self.filter.verbose {
                g.controlled = Some(true);
                g.storage_id = sid;
                g.store_type = Some(StoreType::HttpObjectStore);
                g.provider = Some(backend.provider.clone());
                g.store_product = Some(backend.store_product.clone());
                g.region = backend.region.clone();
                g.availability_zone = backend.availability_zone.clone();
            }
            Ok(Some(g))
        } else {
            let Some(url) = &inst.url else {
                return Ok(None);
            };
            if !self.filter.accepts(inst.label.as_deref(), None, false) {
                return Ok(None);
            }
            let mut g = GetUrl::new(url.clone());
            g.label = inst.label.clone();
            if self.filter.verbose {
                g.controlled = Some(false);
            }
            Ok(Some(g))
        }
    }
}

/// What `GET /objects/{id}` returns: the object and the paging position of its flow list.
#[derive(Debug, Clone)]
pub struct ObjectPage {
    pub object: Object,
    /// Key of the next page of `referenced_by_flows`, if any.
    pub next_key: Option<String>,
    pub limit: u32,
}

/// Parameters of `GET /objects/{id}`.
#[derive(Debug, Clone, Default)]
pub struct ObjectQuery {
    pub urls: UrlFilter,
    /// `flow_tag.{name}={value}` filters on `referenced_by_flows`.
    pub flow_tags: Vec<(String, String)>,
    /// `flow_tag_exists.{name}={bool}` filters on `referenced_by_flows`.
    pub flow_tag_exists: Vec<(String, bool)>,
    pub page: Option<String>,
    pub limit: Option<u32>,
}

/// Object-level properties fixed at first registration, kept in the object row's doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ObjectProps {
    /// `media` or `init`.
    pub role: Option<String>,
    pub key_frame_count: Option<u64>,
    pub init_object_id: Option<String>,
}

impl ObjectProps {
    pub(crate) fn parse(doc: &str) -> ObjectProps {
        let v: serde_json::Value = serde_json::from_str(doc).unwrap_or_default();
        ObjectProps {
            role: v.get("role").and_then(|r| r.as_str()).map(str::to_owned),
            key_frame_count: v.get("key_frame_count").and_then(|r| r.as_u64()),
            init_object_id: v
                .get("init_object_id")
                .and_then(|r| r.as_str())
                .map(str::to_owned),
        }
    }

    pub(crate) fn to_doc(&self) -> String {
        let mut m = serde_json::Map::new();
        if let Some(r) = &self.role {
            m.insert("role".into(), r.clone().into());
        }
        if let Some(k) = self.key_frame_count {
            m.insert("key_frame_count".into(), k.into());
        }
        if let Some(i) = &self.init_object_id {
            m.insert("init_object_id".into(), i.clone().into());
        }
        serde_json::Value::Object(m).to_string()
    }
}

fn flow_tags_match(doc: &str, q: &ObjectQuery) -> bool {
    if q.flow_tags.is_empty() && q.flow_tag_exists.is_empty() {
        return true;
    }
    let v: serde_json::Value = serde_json::from_str(doc).unwrap_or_default();
    let tags = v.get("tags");
    let tag = |name: &str| tags.and_then(|t| t.get(name));
    let value_matches = |t: &serde_json::Value, want: &str| match t {
        serde_json::Value::String(s) => s == want,
        serde_json::Value::Array(a) => a.iter().any(|x| x.as_str() == Some(want)),
        _ => false,
    };
    q.flow_tags
        .iter()
        .all(|(n, want)| tag(n).is_some_and(|t| value_matches(t, want)))
        && q.flow_tag_exists
            .iter()
            .all(|(n, exists)| tag(n).is_some() == *exists)
}

/// An object is visible once a segment has registered it (the spec's 404 for ids that
/// were allocated but never registered).
fn visible(row: &ObjectRow) -> bool {
    row.first_referenced_by_flow.is_some()
}

fn not_found(id: &ObjectId) -> CoreError {
    CoreError::NotFound(format!("object {id} does not exist"))
}

impl Store {
    /// Checks that `principal`'s auth classes let it see object `id`: some flow it may
    /// see references it (ADR 0035: objects take the permissions of their flows).
    /// No query for a principal without class limits.
    async fn object_checked(&self, principal: &Principal, id: &ObjectId) -> Result<()> {
        if let Some(classes) = self.visible_to(principal) {
            if !self.index.object_visible(id.as_str(), &classes).await? {
                return Err(not_found(id));
            }
        }
        Ok(())
    }

    /// `GET /objects/{id}`: the object, the flows referencing it (paged by flow), its
    /// `get_urls` and those of its init object. For a class-limited principal, only the
    /// flows it may see are listed, and an object none of whose flows it may see is not
    /// found (so no URL of it is handed out).
    pub async fn get_object(
        &self,
        principal: &Principal,
        id: &ObjectId,
        q: &ObjectQuery,
    ) -> Result<ObjectPage> {
        let row = self
            .index
            .object(id.as_str())
            .await?
            .filter(visible)
            .ok_or_else(|| not_found(id))?;
        self.object_checked(principal, id).await?;
        let visible_to = self.visible_to(principal);
        let limit = q
            .limit
            .unwrap_or(self.settings.max_page_limit)
            .clamp(1, self.settings.max_page_limit);
        let after = match &q.page {
            None => 0,
            Some(p) => p
                .parse::<i64>()
                .map_err(|_| CoreError::BadRequest(format!("invalid page key {p:?}")))?,
        };
        let mut flows = self
            .index
            .object_flows(id.as_str(), after, limit, visible_to.as_deref())
            .await?;
        let next_key = if flows.len() > limit as usize {
            flows.truncate(limit as usize);
            flows.last().map(|(pk, _, _)| pk.to_string())
        } else {
            None
        };
        let referenced_by_flows = flows
            .iter()
            .filter(|(_, _, doc)| flow_tags_match(doc, q))
            .filter_map(|(_, fid, _)| FlowId::parse(fid).ok())
            .collect();
        let props = ObjectProps::parse(&row.doc);
        let mut ids = vec![row.id.as_str()];
        if let Some(init) = &props.init_object_id {
            ids.push(init.as_str());
        }
        let mut urls = UrlBuilder::new(self, &q.urls, None);
        urls.load(&ids).await?;
        let init_object = match &props.init_object_id {
            Some(init) => Some(ObjectInitRef {
                id: ObjectId::parse(init).map_err(|e| CoreError::Internal(e.to_string()))?,
                get_urls: urls.get(init),
            }),
            None => None,
        };
        let timerange = match &row.object_timerange {
            Some(t) => {
                Some(TimeRangeText::parse(t).map_err(|e| CoreError::Internal(e.to_string()))?)
            }
            None => None,
        };
        let mut first_referenced_by_flow = row
            .first_referenced_by_flow
            .as_deref()
            .and_then(|f| FlowId::parse(f).ok());
        if let (Some(first), true) = (first_referenced_by_flow, visible_to.is_some()) {
            let readable = match self.flow_classed(principal, &first.to_string()).await? {
                Some((_, Some(classes))) => self
                    .check_classes(principal, &classes, Permission::Read, || not_found(id))
                    .is_ok(),
                _ => false,
            };
            if !readable {
                first_referenced_by_flow = None;
            }
        }
        let object = Object {
            id: id.clone(),
            referenced_by_flows,
            first_referenced_by_flow,
            timerange,
            key_frame_count: props.key_frame_count,
            get_urls: urls.get(&row.id),
            init_object,
        };
        Ok(ObjectPage {
            object,
            next_key,
            limit,
        })
    }

    /// `POST /objects/{id}/instances`: an uncontrolled instance (a URL and label), or a
    /// controlled one on a known backend, whose bytes the store copies there from a backend
    /// holding them ([`Store::copy_object`]).
    pub async fn add_object_instance(
        &self,
        principal: &Principal,
        id: &ObjectId,
        body: &ObjectInstancesPost,
    ) -> Result<()> {
        self.index
            .object(id.as_str())
            .await?
            .filter(visible)
            .ok_or_else(|| not_found(id))?;
        self.object_checked(principal, id).await?;
        match body {
            ObjectInstancesPost::Controlled { storage_id, .. } => {
                // The spec's "duplication of an instance to a new storage backend": the
                // store copies the bytes from a backend that holds them, then registers.
                let to = *storage_id.as_uuid();
                if self.media.get(to).is_none() {
                    return Err(CoreError::BadRequest(format!(
                        "storage backend {storage_id} is not known to this store"
                    )));
                }
                match self.copy_object(id, None, to).await? {
                    CopyOutcome::Copied { .. } => Ok(()),
                    CopyOutcome::AlreadyThere => Err(CoreError::BadRequest(format!(
                        "object {id} already has an instance on storage backend {storage_id}"
                    ))),
                }
            }
            ObjectInstancesPost::Uncontrolled { url, label, .. } => {
                if url.is_empty() {
                    return Err(CoreError::BadRequest("url must not be empty".into()));
                }
                let inst = InstanceRow {
                    object_id: id.to_string(),
                    storage_id: None,
                    url: Some(url.clone()),
                    label: Some(label.clone()),
                    controlled: false,
                    doc: "{}".into(),
                };
                self.index
                    .add_instance(&inst)
                    .await
                    .map_err(|e| match CoreError::from(e) {
                        CoreError::Conflict(m) => CoreError::BadRequest(m),
                        e => e,
                    })
            }
        }
    }

    /// `DELETE /objects/{id}/instances?storage_id=|label=`: removes the instance from the
    /// object's `get_urls`, then deletes its bytes if it was controlled. The last instance
    /// of an object cannot be deleted (Forbidden).
    pub async fn delete_object_instance(
        &self,
        principal: &Principal,
        id: &ObjectId,
        storage_id: Option<&StorageBackendId>,
        label: Option<&str>,
    ) -> Result<()> {
        self.index
            .object(id.as_str())
            .await?
            .filter(visible)
            .ok_or_else(|| not_found(id))?;
        self.object_checked(principal, id).await?;
        let sid = storage_id.map(|s| s.to_string());
        let key = match (&sid, label) {
            (Some(s), _) => InstanceKey::StorageId(s),
            (None, Some(l)) => InstanceKey::Label(l),
            (None, None) => return Err(CoreError::BadRequest("give storage_id or label".into())),
        };
        let deleted = match self.index.delete_instance(id.as_str(), key).await {
            Ok(d) => d,
            Err(e) => {
                return Err(match CoreError::from(e) {
                    CoreError::Conflict(m) => {
                        CoreError::Forbidden(format!("cannot delete the last instance: {m}"))
                    }
                    e => e,
                })
            }
        };
        let Some(inst) = deleted else {
            return Err(CoreError::NotFound(format!(
                "object {id} has no such instance"
            )));
        };
        if inst.controlled {
            match inst
                .storage_id
                .as_deref()
                .and_then(|s| self.media.get_str(s))
            {
                Some(media) => {
                    if let Err(e) = media.delete(&inst.object_id).await {
                        tracing::warn!(object = %inst.object_id, error = %e, "cannot delete the bytes of a removed instance");
                    }
                }
                None => tracing::warn!(
                    object = %inst.object_id,
                    storage_id = inst.storage_id.as_deref().unwrap_or(""),
                    "the removed instance is on a storage backend this node does not know; its bytes stay"
                ),
            }
        }
        Ok(())
    }

    /// Records a controlled instance of `object_id` on `backend` (bytes already there).
    async fn add_controlled_instance(
        &self,
        object_id: &str,
        backend: &StorageBackendInfo,
    ) -> Result<()> {
        let inst = InstanceRow {
            object_id: object_id.to_owned(),
            storage_id: Some(backend.id.to_string()),
            url: None,
            label: Some(backend.label.clone()),
            controlled: true,
            doc: "{}".into(),
        };
        self.index
            .add_instance(&inst)
            .await
            .map_err(|e| match CoreError::from(e) {
                CoreError::Conflict(m) => CoreError::BadRequest(m),
                e => e,
            })
    }

    /// The object ids a flow's segments name (media and init objects), in timeline order,
    /// each once: what `rushes objects copy --flow` copies.
    pub async fn flow_object_ids(&self, flow_id: &FlowId) -> Result<Vec<ObjectId>> {
        if self
            .index
            .segment_flow(&flow_id.to_string())
            .await?
            .is_none()
        {
            return Err(CoreError::NotFound(format!(
                "flow {flow_id} does not exist"
            )));
        }
        let principal = Principal::anonymous();
        let mut q = crate::ops::segments::SegmentQuery {
            limit: Some(self.settings.max_page_limit),
            ..Default::default()
        };
        q.urls.accept_labels = Some(Vec::new());
        let mut seen = std::collections::HashSet::new();
        let mut ids = Vec::new();
        loop {
            let page = self.list_segments(&principal, flow_id, &q).await?;
            for seg in &page.segments {
                let init = seg.init_object.as_ref().map(|i| &i.object_id);
                for id in std::iter::once(&seg.object_id).chain(init) {
                    if seen.insert(id.to_string()) {
                        ids.push(id.clone());
                    }
                }
            }
            match page.next_key {
                Some(key) if !page.segments.is_empty() => q.page = Some(key),
                _ => return Ok(ids),
            }
        }
    }

    /// Copies object `id` to the backend `to` and registers the new controlled instance.
    ///
    /// The bytes are read from `from` if given, else from the first backend (in
    /// configuration order) holding a controlled instance, and streamed into `to`
    /// (multipart on S3). Idempotent: an object that already has an instance on `to` is
    /// left alone ([`CopyOutcome::AlreadyThere`]); bytes already in `to` from an earlier,
    /// interrupted copy are checked by size and registered.
    pub async fn copy_object(
        &self,
        id: &ObjectId,
        from: Option<Uuid>,
        to: Uuid,
    ) -> Result<CopyOutcome> {
        let target = self
            .media
            .get(to)
            .ok_or_else(|| CoreError::BadRequest(format!("storage backend {to} is not known")))?;
        self.index
            .object(id.as_str())
            .await?
            .filter(visible)
            .ok_or_else(|| not_found(id))?;
        let instances = self.index.instances(&[id.as_str()]).await?;
        let on = |sid: Uuid| {
            instances.iter().any(|(i, _)| {
                i.controlled && i.storage_id.as_deref() == Some(sid.to_string().as_str())
            })
        };
        if on(to) {
            return Ok(CopyOutcome::AlreadyThere);
        }
        let source = match from {
            Some(f) => {
                if !on(f) {
                    return Err(CoreError::BadRequest(format!(
                        "object {id} has no instance on storage backend {f}"
                    )));
                }
                self.media
                    .get(f)
                    .ok_or_else(|| CoreError::BadRequest(format!("storage backend {f} is not known")))?
            }
            None => self
                .media
                .iter()
                .find(|m| m.backend_id() != to && on(m.backend_id()))
                .ok_or_else(|| {
                    CoreError::BadRequest(format!(
                        "object {id} has no controlled instance on a storage backend of this store to copy from"
                    ))
                })?,
        };
        let unavailable = |what: &str, e: rushes_objects::ObjectsError| {
            CoreError::Unavailable(format!("cannot {what} object {id}: {e}"))
        };
        let read = source
            .get_range(id.as_str(), None)
            .await
            .map_err(|e| unavailable("read", e))?;
        let size = read.info.size;
        match target.put_stream(id.as_str(), read.body).await {
            Ok(_) => {}
            Err(rushes_objects::ObjectsError::AlreadyExists { .. }) => {
                let there = target
                    .head(id.as_str())
                    .await
                    .map_err(|e| unavailable("check", e))?;
                if there.size != size {
                    return Err(CoreError::Conflict(format!(
                        "storage backend {to} already holds different bytes ({} bytes, not {size}) as object {id}",
                        there.size
                    )));
                }
            }
            Err(e) => return Err(unavailable("write", e)),
        }
        self.add_controlled_instance(id.as_str(), target.storage_backend())
            .await?;
        Ok(CopyOutcome::Copied { bytes: size })
    }
}

/// What [`Store::copy_object`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyOutcome {
    /// The bytes were copied (or found complete) and the instance registered.
    Copied {
        /// Size of the object.
        bytes: u64,
    },
    /// The object already had an instance on the target backend.
    AlreadyThere,
}
