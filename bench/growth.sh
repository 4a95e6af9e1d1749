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
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "$data" ] && rm -rf "$data"
}
trap cleanup EXIT
export RATE_LIMIT_PER_MINUTE=0 AI_RATE_LIMIT_PER_MINUTE=0 AI_FOLLOW_UP_EMAILS=false RUST_LOG=${RUST_LOG:-warn}

start() { # sets pid and ready_ms
  local t0 ms=""
  t0=$(date +%s%N)
  "$bin" up --data-dir "$data" >>"$data/up.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 2000); do
    if curl -sf -o /dev/null http://127.0.0.1:9000/ready; then ms=$((($(date +%s%N) - t0) / 1000000)); break; fi
    sleep 0.005
  done
  [ -n "$ms" ] || { echo "shop up did not become ready; its log:" >&2; cat "$data/up.log" >&2; exit 1; }
  ready_ms=$ms
}
stop() { kill "$pid" && wait "$pid" 2>/dev/null || true; pid=""; }

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
  start
  stop
  [ "$count" -gt 0 ] && past_orders "$count"
  start
  token=""
  [ "${AUTH_MODE:-}" != "off" ] && token=$("$bin" token --data-dir "$data" --email admin@example.com --role admin 2>/dev/null | tail -n1)
  auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  for i in $(seq -w 1 50); do
    curl -sf -o /dev/null -X PATCH -H 'Content-Type: application/json' "${auth[@]}" -d '{"quantity":1000000}' \
      "http://127.0.0.1:9000/api/inventory/prod-0$i/restock" || true
  done
  out=$(TOKEN=$token wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/orders.lua" http://127.0.0.1:9000/api/orders)
  rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  printf '%-10s %-10s %-10s %-10s %-8s %s MB\n' "$count" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1=="50%" {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")" "${ready_ms}ms" "$((rss_kb / 1024))"
  stop
  rm -rf "$data"
  data=""
done
