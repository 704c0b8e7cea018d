//! Store operations, one module per resource.
pub mod deletion;
pub mod events;
pub mod flows;
pub mod hls;
pub mod listing;
pub mod objects;
pub mod profiles;
pub mod segments;
pub mod service;
pub mod sources;
pub mod storage;
pub mod webhooks;
