//! Store operations, one module per resource.
pub mod segments;
pub mod flows;
pub mod listing;
pub mod service;
pub mod sources;
pub mod objects;
pub mod deletion;
pub mod profiles;
pub mod webhooks;
pub mod storage;
