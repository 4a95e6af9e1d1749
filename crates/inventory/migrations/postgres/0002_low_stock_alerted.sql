-- Whether this item's low-stock alert has fired since stock was last raised to its
-- threshold: a release must not re-arm it, only a restock or an update above it does.
ALTER TABLE inventory ADD COLUMN low_stock_alerted BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE inventory SET low_stock_alerted = (quantity - reserved_qty < low_stock_threshold);
