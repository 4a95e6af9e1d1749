#!/usr/bin/env bash
# The gateway against nginx's `proxy_pass`, one after the other in one run, on the same
# fixed-response upstream (nginx serving a constant JSON body), same concurrency:
#
#   bash bench/gateway-vs-nginx.sh [path/to/shop] [seconds] [connections]
#
# Prints rps and p50 for the upstream alone, through nginx and through the gateway
# (`shop serve gateway`, AUTH_MODE=off, rate limit off, its product service URL pointed at
# the upstream; GET /api/products is a public route), the ratio, and the p50 each adds.
# Needs nginx (Debian's nginx-light) and wrk.
#
# WITH_TOKEN=1 adds a fourth run: a second gateway with AUTH_MODE=on, validating a bearer
# token on every request (its issuer is a `shop up` started on a temporary data directory,
# on shop up's default ports, idle during the runs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../target/release/shop}
secs=${2:-10}
conns=${3:-64}
upstream_port=${UPSTREAM_PORT:-18081}
proxy_port=${PROXY_PORT:-18080}
gateway_port=${GATEWAY_PORT:-18090}
tmp=$(mktemp -d)
gateway=""
token_gateway=""
platform=""
cleanup() {
  for p in $gateway $token_gateway $platform; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
  sleep 0.2
  rm -rf "$tmp"
}
trap cleanup EXIT

sed -e "s|TMP|$tmp|g" -e "s|UPSTREAM_PORT|$upstream_port|g" -e "s|PROXY_PORT|$proxy_port|g" \
  "$here/nginx/nginx.conf" >"$tmp/nginx.conf"
nginx -c "$tmp/nginx.conf" -e "$tmp/error.log"

AUTH_MODE=off RATE_LIMIT_PER_MINUTE=0 RUST_LOG=warn GATEWAY_PORT=$gateway_port \
  PRODUCT_SERVICE_URL=http://127.0.0.1:$upstream_port "$bin" serve gateway >"$tmp/gateway.log" 2>&1 &
gateway=$!
for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$gateway_port/api/products" && break; sleep 0.05; done
curl -sf -o /dev/null "http://127.0.0.1:$gateway_port/api/products" || { cat "$tmp/gateway.log" >&2; exit 1; }

run() { # url [wrk options…] → "rps p50 non2xx"
  local out
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$@")
  printf '%s %s %s\n' "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="50%" {print $2}' <<<"$out")" \
    "$(awk '/Non-2xx/ {print $NF}' <<<"$out" | grep . || echo 0)"
}
ms() { # wrk latency (850.00us, 1.20ms) → milliseconds
  awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 } else { sub(/s$/, "", v); print v * 1000 } }'
}
read -r up_rps up_p50 up_bad < <(run "http://127.0.0.1:$upstream_port/api/products")
read -r ngx_rps ngx_p50 ngx_bad < <(run "http://127.0.0.1:$proxy_port/api/products")
read -r gw_rps gw_p50 gw_bad < <(run "http://127.0.0.1:$gateway_port/api/products")
if [ "${WITH_TOKEN:-0}" = 1 ]; then
  token_port=$((gateway_port + 1))
  mkdir -p "$tmp/up"
  AUTH_MODE=on "$bin" up --data-dir "$tmp/up" >"$tmp/up.log" 2>&1 &
  platform=$!
  for _ in $(seq 1 400); do curl -sf -o /dev/null http://127.0.0.1:9000/ready && break; sleep 0.05; done
  token=$("$bin" token --data-dir "$tmp/up" --email bench@example.com 2>"$tmp/token.err" | tail -n1)
  issuer=$(sed -n 's/^issuer \([^;]*\);.*/\1/p' "$tmp/token.err")
  AUTH_MODE=on OIDC_ISSUER_URL=$issuer RATE_LIMIT_PER_MINUTE=0 RUST_LOG=warn GATEWAY_PORT=$token_port \
    PRODUCT_SERVICE_URL=http://127.0.0.1:$upstream_port "$bin" serve gateway >"$tmp/token-gateway.log" 2>&1 &
  token_gateway=$!
  auth=(-H "Authorization: Bearer $token")
  for _ in $(seq 1 200); do curl -sf -o /dev/null "${auth[@]}" "http://127.0.0.1:$token_port/api/products" && break; sleep 0.05; done
  curl -sf -o /dev/null "${auth[@]}" "http://127.0.0.1:$token_port/api/products" ||
    { cat "$tmp/up.log" "$tmp/token.err" "$tmp/token-gateway.log" >&2; exit 1; }
  read -r tk_rps tk_p50 tk_bad < <(run "${auth[@]}" "http://127.0.0.1:$token_port/api/products")
fi

printf 'upstream alone  %s rps (p50 %s, non-2xx %s)\n' "$up_rps" "$up_p50" "$up_bad"
printf 'nginx proxy     %s rps (p50 %s, non-2xx %s, adds %.3f ms)\n' "$ngx_rps" "$ngx_p50" "$ngx_bad" \
  "$(awk -v a="$(ms "$ngx_p50")" -v b="$(ms "$up_p50")" 'BEGIN { print a - b }')"
printf 'gateway         %s rps (p50 %s, non-2xx %s, adds %.3f ms)\n' "$gw_rps" "$gw_p50" "$gw_bad" \
  "$(awk -v a="$(ms "$gw_p50")" -v b="$(ms "$up_p50")" 'BEGIN { print a - b }')"
awk -v a="$gw_rps" -v b="$ngx_rps" 'BEGIN { printf "ratio           %.2f\n", a / b }'
if [ -n "$token_gateway" ]; then
  printf 'gateway, token  %s rps (p50 %s, non-2xx %s, adds %.3f ms)\n' "$tk_rps" "$tk_p50" "$tk_bad" \
    "$(awk -v a="$(ms "$tk_p50")" -v b="$(ms "$up_p50")" 'BEGIN { print a - b }')"
  awk -v a="$tk_rps" -v b="$ngx_rps" 'BEGIN { printf "ratio, token    %.2f\n", a / b }'
fi
