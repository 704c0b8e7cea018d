//! The metadata index of a Rushes store.
//!
//! [`Index`] owns the database: on the embedded default a SQLite file in WAL mode, with
//! one writer thread and a pool of read connections (`sqlite/engine.rs`). Writes are
//! closures over a [`Tx`] given to [`Index::write`]; the writer runs every closure waiting
//! in its queue in one transaction, each in its own savepoint, and commits once (group
//! commit), so concurrent requests share the cost of a commit and SQLite never answers
//! `SQLITE_BUSY`. Each role of the store has its own module of statements in
//! `sqlite/<role>.rs`: reads as `impl Index` methods, writes as `impl Tx` methods. The
//! schema lives in `migrations/sqlite/`, applied at open (`PRAGMA user_version` counts
//! the migrations applied).
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
