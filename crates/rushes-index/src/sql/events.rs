//! The outbox: events written in the same transaction as the change that caused them.

use crate::db::p;
use crate::sql::Tx;
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

/// Appends an event with the classes of its flow (kind 2) or else its source (kind 1), as
/// a JSON array (NULL when none); returns its seq.
const INSERT_EVENT_LITE: &str =
    "INSERT INTO events (id, event_type, flow_id, source_id, timestamp, payload, auth_classes) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULLIF(CASE WHEN ?3 IS NOT NULL \
     THEN (SELECT json_group_array(c.class) FROM resource_classes c \
           WHERE c.kind = 2 AND c.pk = (SELECT pk FROM flows WHERE id = ?3)) \
     ELSE (SELECT json_group_array(c.class) FROM resource_classes c \
           WHERE c.kind = 1 AND c.pk = (SELECT pk FROM sources WHERE id = ?4)) END, '[]')) \
     RETURNING seq";

/// [`INSERT_EVENT_LITE`] on PostgreSQL: `jsonb_agg` is NULL over no rows, and `?3` needs a
/// type where it is only tested for NULL.
const INSERT_EVENT_PG: &str =
    "INSERT INTO events (id, event_type, flow_id, source_id, timestamp, payload, auth_classes) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULLIF(CASE WHEN CAST(?3 AS TEXT) IS NOT NULL \
     THEN (SELECT COALESCE(jsonb_agg(c.class ORDER BY c.class)::text, '[]') FROM resource_classes c \
           WHERE c.kind = 2 AND c.pk = (SELECT pk FROM flows WHERE id = ?3)) \
     ELSE (SELECT COALESCE(jsonb_agg(c.class ORDER BY c.class)::text, '[]') FROM resource_classes c \
           WHERE c.kind = 1 AND c.pk = (SELECT pk FROM sources WHERE id = ?4)) END, '[]')) \
     RETURNING seq";

impl Tx<'_> {
    /// Appends `ev` to the outbox, in this transaction, with the classes its resource has
    /// now (the flow's effective classes, else the source's; NULL when unclassified). A
    /// deletion's event is written before the rows go, so it carries the classes it had.
    pub fn insert_event(&self, ev: &NewEvent<'_>) -> Result<()> {
        let payload = ev.payload.to_string();
        self.insert_event_json(
            ev.event_type,
            ev.flow_id,
            ev.source_id,
            ev.timestamp,
            &payload,
        )
    }

    /// As [`Tx::insert_event`], with the payload already serialized (JSON object text),
    /// so that a large payload can be built outside the writer.
    pub fn insert_event_json(
        &self,
        event_type: &str,
        flow_id: Option<&str>,
        source_id: Option<&str>,
        timestamp: &str,
        payload: &str,
    ) -> Result<()> {
        let id = uuid::Uuid::new_v4().to_string();
        let seq = self.db.query_one(
            self.db.pick(INSERT_EVENT_LITE, INSERT_EVENT_PG),
            p![id, event_type, flow_id, source_id, timestamp, payload],
            |r| r.get::<i64>(0),
        )?;
        self.last_event.set(seq);
        Ok(())
    }
}
