CREATE TABLE products (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents > 0),
    category TEXT NOT NULL,
    tags JSONB NOT NULL DEFAULT '[]',
    image_url TEXT,
    stock_quantity BIGINT NOT NULL DEFAULT 0,
    attributes JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    search TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A') ||
        setweight(to_tsvector('english', category), 'B') ||
        setweight(jsonb_to_tsvector('english', tags, '["string"]'), 'B') ||
        setweight(to_tsvector('english', description), 'C')
    ) STORED
);
CREATE INDEX products_search ON products USING GIN (search);
CREATE INDEX products_category ON products (lower(category));
CREATE INDEX products_created ON products (created_at, id);
CREATE INDEX products_tags ON products USING GIN (tags);
