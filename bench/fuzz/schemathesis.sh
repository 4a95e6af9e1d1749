#!/usr/bin/env bash
# Property-based fuzzing of the whole API through the gateway, from the gateway's own
# OpenAPI document (/openapi.json), with schemathesis: every operation, the examples, the
# boundary values and invalid inputs (coverage), random valid and invalid inputs (fuzzing)
# and call sequences along the document's links (stateful: product → stock → order →
# cancel). It fails on any 5xx, any answer that violates its documented schema, headers or
# media type, any undocumented status code, invalid input that is accepted, and a resource
# still served after its deletion.
#
# Usage: bench/fuzz/schemathesis.sh PATH_TO_SHOP_BINARY [extra schemathesis options]
#   It builds nothing: pass a built binary (`cargo build --release` → target/release/shop).
#   It starts `shop up --no-demo` on free ports in a temporary data directory (default
#   settings), waits until every service is ready, fuzzes, prints the number of operations
#   and generated test cases, stops the platform and exits non-zero on any failure.
#
# Settings (environment):
#   FUZZ_MAX_TIME      seconds of fuzzing (default 150; the whole run takes about a minute more)
#   FUZZ_SEED          schemathesis seed, for a reproducible run (default: a fixed one)
#   FUZZ_DEMO=1        start with the demo catalog (49 products with stock)
#   FUZZ_AUTH_HEADER   a header sent with every request (default: an admin's bearer token,
#                      issued by `shop token` from the platform's own identity provider;
#                      FUZZ_AUTH_HEADER=none fuzzes anonymously)
#   FUZZ_VENV          the Python venv holding schemathesis (default ~/.cache/shop-fuzz-venv,
#                      created on first use from bench/fuzz/requirements.txt and reused)
#   FUZZ_REPORT_DIR    where the JUnit report and the server log go (default: a temp dir)
set -euo pipefail

shop=${1:?usage: bench/fuzz/schemathesis.sh PATH_TO_SHOP_BINARY [schemathesis options]}
shift
[ -x "$shop" ] || { echo "not an executable: $shop" >&2; exit 2; }
shop=$(cd "$(dirname "$shop")" && pwd)/$(basename "$shop")
here=$(cd "$(dirname "$0")" && pwd)

VENV="${FUZZ_VENV:-$HOME/.cache/shop-fuzz-venv}"
max_time="${FUZZ_MAX_TIME:-150}"
seed="${FUZZ_SEED:-20260221}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The venv is rebuilt only when requirements.txt changes (its hash is stamped inside).
setup_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
  if [ -x "$VENV/bin/st" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's own python3 keeps venv/ensurepip in a separate package.
    rm -rf "$VENV"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" >"$stamp"
}
setup_venv

work=$(mktemp -d)
report_dir="${FUZZ_REPORT_DIR:-$work/report}"
mkdir -p "$report_dir"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work/data"
}
trap cleanup EXIT

# Seven free ports, chosen by the OS.
read -r gateway product order inventory notification ai identity < <("$VENV/bin/python" - <<'PY'
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)

demo_flag=--no-demo
[ "${FUZZ_DEMO:-0}" = 1 ] && demo_flag=
echo "== starting shop up (gateway :$gateway) in $work/data"
env SHOP_DATA_DIR="$work/data" GATEWAY_PORT="$gateway" PRODUCT_PORT="$product" ORDER_PORT="$order" \
  INVENTORY_PORT="$inventory" NOTIFICATION_PORT="$notification" AI_PORT="$ai" \
  IDENTITY_PORT="$identity" RATE_LIMIT_PER_MINUTE=0 AI_RATE_LIMIT_PER_MINUTE=0 \
  AI_FOLLOW_UP_EMAILS=false LOG_FORMAT=json RUST_LOG="${RUST_LOG:-warn}" \
  "$shop" up $demo_flag >"$report_dir/server.log" 2>&1 &
server_pid=$!

ready=""
for _ in $(seq 1 600); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$report_dir/server.log"; echo "shop up exited" >&2; exit 1; }
  ready=1
  for port in "$gateway" "$product" "$order" "$inventory" "$notification" "$ai"; do
    "$VENV/bin/python" -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
      "http://127.0.0.1:$port/ready" 2>/dev/null || { ready=""; break; }
  done
  [ -n "$ready" ] && break
  sleep 0.5
done
[ -n "$ready" ] || { tail -50 "$report_dir/server.log"; echo "the platform did not become ready" >&2; exit 1; }
echo "== ready; fuzzing for up to ${max_time}s (seed $seed)"

# Rate limits are off above (the fuzzer is one client sending thousands of requests); every
# request carries an admin's token so operations are fuzzed past their token check (the
# security tests cover the refusals).
auth_header="${FUZZ_AUTH_HEADER:-}"
if [ -z "$auth_header" ]; then
  token=$(IDENTITY_PORT="$identity" "$shop" token --lifetime 3600 --email admin@example.com --role admin --data-dir "$work/data" | tail -n1)
  auth_header="Authorization: Bearer $token"
fi
headers=()
if [ "$auth_header" != none ]; then headers=(-H "$auth_header"); fi

# Checks are set in schemathesis.toml (every one but positive_data_acceptance; one
# documented exception). One worker: with two, hypothesis' lambda-description cache races
# ("AST constructor recursion depth mismatch") and errors operations at random.
# hooks.py drops header values the HTTP client cannot encode (see there).
set +e
SCHEMATHESIS_HOOKS="$here/hooks.py" "$VENV/bin/st" --config-file "$here/schemathesis.toml" run "http://127.0.0.1:$gateway/openapi.json" \
  --phases examples,coverage,fuzzing,stateful \
  --max-time "$max_time" --workers 1 --seed "$seed" \
  --request-timeout 20 --max-redirects 0 \
  --suppress-health-check too_slow,filter_too_much \
  --report junit --report-junit-path "$report_dir/junit.xml" \
  --output-truncate true \
  "${headers[@]}" "$@" 2>&1 | tee "$work/st.out"
status=${PIPESTATUS[0]}
set -e

if grep -q '"level":"ERROR"' "$report_dir/server.log"; then
  echo "== errors in the server log ($report_dir/server.log):"
  grep '"level":"ERROR"' "$report_dir/server.log" | head -20
  status=1
fi
"$VENV/bin/python" - "$report_dir/junit.xml" <<'PY' || true
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.findall(".//testcase")
failed = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
print(f"fuzz: {len(cases)} operations, {failed} failed (JUnit report: {sys.argv[1]})")
PY
grep -E "API Operations|Test cases|Test Phases|passed|failed" "$work/st.out" | tail -12 || true
exit "$status"
