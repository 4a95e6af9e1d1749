#!/usr/bin/env bash
# Installs bench/oidc's node dependencies (oidc-provider) into bench/oidc/node_modules from
# package-lock.json. Quick when already installed: skipped while the lock file is unchanged.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are required" >&2; exit 1; }
stamp=node_modules/.shop-install-stamp
want="$(node --version) $(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/oidc-provider ]; then
  echo "bench/oidc: oidc-provider already installed"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
printf '%s\n' "$want" >"$stamp"
echo "bench/oidc: installed oidc-provider $(node -p 'require("./node_modules/oidc-provider/package.json").version')"
