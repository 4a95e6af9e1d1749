# Shared by bench/shop-up-orders.sh and bench/growth.sh (sourced): start `shop up` on a data
# directory, load it with bench/orders.lua, stop it. Callers set `bin`, `data`, `secs`,
# `conns` and `here` (the bench/ folder). Ports are shop up's defaults.

export RATE_LIMIT_PER_MINUTE=0 AI_RATE_LIMIT_PER_MINUTE=0 AI_FOLLOW_UP_EMAILS=false RUST_LOG=${RUST_LOG:-warn}
pid=""

# Starts shop up on $data; sets `pid` and `ready_ms` (start to the gateway's /ready).
shop_up_start() {
  local t0
  t0=$(date +%s%N)
  ready_ms=""
  "$bin" up --data-dir "$data" >>"$data/up.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 2000); do
    if curl -sf -o /dev/null http://127.0.0.1:9000/ready; then
      ready_ms=$((($(date +%s%N) - t0) / 1000000))
      return 0
    fi
    sleep 0.005
  done
  echo "shop up did not become ready; its log:" >&2
  cat "$data/up.log" >&2
  exit 1
}

shop_up_stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; fi
  pid=""
}

# Restocks the demo catalog and runs wrk (an admin token unless AUTH_MODE=off); sets `rps`,
# `p50`, `p99`, `bad` (non-2xx answers) and `rss_mb` (shop up's resident memory after it).
shop_up_load() {
  local token="" out rss_kb
  local auth=()
  if [ "${AUTH_MODE:-}" != "off" ]; then
    token=$("$bin" token --data-dir "$data" --email admin@example.com --role admin 2>/dev/null | tail -n1)
    auth=(-H "Authorization: Bearer $token")
  fi
  for i in $(seq -w 1 50); do
    curl -sf -o /dev/null -X PATCH -H 'Content-Type: application/json' "${auth[@]}" -d '{"quantity":1000000}' \
      "http://127.0.0.1:9000/api/inventory/prod-0$i/restock" || true
  done
  out=$(TOKEN=$token wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/orders.lua" http://127.0.0.1:9000/api/orders)
  rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  rss_mb=$((rss_kb / 1024))
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  bad=${bad:-0}
}
