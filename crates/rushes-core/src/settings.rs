//! [`StoreSettings`]: the knobs of the store's rules, with their defaults.

use std::time::Duration;

/// Settings of a [`Store`](crate::Store).
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// How long an object allocated through `/flows/{id}/storage` may stay unregistered
    /// before it is collected (the service's `min_object_timeout`).
    pub object_timeout: Duration,
    /// How long an object no segment references any more is kept before its bytes are
    /// deleted, so that readers holding URLs and in-flight registrations are safe.
    pub gc_grace: Duration,
    /// Lifetime of signed media URLs handed to clients.
    pub url_ttl: Duration,
    /// How often the background workers look for work.
    pub worker_interval: Duration,
    /// How long a node's claim on a piece of background work (a deletion request) lasts
    /// without progress; after it, another node takes the work over.
    pub work_lease: Duration,
    /// Largest page a listing returns, whatever `limit` asks for.
    pub max_page_limit: u32,
    /// Page size when a listing's `limit` is absent.
    pub default_page_limit: u32,
    /// The most each auth class grants (classes not listed grant every permission).
    pub class_ceilings: crate::classes::ClassCeilings,
    /// Event delivery (webhooks), event streams and outbox retention.
    pub events: crate::ops::events::EventSettings,
}

impl Default for StoreSettings {
    fn default() -> StoreSettings {
        StoreSettings {
            object_timeout: Duration::from_secs(3600),
            gc_grace: Duration::from_secs(600),
            url_ttl: Duration::from_secs(3600),
            worker_interval: Duration::from_secs(5),
            work_lease: Duration::from_secs(60),
            max_page_limit: 1000,
            default_page_limit: 100,
            class_ceilings: crate::classes::ClassCeilings::default(),
            events: crate::ops::events::EventSettings::default(),
        }
    }
}
