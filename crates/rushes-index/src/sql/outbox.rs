//! Reading the outbox and delivering it: events in seq order, webhook cursors claimed
//! under leases, retry state, pruning of delivered events.

use crate::db::{p, Conn, Row};
use crate::sql::Tx;
use crate::{Index, Result};

/// One outbox event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Position in the outbox: increasing, never reused.
    pub seq: i64,
    /// Stable id (a UUID) of the event.
    pub id: String,
    pub event_type: String,
    pub flow_id: Option<String>,
    pub source_id: Option<String>,
    /// RFC 3339 time of the change.
    pub timestamp: String,
    /// The event's `event` object as JSON text.
    pub payload: String,
    /// The resource's auth classes at commit time (a JSON array; `None`: unclassified).
    pub auth_classes: Option<String>,
}

fn event_row(r: &Row<'_>) -> Result<EventRow> {
    Ok(EventRow {
        seq: r.get(0)?,
        id: r.get(1)?,
        event_type: r.get(2)?,
        flow_id: r.get(3)?,
        source_id: r.get(4)?,
        timestamp: r.get(5)?,
        payload: r.get(6)?,
        auth_classes: r.get(7)?,
    })
}

/// A webhook with its delivery state.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub pk: i64,
    pub id: String,
    pub status: String,
    /// The registration (with `api_key_value`: never show it).
    pub doc: String,
    /// Seq of the last event delivered or passed over.
    pub cursor_seq: i64,
    /// Failed attempts at the event after the cursor.
    pub attempts: i64,
    pub failing_since_ms: Option<i64>,
    pub next_attempt_ms: i64,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
}

const DELIVERY_SELECT: &str = "SELECT w.pk, w.id, w.status, w.doc, d.cursor_seq, d.attempts, \
     d.failing_since_ms, d.next_attempt_ms, d.lease_owner, d.lease_until_ms \
     FROM webhooks w JOIN webhook_delivery d ON d.webhook_pk = w.pk";

fn delivery_row(r: &Row<'_>) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        status: r.get(2)?,
        doc: r.get(3)?,
        cursor_seq: r.get(4)?,
        attempts: r.get(5)?,
        failing_since_ms: r.get(6)?,
        next_attempt_ms: r.get(7)?,
        lease_owner: r.get(8)?,
        lease_until_ms: r.get(9)?,
    })
}

/// The outbox head, the highest seq ever given: SQLite keeps it in `sqlite_sequence`,
/// PostgreSQL in the sequence `events_seq` behind `events.seq` (pruning lowers neither).
const HEAD_LITE: &str = "SELECT seq FROM sqlite_sequence WHERE name = 'events'";
const HEAD_PG: &str = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_seq";

/// The highest seq the outbox ever gave (0 when none); pruning does not lower it.
pub(crate) fn outbox_head(conn: Conn<'_>) -> Result<i64> {
    Ok(conn
        .query_opt(conn.pick(HEAD_LITE, HEAD_PG), p![], |r| r.get::<i64>(0))?
        .unwrap_or(0))
}

/// Events up to the lowest cursor of the delivering webhooks (the head when none).
const DELIVERED_LITE: &str = "SELECT seq, timestamp FROM events WHERE seq <= COALESCE( \
     (SELECT MIN(d.cursor_seq) FROM webhook_delivery d JOIN webhooks w ON w.pk = d.webhook_pk \
      WHERE w.status IN ('created', 'started')), \
     (SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) \
     ORDER BY seq LIMIT ?1";
const DELIVERED_PG: &str = "SELECT seq, timestamp FROM events WHERE seq <= COALESCE( \
     (SELECT MIN(d.cursor_seq) FROM webhook_delivery d JOIN webhooks w ON w.pk = d.webhook_pk \
      WHERE w.status IN ('created', 'started')), \
     (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_seq), 0) \
     ORDER BY seq LIMIT ?1";

impl Index {
    /// Up to `limit` events after `after_seq`, in seq order.
    pub async fn events_after(&self, after_seq: i64, limit: u32) -> Result<Vec<EventRow>> {
        self.read(move |c| {
            c.query(
                "SELECT seq, id, event_type, flow_id, source_id, timestamp, payload, auth_classes \
                 FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                p![after_seq, limit],
                event_row,
            )
        })
        .await
    }

    /// The seq of the oldest event still in the outbox, if any.
    pub async fn oldest_event(&self) -> Result<Option<i64>> {
        self.read(|c| c.query_one("SELECT MIN(seq) FROM events", p![], |r| r.get(0)))
            .await
    }

    /// The highest seq the outbox ever gave (0 when none).
    pub async fn outbox_head(&self) -> Result<i64> {
        self.read(outbox_head).await
    }

    /// The webhooks that deliver (status `created` or `started`), with their state.
    pub async fn active_deliveries(&self) -> Result<Vec<DeliveryRow>> {
        self.read(|c| {
            c.query(
                &format!(
                    "{DELIVERY_SELECT} WHERE w.status IN ('created', 'started') ORDER BY w.pk"
                ),
                p![],
                delivery_row,
            )
        })
        .await
    }

    /// Webhook `pk` with its delivery state, whatever its status.
    pub async fn delivery(&self, pk: i64) -> Result<Option<DeliveryRow>> {
        self.read(move |c| {
            c.query_opt(
                &format!("{DELIVERY_SELECT} WHERE w.pk = ?1"),
                p![pk],
                delivery_row,
            )
        })
        .await
    }

