-- Event delivery: a cursor per webhook into the outbox (`events`), its retry state and
-- the lease of the node delivering it, and the error that stopped a webhook.

-- One row per webhook. cursor_seq is the seq of the last event delivered (or passed over
-- by the webhook's filters); it moves only after the receiver answered 2xx, so a crash
-- re-delivers, never skips. A webhook starts at the outbox head of its registration.
CREATE TABLE webhook_delivery (
    webhook_pk       INTEGER PRIMARY KEY REFERENCES webhooks(pk) ON DELETE CASCADE,
    cursor_seq       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,   -- failed attempts at the event after the cursor
    failing_since_ms INTEGER,                      -- first failure of that event
    next_attempt_ms  INTEGER NOT NULL DEFAULT 0,   -- no attempt before this time (backoff)
    last_error       TEXT,
    lease_owner      TEXT,                         -- the node delivering this webhook
    lease_until_ms   INTEGER
);

-- The error (error.json) that put a webhook in status `error`.
ALTER TABLE webhooks ADD COLUMN error TEXT;

-- The outbox head: the highest seq ever given (sqlite_sequence survives pruning).
CREATE TRIGGER webhook_delivery_on_insert AFTER INSERT ON webhooks
BEGIN
    INSERT INTO webhook_delivery (webhook_pk, cursor_seq)
    VALUES (NEW.pk, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0));
END;

-- A client setting status `created` or `disabled` clears the error and the retry state;
-- `created` on a webhook already delivering keeps it `started`.
CREATE TRIGGER webhook_delivery_on_status AFTER UPDATE OF status ON webhooks
WHEN NEW.status IN ('created', 'disabled')
BEGIN
    UPDATE webhooks SET error = NULL WHERE pk = NEW.pk AND error IS NOT NULL;
    UPDATE webhooks SET status = 'started'
        WHERE pk = NEW.pk AND NEW.status = 'created' AND OLD.status = 'started';
    UPDATE webhook_delivery
        SET attempts = 0, failing_since_ms = NULL, next_attempt_ms = 0, last_error = NULL
        WHERE webhook_pk = NEW.pk AND OLD.status != NEW.status;
END;

INSERT INTO webhook_delivery (webhook_pk, cursor_seq)
SELECT pk, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) FROM webhooks;
