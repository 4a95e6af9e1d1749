#!/usr/bin/env bash
# Installs axe-core (the accessibility checker the storefront's browser test injects into
# each page) into bench/browser/node_modules from package-lock.json. Skipped while the lock
# file is unchanged.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are required" >&2; exit 1; }
stamp=node_modules/.shop-install-stamp
want="$(node --version) $(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f node_modules/axe-core/axe.min.js ]; then
  echo "bench/browser: axe-core already installed"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
printf '%s\n' "$want" >"$stamp"
echo "bench/browser: installed axe-core $(node -p 'require("./node_modules/axe-core/package.json").version')"
