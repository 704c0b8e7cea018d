//! The outbox: events written in the same transaction as the change that caused them.

use rusqlite::params;

use crate::sqlite::Tx;
use crate::Result;

/// An event to append to the outbox.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The spec's event type, e.g. `flows/segments_added`.
    pub event_type: &'a str,
    pub flow_id: Option<&'a str>,
    pub source_id: Option<&'a str>,
    /// RFC 3339 time of the change.
    pub timestamp: &'a str,
    /// The event's `event` object as the spec gives it.
    pub payload: &'a serde_json::Value,
}

impl Tx<'_> {
    /// Appends `ev` to the outbox, in this transaction.
    pub fn insert_event(&self, ev: &NewEvent<'_>) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO events (id, event_type, flow_id, source_id, timestamp, payload) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                uuid::Uuid::new_v4().to_string(),
                ev.event_type,
                ev.flow_id,
                ev.source_id,
                ev.timestamp,
                ev.payload.to_string()
            ])?;
        Ok(())
    }
}
