-- Durable retries (ADR 0008). A failed email waits as RETRYING until next_attempt_at, and the
-- record keeps what resending and dead-lettering need without the event: the rendered email
-- and the original message (topic, key, headers as a JSON array of pairs, payload).
-- attempts counts every attempt ever made (it also fences an attempt's outcome: see store.rs);
-- retry_step is how far along the schedule the current round of retries is.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE notifications_v2 (
    id BLOB PRIMARY KEY,
    event_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'RETRYING', 'SENT', 'FAILED')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    recipient_name TEXT,
    text_body TEXT NOT NULL DEFAULT '',
    html_body TEXT NOT NULL DEFAULT '',
    retry_step INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    source_topic TEXT NOT NULL DEFAULT '',
    source_key TEXT NOT NULL DEFAULT '',
    source_headers TEXT NOT NULL DEFAULT '[]',
    source_payload BLOB NOT NULL DEFAULT x'',
    UNIQUE (event_id, kind)
);
INSERT INTO notifications_v2 (id, event_id, kind, recipient, subject, status, attempts, last_error, created_at, sent_at)
    SELECT id, event_id, kind, recipient, subject, status, attempts, last_error, created_at, sent_at FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_v2 RENAME TO notifications;
CREATE INDEX notifications_by_recipient ON notifications (recipient, created_at DESC, id DESC);
-- The retry worker's question: which retries are due, soonest first.
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'RETRYING';
