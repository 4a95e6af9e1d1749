CREATE TABLE products (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents > 0),
    category TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    image_url TEXT,
    stock_quantity INTEGER NOT NULL DEFAULT 0,
    attributes TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX products_category ON products (lower(category));
CREATE INDEX products_created ON products (created_at, id);

-- Full-text index kept in step by triggers; tags are indexed as space-separated words.
CREATE VIRTUAL TABLE products_fts USING fts5(
    id UNINDEXED, name, category, tags, description, tokenize = 'porter unicode61'
);
CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts (id, name, category, tags, description)
    VALUES (new.id, new.name, new.category,
            (SELECT group_concat(value, ' ') FROM json_each(new.tags)), new.description);
END;
CREATE TRIGGER products_fts_update AFTER UPDATE ON products BEGIN
    DELETE FROM products_fts WHERE id = old.id;
    INSERT INTO products_fts (id, name, category, tags, description)
    VALUES (new.id, new.name, new.category,
            (SELECT group_concat(value, ' ') FROM json_each(new.tags)), new.description);
END;
CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
    DELETE FROM products_fts WHERE id = old.id;
END;
