//! The metadata index of a Rushes store.
//!
//! [`Index`] owns the database: on the embedded default a SQLite file in WAL mode, with one
//! writer connection (SQLite admits one writer at a time; queuing writes here avoids
//! `SQLITE_BUSY`) and a pool of readers. Each role of the store has its own module of
//! queries (`impl Index` blocks in `sqlite/<role>.rs`); the schema lives in
//! `migrations/sqlite/`, applied at open.
//!
//! This crate holds SQL and nothing else: no business rules. Time is stored as integer
//! nanoseconds (normalised half-open `[start, end)`), never as SQL timestamps.
//!
//! **Invariant:** a write and the outbox rows it produces commit in one transaction.

mod error;
mod sqlite;

pub use error::IndexError;
pub use sqlite::deletion::{DeletionRow, DeletionSort, NewDeletion};
pub use sqlite::events::NewEvent;
pub use sqlite::flows::{FlowFilter, FlowRow, FlowWrite, SourceIfNew, SourceIfOrphan, TimeFilter};
pub use sqlite::listing::{Page, PageKey, TagFilter};
pub use sqlite::objects::{
    InstanceKey, InstanceRow, NewInstance, NewObject, ObjectRefs, ObjectRow,
};
pub use sqlite::profiles::ProfileFilter;
pub use sqlite::segments::{
    NewSegment, SegmentFlow, SegmentPage, SegmentRow, SegmentSelection, SegmentWriter,
};
pub use sqlite::sources::{ListSpec, NewSource, SortBy, SourceFilter, SourceRow};
pub use sqlite::webhooks::WebhookRow;
pub use sqlite::Index;

/// Result type of index operations.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
