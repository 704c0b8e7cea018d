//! The metadata index of a Rushes store, on SQLite or PostgreSQL.
//!
//! [`Index`] owns the database, opened with [`Index::open_sqlite`] (the embedded default:
//! a SQLite file in WAL mode, `sql/engine.rs`) or [`Index::open_postgres`] (a PostgreSQL
//! database shared by several nodes, `sql/postgres.rs`). Either way a node has one writer
//! thread and a pool of read connections. Writes are closures over a [`Tx`] given to
//! [`Index::write`]; the writer runs every closure waiting in its queue in one
//! transaction, each in its own savepoint, and commits once (group commit), so concurrent
//! requests share the cost of a commit. On SQLite the writer is the one writer, so SQLite
//! never answers `SQLITE_BUSY`; on PostgreSQL every write transaction takes one advisory
//! lock ([`WRITE_LOCK`]), so the writes of all nodes are serialized, and a watcher polls
//! the outbox every [`EVENT_POLL`] so that events written by other nodes wake this node's
//! event readers ([`Index::committed_events`]: webhook delivery, event streams).
//!
//! Statements are written once, through the engine-neutral interface of `db.rs`, and
//! grouped per role of the store in `sql/<role>.rs`: reads as `impl Index` methods, writes
//! as `impl Tx` methods. The schema lives in `migrations/sqlite/` and
//! `migrations/postgres/`, applied at open (counted by `PRAGMA user_version` on SQLite,
//! by the `rushes_schema` table on PostgreSQL, where nodes starting together apply them
//! once under an advisory lock).
//!
//! This crate holds SQL and nothing else: no business rules. Time is stored as integer
//! nanoseconds (normalised half-open `[start, end)`), never as SQL timestamps.
//!
//! **Invariant:** a write and the outbox rows it produces commit in one transaction.

mod db;
mod error;
mod sql;

pub use error::IndexError;
pub use sql::deletion::{DeletionRow, DeletionSort, NewDeletion};
pub use sql::events::NewEvent;
pub use sql::flows::{FlowFilter, FlowRow, FlowWrite, SourceIfNew, SourceIfOrphan, TimeFilter};
pub use sql::listing::{Page, PageKey, TagFilter};
pub use sql::objects::{InstanceKey, InstanceRow, NewObject, ObjectRefs, ObjectRow};
pub use sql::outbox::{DeliveryRow, EventRow};
pub use sql::postgres::{redact as redact_url, PgSettings, EVENT_POLL, WRITE_LOCK};
pub use sql::profiles::ProfileFilter;
pub use sql::segments::{
    FlowSegments, NewSegment, SegmentFlow, SegmentPage, SegmentRow, SegmentSelection,
};
pub use sql::sources::{ListSpec, NewSource, SortBy, SourceCollections, SourceFilter, SourceRow};
pub use sql::webhooks::WebhookRow;
pub use sql::{Index, Tx, MAX_BATCH};

/// Result type of index operations.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
