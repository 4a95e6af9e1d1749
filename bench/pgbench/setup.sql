-- The order-shaped transaction's tables for pgbench (bench/pgbench/order.sql): the same
-- columns and constraints as the inventory and order services' own, in a schema of their own.
DROP SCHEMA IF EXISTS pgb CASCADE;
CREATE SCHEMA pgb;
CREATE TABLE pgb.inventory (
    product_id TEXT PRIMARY KEY,
    quantity BIGINT NOT NULL CHECK (quantity >= 0),
    reserved_qty BIGINT NOT NULL DEFAULT 0 CHECK (reserved_qty >= 0 AND reserved_qty <= quantity),
    updated_at TIMESTAMPTZ NOT NULL
);
INSERT INTO pgb.inventory
    SELECT format('prod-%s', lpad(i::text, 3, '0')), 1000000000, 0, now() FROM generate_series(1, 47) i;
CREATE TABLE pgb.orders (
    id UUID PRIMARY KEY,
    order_number TEXT NOT NULL UNIQUE,
    customer_name TEXT NOT NULL,
    customer_email TEXT NOT NULL,
    total_cents BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ON pgb.orders (created_at DESC, id DESC);
CREATE INDEX ON pgb.orders (customer_email, created_at DESC, id DESC);
CREATE TABLE pgb.order_items (
    id UUID PRIMARY KEY,
    order_id UUID NOT NULL REFERENCES pgb.orders (id),
    position BIGINT NOT NULL,
    product_id TEXT NOT NULL,
    product_name TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_cents BIGINT NOT NULL,
    total_cents BIGINT NOT NULL,
    UNIQUE (order_id, position)
);
CREATE TABLE pgb.outbox (
    id BIGSERIAL PRIMARY KEY,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    headers TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
