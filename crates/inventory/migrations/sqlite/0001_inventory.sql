CREATE TABLE inventory (
    id BLOB NOT NULL UNIQUE,
    product_id TEXT PRIMARY KEY,
    product_name TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity >= 0),
    reserved_qty INTEGER NOT NULL DEFAULT 0 CHECK (reserved_qty >= 0 AND reserved_qty <= quantity),
    low_stock_threshold INTEGER NOT NULL DEFAULT 10 CHECK (low_stock_threshold >= 0),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One row per order: stock held for it, all items or none.
CREATE TABLE reservations (
    order_id BLOB PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'RELEASED', 'COMMITTED')),
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX reservations_pending ON reservations (expires_at) WHERE status = 'PENDING';

CREATE TABLE reservation_items (
    order_id BLOB NOT NULL REFERENCES reservations (order_id),
    product_id TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);
