#!/usr/bin/env bash
# Orders/s through the gateway on `shop up` (SQLite, the embedded log, every service in one
# process), with the time it took to answer ready and its resident memory after the load.
#
#   bash bench/shop-up-orders.sh [path/to/shop] [seconds] [connections]
#
# A fresh data directory; rate limits and AI follow-up emails off; authentication on (the
# load sends an admin token from `shop token`) unless AUTH_MODE=off is set; SQLITE_SYNCHRONOUS
# as set (default full). The demo catalog is restocked, then wrk runs bench/orders.lua.
# Needs wrk and curl. Ports are shop up's defaults: nothing else may hold them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../target/release/shop}
secs=${2:-20}
conns=${3:-64}
data=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$data"
}
trap cleanup EXIT

export RATE_LIMIT_PER_MINUTE=0 AI_RATE_LIMIT_PER_MINUTE=0 AI_FOLLOW_UP_EMAILS=false RUST_LOG=${RUST_LOG:-warn}
start=$(date +%s%N)
"$bin" up --data-dir "$data" >"$data/up.log" 2>&1 &
pid=$!
ready_ms=""
for _ in $(seq 1 1000); do
  if curl -sf -o /dev/null http://127.0.0.1:9000/ready; then
    ready_ms=$((($(date +%s%N) - start) / 1000000))
    break
  fi
  sleep 0.005
done
[ -n "$ready_ms" ] || { echo "shop up did not become ready; its log:" >&2; cat "$data/up.log" >&2; exit 1; }

token=""
if [ "${AUTH_MODE:-}" != "off" ]; then
  token=$("$bin" token --data-dir "$data" --email admin@example.com --role admin 2>/dev/null | tail -n1)
fi
auth=()
[ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
for i in $(seq -w 1 50); do
  curl -sf -o /dev/null -X PATCH -H 'Content-Type: application/json' "${auth[@]}" -d '{"quantity":1000000}' \
    "http://127.0.0.1:9000/api/inventory/prod-0$i/restock" || true
done

out=$(TOKEN=$token wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/orders.lua" http://127.0.0.1:9000/api/orders)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
p50=$(awk '$1=="50%" {print $2}' <<<"$out")
p99=$(awk '$1=="99%" {print $2}' <<<"$out")
bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
printf 'shop up orders/s  %s (p50 %s, p99 %s, non-2xx %s)\n' "$rps" "$p50" "$p99" "${bad:-0}"
printf 'ready after       %s ms\n' "$ready_ms"
printf 'resident          %s MB after the load\n' "$((rss_kb / 1024))"