    /// The error (error.json text) recorded for webhook `id`, if any.
    pub async fn webhook_error(&self, id: &str) -> Result<Option<String>> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(
                c.query_opt("SELECT error FROM webhooks WHERE id = ?1", p![id], |r| {
                    r.get::<Option<String>>(0)
                })?
                .flatten(),
            )
        })
        .await
    }

    /// Up to `limit` of the oldest events every delivering webhook has had, as
    /// `(seq, timestamp)`. Webhooks that are disabled or in error hold nothing back.
    pub async fn delivered_events(&self, limit: u32) -> Result<Vec<(i64, String)>> {
        self.read(move |c| {
            c.query(c.pick(DELIVERED_LITE, DELIVERED_PG), p![limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .await
    }
}

impl Tx<'_> {
    /// Takes (or renews) the lease of webhook `pk` for `owner` until `until_ms`, if it is
    /// free, expired at `now_ms`, or already `owner`'s. False when another node holds it.
    pub fn claim_delivery(&self, pk: i64, owner: &str, now_ms: i64, until_ms: i64) -> Result<bool> {
        let n = self.db.execute(
            "UPDATE webhook_delivery SET lease_owner = ?2, lease_until_ms = ?4 \
             WHERE webhook_pk = ?1 AND (lease_owner IS NULL OR lease_owner = ?2 \
                   OR lease_until_ms IS NULL OR lease_until_ms < ?3)",
            p![pk, owner, now_ms, until_ms],
        )?;
        Ok(n == 1)
    }

    /// Moves the cursor of webhook `pk` to `seq` (never back), clears the retry state and
    /// renews `owner`'s lease; with `delivered`, a `created` webhook becomes `started`.
    /// False when `owner` no longer holds the lease (nothing changes then).
    pub fn advance_delivery(
        &self,
        pk: i64,
        owner: &str,
        seq: i64,
        until_ms: i64,
        delivered: bool,
    ) -> Result<bool> {
        let n = self.db.execute(
            self.db.pick(
                "UPDATE webhook_delivery SET cursor_seq = MAX(cursor_seq, ?3), attempts = 0, \
                 failing_since_ms = NULL, next_attempt_ms = 0, last_error = NULL, lease_until_ms = ?4 \
                 WHERE webhook_pk = ?1 AND lease_owner = ?2",
                "UPDATE webhook_delivery SET cursor_seq = GREATEST(cursor_seq, ?3), attempts = 0, \
                 failing_since_ms = NULL, next_attempt_ms = 0, last_error = NULL, lease_until_ms = ?4 \
                 WHERE webhook_pk = ?1 AND lease_owner = ?2",
            ),
            p![pk, owner, seq, until_ms],
        )?;
        if n == 1 && delivered {
            self.db.execute(
                "UPDATE webhooks SET status = 'started' WHERE pk = ?1 AND status = 'created'",
                p![pk],
            )?;
        }
        Ok(n == 1)
    }

    /// Moves the cursors of webhooks forward, each `(pk, owner, seq)` only while `owner`
    /// holds the webhook's lease and only when `seq` is past its stored cursor; leaves the
    /// lease, the status and the retry state alone. Returns how many cursors moved.
    pub fn advance_cursors(&self, cursors: &[(i64, String, i64)]) -> Result<usize> {
        let mut moved = 0;
        for (pk, owner, seq) in cursors {
            moved += self.db.execute(
                "UPDATE webhook_delivery SET cursor_seq = ?3 \
                 WHERE webhook_pk = ?1 AND lease_owner = ?2 AND cursor_seq < ?3",
                p![pk, owner, seq],
            )?;
        }
        Ok(moved)
    }

    /// Records a failed attempt at the event after the cursor of webhook `pk`.
    pub fn record_delivery_failure(
        &self,
        pk: i64,
        owner: &str,
        attempts: i64,
        failing_since_ms: i64,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<bool> {
        let n = self.db.execute(
            "UPDATE webhook_delivery SET attempts = ?3, failing_since_ms = ?4, \
             next_attempt_ms = ?5, last_error = ?6 WHERE webhook_pk = ?1 AND lease_owner = ?2",
            p![
                pk,
                owner,
                attempts,
                failing_since_ms,
                next_attempt_ms,
                error
            ],
        )?;
        Ok(n == 1)
    }

    /// Puts webhook `pk` in status `error` with `error` (error.json text) and releases
    /// `owner`'s lease. Only a delivering webhook (`created`, `started`) changes.
    pub fn fail_delivery(&self, pk: i64, owner: &str, error: &str) -> Result<bool> {
        let n = self.db.execute(
            "UPDATE webhooks SET status = 'error', error = ?2 \
             WHERE pk = ?1 AND status IN ('created', 'started')",
            p![pk, error],
        )?;
        self.release_delivery(pk, owner)?;
        Ok(n == 1)
    }

    /// Gives up `owner`'s lease on webhook `pk`.
    pub fn release_delivery(&self, pk: i64, owner: &str) -> Result<()> {
        self.db.execute(
            "UPDATE webhook_delivery SET lease_owner = NULL, lease_until_ms = NULL \
             WHERE webhook_pk = ?1 AND lease_owner = ?2",
            p![pk, owner],
        )?;
        Ok(())
    }

    /// Deletes the events with seq up to `seq`; returns how many went.
    pub fn delete_events_through(&self, seq: i64) -> Result<usize> {
        self.db
            .execute("DELETE FROM events WHERE seq <= ?1", p![seq])
    }
}
