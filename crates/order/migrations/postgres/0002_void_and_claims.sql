-- A void order is a tombstone: the inventory's expiry sweeper gave up on this order id and
-- released its stock. The row takes the id, so a late insert of that order fails on the
-- primary key instead of writing an order whose stock is no longer held.
ALTER TABLE orders ADD COLUMN void BOOLEAN NOT NULL DEFAULT FALSE;

-- An Idempotency-Key is claimed, with the id its order will have, before stock is
-- reserved: a concurrent retry finds the claim and waits for that order instead of
-- reserving stock a second time.
CREATE TABLE idempotency_claims (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    order_id UUID NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL
);
INSERT INTO idempotency_claims (key, fingerprint, order_id, claimed_at)
    SELECT key, fingerprint, order_id, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
