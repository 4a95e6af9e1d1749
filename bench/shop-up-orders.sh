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
# shellcheck source=lib/shop-up.sh
. "$here/lib/shop-up.sh"
trap 'shop_up_stop; rm -rf "$data"' EXIT

shop_up_start
shop_up_load
printf 'shop up orders/s  %s (p50 %s, p99 %s, non-2xx %s)\n' "$rps" "$p50" "$p99" "$bad"
printf 'ready after       %s ms\n' "$ready_ms"
printf 'resident          %s MB after the load\n' "$rss_mb"
