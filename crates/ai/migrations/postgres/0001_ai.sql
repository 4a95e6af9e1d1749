-- Orders already learned from (order-placed is delivered at least once).
CREATE TABLE processed_orders (
    event_id TEXT PRIMARY KEY,
    processed_at TIMESTAMPTZ NOT NULL
);
-- How many orders contained both products (stored in both directions).
CREATE TABLE co_purchases (
    product_id TEXT NOT NULL,
    other_id TEXT NOT NULL,
    orders BIGINT NOT NULL,
    PRIMARY KEY (product_id, other_id)
);
-- How many orders contained each product.
CREATE TABLE product_orders (
    product_id TEXT PRIMARY KEY,
    orders BIGINT NOT NULL
);
CREATE INDEX product_orders_popular ON product_orders (orders DESC, product_id);
