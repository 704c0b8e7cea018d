//! `MediaBackends`: the set of storage backends of a store, one of them the default.

use std::sync::Arc;

use url::Url;
use uuid::Uuid;

use crate::{BackendSpec, MediaStore, ObjectsError};

/// The storage backends of a store: each a [`MediaStore`] with its own id; exactly one is
/// the default for new storage; at most one is local (served by Rushes' media endpoint,
/// whose URLs name no backend).
#[derive(Debug, Clone)]
pub struct MediaBackends {
    all: Vec<Arc<MediaStore>>,
    default: usize,
}

impl MediaBackends {
    /// One backend, the default.
    pub fn single(mut store: MediaStore) -> Self {
        store.set_default(true);
        MediaBackends {
            all: vec![Arc::new(store)],
            default: 0,
        }
    }

    /// `stores`, with `stores[default]` the default. Ids must differ, and at most one
    /// store may be local.
    pub fn new(mut stores: Vec<MediaStore>, default: usize) -> Result<Self, ObjectsError> {
        if default >= stores.len() {
            return Err(ObjectsError::Config(
                "no default storage backend among the backends".into(),
            ));
        }
        for (i, s) in stores.iter().enumerate() {
            if stores[..i].iter().any(|o| o.backend_id() == s.backend_id()) {
                return Err(ObjectsError::Config(format!(
                    "two storage backends have the id {}",
                    s.backend_id()
                )));
            }
            if stores[..i]
                .iter()
                .any(|o| o.storage_backend().label == s.storage_backend().label)
            {
                return Err(ObjectsError::Config(format!(
                    "two storage backends have the label {:?}",
                    s.storage_backend().label
                )));
            }
        }
        if stores.iter().filter(|s| s.serves_media_endpoint()).count() > 1 {
            return Err(ObjectsError::Config(
                "at most one storage backend may be a local directory".into(),
            ));
        }
        for (i, s) in stores.iter_mut().enumerate() {
            s.set_default(i == default);
        }
        Ok(MediaBackends {
            all: stores.into_iter().map(Arc::new).collect(),
            default,
        })
    }

    /// Open every backend of `specs` (see [`MediaStore::open`]); `specs[default]` is the
    /// default.
    pub async fn open(
        specs: Vec<BackendSpec>,
        default: usize,
        public_base_url: Url,
    ) -> Result<Self, ObjectsError> {
        let mut stores = Vec::with_capacity(specs.len());
        for spec in specs {
            stores.push(MediaStore::open(spec, public_base_url.clone()).await?);
        }
        Self::new(stores, default)
    }

    /// The default backend, where storage is allocated unless a request names another.
    pub fn default_backend(&self) -> &Arc<MediaStore> {
        &self.all[self.default]
    }

    /// The backend with this id.
    pub fn get(&self, id: Uuid) -> Option<&Arc<MediaStore>> {
        self.all.iter().find(|s| s.backend_id() == id)
    }

    /// The backend with this id, given as text (as instance rows hold it).
    pub fn get_str(&self, id: &str) -> Option<&Arc<MediaStore>> {
        Uuid::parse_str(id).ok().and_then(|id| self.get(id))
    }

    /// The backend with this label.
    pub fn by_label(&self, label: &str) -> Option<&Arc<MediaStore>> {
        self.all.iter().find(|s| s.storage_backend().label == label)
    }

    /// The local backend, whose URLs Rushes' media endpoint serves, if there is one.
    pub fn local(&self) -> Option<&Arc<MediaStore>> {
        self.all.iter().find(|s| s.serves_media_endpoint())
    }

    /// Every backend, the order of configuration.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<MediaStore>> {
        self.all.iter()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn local(dir: &std::path::Path) -> MediaStore {
        MediaStore::open_local(dir, None, Url::parse("http://127.0.0.1:1/").unwrap()).unwrap()
    }

    #[test]
    fn one_default_and_lookups() {
        let a = tempfile::tempdir().unwrap();
        let store = local(a.path());
        let id = store.backend_id();
        let set = MediaBackends::single(store);
        assert_eq!(set.default_backend().backend_id(), id);
        assert!(set.default_backend().storage_backend().default_storage);
        assert!(set.get(id).is_some());
        assert!(set.get_str(&id.to_string()).is_some());
        assert!(set.get(Uuid::new_v4()).is_none());
        assert!(set.get_str("not-a-uuid").is_none());
        assert!(set.local().is_some());
        assert!(set.by_label("local").is_some());
    }

    #[test]
    fn refuses_two_local_backends_and_a_missing_default() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let err = MediaBackends::new(vec![local(a.path()), local(b.path())], 0).unwrap_err();
        assert!(err.to_string().contains("label") || err.to_string().contains("local"));
        let err = MediaBackends::new(vec![local(a.path())], 1).unwrap_err();
        assert!(err.to_string().contains("default"), "{err}");
        // The same directory twice is the same id.
        let err = MediaBackends::new(vec![local(a.path()), local(a.path())], 0).unwrap_err();
        assert!(err.to_string().contains("id"), "{err}");
    }
}
