//! The service description (`/service`) and the storage backends it offers.

use rushes_model::{Service, ServicePost, StorageBackend, StorageBackendId, StoreType, Timestamp};
use serde_json::{Map, Value};

use super::listing::TagFilter;
use crate::{CoreError, Result, Store};

/// The service type this store reports.
pub const SERVICE_TYPE: &str = "urn:x-tams:service.rushes";
/// The TAMS API version implemented.
pub const API_VERSION: &str = "8.2";

fn secs(d: std::time::Duration) -> Timestamp {
    Timestamp::from_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Store {
    /// `GET /service`.
    pub async fn service_info(&self) -> Result<Service> {
        let mut name = None;
        let mut description = None;
        for (key, value) in self.index.service_settings().await? {
            let value: Value = serde_json::from_str(&value).map_err(|e| {
                CoreError::Internal(format!("service setting {key} cannot be read: {e}"))
            })?;
            match key.as_str() {
                "name" => name = value.as_str().map(str::to_owned),
                "description" => description = value.as_str().map(str::to_owned),
                _ => {}
            }
        }
        let object_timeout = secs(self.settings.object_timeout);
        Ok(Service {
            name,
            description,
            service_type: SERVICE_TYPE.to_owned(),
            api_version: API_VERSION.to_owned(),
            service_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            event_stream_mechanisms: Some(self.event_stream_mechanisms()),
            min_object_timeout: object_timeout,
            // Never longer than the object timeout, as the spec requires.
            min_presigned_url_timeout: Some(secs(
                self.settings.url_ttl.min(self.settings.object_timeout),
            )),
            extra: Map::new(),
        })
    }

    /// `POST /service`: sets the name and/or description.
    pub async fn update_service(&self, post: ServicePost) -> Result<()> {
        let mut settings = Vec::new();
        if let Some(name) = post.name {
            settings.push(("name", Value::String(name).to_string()));
        }
        if let Some(description) = post.description {
            settings.push(("description", Value::String(description).to_string()));
        }
        self.index
            .write(move |tx| tx.set_service_settings(&settings))
            .await?;
        Ok(())
    }

    /// `GET /service/storage-backends`: the backends matching `tags`, by label (or id).
    pub fn storage_backends(
        &self,
        tags: &[TagFilter],
        reverse: bool,
    ) -> Result<Vec<StorageBackend>> {
        let mut backends = Vec::new();
        for media in self.media.iter() {
            let info = media.storage_backend();
            let id = StorageBackendId::from_uuid(info.id)
                .map_err(|e| CoreError::Internal(format!("storage backend id: {e}")))?;
            backends.push(StorageBackend {
                id,
                label: Some(info.label.clone()).filter(|l| !l.is_empty()),
                default_storage: Some(info.default_storage),
                store_type: StoreType::HttpObjectStore,
                provider: info.provider.clone(),
                region: info.region.clone(),
                availability_zone: info.availability_zone.clone(),
                store_product: info.store_product.clone(),
                tags: None,
                extra: Map::new(),
            });
        }
        let mut all: Vec<StorageBackend> = backends
            .into_iter()
            .filter(|b| tags.iter().all(|f| f.matches(b.tags.as_ref())))
            .collect();
        all.sort_by(|a, b| {
            let key = |s: &StorageBackend| {
                (
                    s.label.is_none(),
                    s.label.clone().unwrap_or_else(|| s.id.to_string()),
                )
            };
            key(a).cmp(&key(b))
        });
        if reverse {
            all.reverse();
        }
        Ok(all)
    }
}
