-- One order as pgbench sees it: a guarded stock update, the order, two items and its
-- outbox row, in one transaction (what the inventory and order services do per order,
-- without HTTP, JSON, tokens or events). Run by bench/orders-vs-pgbench.sh with -M prepared
-- (variables bind as parameters, as sqlx binds them).
\set p1 random(1, 47)
\set p2 random(1, 47)
BEGIN;
UPDATE pgb.inventory SET reserved_qty = reserved_qty + 1, updated_at = now()
    WHERE product_id = format('prod-%s', lpad(:p1::text, 3, '0')) AND quantity - reserved_qty >= 1;
INSERT INTO pgb.orders VALUES (gen_random_uuid(), md5(random()::text), 'Load Test', 'load@example.com', 199998, 'CONFIRMED', now(), now())
    RETURNING id \gset
INSERT INTO pgb.order_items VALUES (gen_random_uuid(), :id, 0, format('prod-%s', lpad(:p1::text, 3, '0')), 'Product', 1, 99999, 99999);
INSERT INTO pgb.order_items VALUES (gen_random_uuid(), :id, 1, format('prod-%s', lpad(:p2::text, 3, '0')), 'Product', 1, 99999, 99999);
INSERT INTO pgb.outbox (topic, key, headers, payload) VALUES ('order-placed', :id, '[]', convert_to(repeat('x', 400), 'UTF8'));
COMMIT;
