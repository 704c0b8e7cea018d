//! The outbox: events written in the same transaction as the change that caused them.

use sqlx::SqliteConnection;

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

/// Appends `ev` to the outbox on `conn`, which must be inside the transaction of the change.
pub(crate) async fn insert_event(conn: &mut SqliteConnection, ev: &NewEvent<'_>) -> Result<()> {
    sqlx::query("INSERT INTO events (id, event_type, flow_id, source_id, timestamp, payload) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(ev.event_type)
        .bind(ev.flow_id)
        .bind(ev.source_id)
        .bind(ev.timestamp)
        .bind(ev.payload.to_string())
        .execute(conn)
        .await?;
    Ok(())
}
