//! A typed async client of the TAMS v8.2 HTTP API, for any TAMS store (Rushes or another).
//!
//! [`Client`] holds the store's URL, its credentials ([`Auth`]: none, bearer token or
//! HTTP basic) and a connection pool; [`ClientBuilder`] sets timeouts and retries. It
//! speaks the spec's resources as the types of [`rushes_model`]: [`Client::get_service`],
//! [`Client::put_flow`] / [`Client::get_flow`] / [`Client::list_flows`],
//! [`Client::get_source`], [`Client::allocate_storage`] then [`Client::upload`] of the
//! bytes to each `put_url`, [`Client::post_segment`] / [`Client::post_segments`] (which
//! return the store's `failed_segments`), [`Client::list_segments`],
//! [`Client::get_object`] and [`Client::download`] of a `get_url`.
//!
//! Listings are [`Pages`]: one page at a time, all of them, or a stream of items,
//! following the `Link: <...>; rel="next"` header; [`Query`] gives their parameters.
//! For answers the typed model refuses (another store's extensions or looser ids),
//! [`Client::get`], [`Client::get_json`] and [`Client::pages`] decode into any type,
//! e.g. `serde_json::Value`.
//!
//! Failures are [`Error`]s; an answer that is not a success keeps its HTTP status and
//! the spec's error body (`{type, summary, time}`) when the store sent one. A 503 with
//! `Retry-After` is retried a bounded number of times with a doubling wait, for requests
//! that can be repeated (GET, HEAD, PUT, DELETE); POSTs (storage, segments) never are.
//! Credentials go with API requests only, never to media URLs, which are their own
//! credential.

mod client;
mod error;
mod query;

pub use client::{Auth, Client, ClientBuilder, Pages, UploadBody};
pub use error::Error;
pub use query::Query;
pub use reqwest::StatusCode;
pub use rushes_model as model;
