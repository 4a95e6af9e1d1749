#!/usr/bin/env bash
# Orders/s on `shop up` as the data grows: for each count, a fresh data directory gets that
# many past orders (one line each, DELIVERED, spread over the previous days, with their
# COMMITTED stock reservations) written straight into its SQLite files, then `shop up` is
# started on it and loaded like bench/shop-up-orders.sh.
#
#   bash bench/growth.sh [path/to/shop] [seconds] [connections] [counts…]
#
# Default counts: 0 100000 1000000. Prints one line per count: orders/s, p50, p99, ready
# time and resident memory after the load. Needs wrk, curl and sqlite3. AUTH_MODE=off skips
# the token. Ports are shop up's defaults: nothing else may hold them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../target/release/shop}
secs=${2:-15}
conns=${3:-64}
shift $(($# < 3 ? $# : 3))
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(0 100000 1000000)
data=""
# shellcheck source=lib/shop-up.sh
. "$here/lib/shop-up.sh"
trap 'shop_up_stop; [ -n "$data" ] && rm -rf "$data"' EXIT

past_orders() { # count
  sqlite3 "$data/orders.db" >/dev/null <<SQL
PRAGMA busy_timeout = 10000;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT INTO orders (id, order_number, customer_name, customer_email, total_cents, status, created_at, updated_at)
SELECT randomblob(16), 'GROW-' || i, 'Growth', 'grow' || (i % 10000) || '@example.com', 99999, 'DELIVERED', t, t
FROM (SELECT i, strftime('%Y-%m-%dT%H:%M:%S', 'now', '-' || i || ' seconds') || '.000000Z' AS t FROM n);
INSERT INTO order_items (id, order_id, position, product_id, product_name, quantity, unit_cents, total_cents)
SELECT randomblob(16), id, 0, 'prod-001', 'Growth', 1, 99999, 99999 FROM orders WHERE order_number LIKE 'GROW-%';
COMMIT;
SQL
  sqlite3 "$data/inventory.db" >/dev/null <<SQL
PRAGMA busy_timeout = 10000;
ATTACH '$data/orders.db' AS o;
BEGIN;
INSERT INTO reservations (order_id, status, expires_at, created_at, updated_at)
SELECT id, 'COMMITTED', created_at, created_at, created_at FROM o.orders WHERE order_number LIKE 'GROW-%';
INSERT INTO reservation_items (order_id, product_id, quantity)
SELECT id, 'prod-001', 1 FROM o.orders WHERE order_number LIKE 'GROW-%';
COMMIT;
SQL
}

printf '%-10s %-10s %-10s %-10s %-8s %s\n' "orders" "orders/s" "p50" "p99" "ready" "resident"
for count in "${counts[@]}"; do
  data=$(mktemp -d)
  # A first start creates the stores; the past orders go in while it is stopped.
  shop_up_start
  shop_up_stop
  [ "$count" -gt 0 ] && past_orders "$count"
  shop_up_start
  shop_up_load
  printf '%-10s %-10s %-10s %-10s %-8s %s MB\n' "$count" "$rps" "$p50" "$p99" "${ready_ms}ms" "$rss_mb"
  shop_up_stop
  rm -rf "$data"
  data=""
done
