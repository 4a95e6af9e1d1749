#!/usr/bin/env bash
# Starts SecantusDB, a MongoDB-wire test server with transactions, on 127.0.0.1:PORT in the
# background and waits until it answers a ping; prints its PID (stop it with kill PID).
#
#   pid=$(bash bench/mongo/start_secantus.sh 27117 [DATA_DIR])
#   export TEST_MONGODB_URL=mongodb://127.0.0.1:27117/
#
# SecantusDB and pymongo are installed once into a virtualenv under ~/.cache
# ($SHOP_MONGO_VENV, default ~/.cache/shop-mongo-venv). DATA_DIR defaults to a new temporary
# directory; the server's log is DATA_DIR/secantus.log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${1:?usage: start_secantus.sh PORT [DATA_DIR]}"
data="${2:-$(mktemp -d)}"
venv="${SHOP_MONGO_VENV:-$HOME/.cache/shop-mongo-venv}"
mkdir -p "$data"

if ! "$venv/bin/python" -c 'import secantus, pymongo' 2>/dev/null; then
  echo "installing SecantusDB into $venv" >&2
  if ! python3 -m venv "$venv" >&2; then
    # Debian keeps venv/ensurepip in a package of its own.
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo=sudo; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >&2
    python3 -m venv "$venv" >&2
  fi
  "$venv/bin/pip" install -q "SecantusDB==0.7.0b3" "pymongo>=4.6" >&2
fi

nohup "$venv/bin/python" "$here/secantus_server.py" "$data" "$port" >"$data/secantus.log" 2>&1 &
pid=$!

for _ in $(seq 1 100); do
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$data/secantus.log" >&2
    echo "SecantusDB exited during start-up" >&2
    exit 1
  fi
  if "$venv/bin/python" - "$port" >/dev/null 2>&1 <<'PY'
import sys
from pymongo import MongoClient
MongoClient(f"mongodb://127.0.0.1:{sys.argv[1]}/", serverSelectionTimeoutMS=500).admin.command("ping")
PY
  then
    echo "$pid"
    exit 0
  fi
  sleep 0.2
done
cat "$data/secantus.log" >&2
kill "$pid" 2>/dev/null || true
echo "SecantusDB did not answer on port $port within 20 s" >&2
exit 1
