-- Durable retries (ADR 0008). A failed email waits as RETRYING until next_attempt_at, and the
-- record keeps what resending and dead-lettering need without the event: the rendered email
-- and the original message (topic, key, headers as a JSON array of pairs, payload).
-- attempts counts every attempt ever made (it also fences an attempt's outcome: see store.rs);
-- retry_step is how far along the schedule the current round of retries is.
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('PENDING', 'RETRYING', 'SENT', 'FAILED'));
ALTER TABLE notifications
    ADD COLUMN recipient_name TEXT,
    ADD COLUMN text_body TEXT NOT NULL DEFAULT '',
    ADD COLUMN html_body TEXT NOT NULL DEFAULT '',
    ADD COLUMN retry_step BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at TIMESTAMPTZ,
    ADD COLUMN source_topic TEXT NOT NULL DEFAULT '',
    ADD COLUMN source_key TEXT NOT NULL DEFAULT '',
    ADD COLUMN source_headers TEXT NOT NULL DEFAULT '[]',
    ADD COLUMN source_payload BYTEA NOT NULL DEFAULT ''::bytea;
-- The retry worker's question: which retries are due, soonest first.
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'RETRYING';
