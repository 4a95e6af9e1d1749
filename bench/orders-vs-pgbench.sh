#!/usr/bin/env bash
# Orders/s through the gateway on PostgreSQL against pgbench running the same order-shaped
# transaction (bench/pgbench/order.sql), one after the other in one run, same concurrency.
#
#   bash bench/orders-vs-pgbench.sh [path/to/shop] [seconds] [connections]
#
# Five `shop serve` processes (product, inventory, order, notification, gateway) on a fresh
# PostgreSQL database at PGURL (default postgres://postgres@127.0.0.1:5432), AUTH_MODE=off,
# the embedded event log on PostgreSQL unless KAFKA_BROKERS is set; the demo catalog
# restocked; wrk with bench/orders.lua. Needs wrk, pgbench, psql and curl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../target/release/shop}
secs=${2:-20}
conns=${3:-64}
pgurl=${PGURL:-postgres://postgres@127.0.0.1:5432}
db=shop_bench_$$
logs=$(mktemp -d)
pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null && wait 2>/dev/null
  psql "$pgurl/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$logs"
}
trap cleanup EXIT
psql "$pgurl/postgres" -qc "CREATE DATABASE $db" >/dev/null

export DATABASE_URL=$pgurl/$db AUTH_MODE=off RATE_LIMIT_PER_MINUTE=0 RUST_LOG=warn EMAIL_TRANSPORT=log
# The gateway shares the two cores with four services, PostgreSQL and wrk, and needs about
# a tenth of one: one event loop (its default is one per CPU). With two, each wakes for
# half the requests and orders/s came out 2-7% lower (docs/performance.md, 2026-12-06).
export GATEWAY_WORKERS=${GATEWAY_WORKERS:-1}
"$bin" migrate >"$logs/migrate.log" 2>&1
"$bin" seed >"$logs/seed.log" 2>&1
for svc in product inventory order notification gateway; do
  "$bin" serve "$svc" >"$logs/$svc.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 200); do curl -sf -o /dev/null localhost:9000/api/products/prod-001 && break; sleep 0.05; done
sleep 1
for i in $(seq -w 1 50); do
  curl -s -o /dev/null -X PATCH -H 'Content-Type: application/json' -d '{"quantity":1000000}' \
    "localhost:9000/api/inventory/prod-0$i/restock"
done

threads=2
shop_out=$(wrk -t$threads -c"$conns" -d"${secs}s" --latency -s "$here/orders.lua" http://127.0.0.1:9000/api/orders)
shop_rps=$(awk '/Requests\/sec/ {print $2}' <<<"$shop_out")
shop_p50=$(awk '$1=="50%" {print $2}' <<<"$shop_out")
shop_p99=$(awk '$1=="99%" {print $2}' <<<"$shop_out")
shop_bad=$(awk '/Non-2xx/ {print $NF}' <<<"$shop_out")
kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true
pids=()

psql "$pgurl/$db" -q -f "$here/pgbench/setup.sql" >/dev/null 2>&1
pg_out=$(pgbench "$pgurl/$db" -n -M prepared -f "$here/pgbench/order.sql" -c "$conns" -j $threads -T "$secs" 2>&1)
pg_tps=$(awk -F'= ' '/^tps/ {split($2, a, " "); print a[1]}' <<<"$pg_out")
pg_lat=$(awk -F'= ' '/latency average/ {print $2}' <<<"$pg_out")

printf 'shop orders/s  %s (p50 %s, p99 %s, non-2xx %s)\n' "$shop_rps" "$shop_p50" "$shop_p99" "${shop_bad:-0}"
printf 'pgbench tps    %s (latency average %s)\n' "$pg_tps" "$pg_lat"
awk -v a="$shop_rps" -v b="$pg_tps" 'BEGIN { printf "ratio          %.2f\n", a / b }'
