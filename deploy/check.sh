#!/usr/bin/env bash
# Validates the deployment files without Docker, a cluster or the internet (only the PyPI and
# Debian registries, for the tools, on the first run):
#
#   bash deploy/check.sh          # from any directory; one line per check; exit 1 on failure
#
# Tools: a Python venv in ~/.cache/shop-deploy-venv (deploy/check/requirements.txt: the
# official Compose schema as vendored by check-jsonschema, a PromQL parser, Kubernetes'
# OpenAPI schemas, Docker's Dockerfile parser), and promtool from Debian's `prometheus`
# package, extracted into ~/.cache/shop-deploy-tools (no Prometheus server is installed or
# started). Both are reused on later runs. SHOP_DEPLOY_VENV / SHOP_DEPLOY_TOOLS move them.
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${SHOP_DEPLOY_VENV:-$HOME/.cache/shop-deploy-venv}"
TOOLS="${SHOP_DEPLOY_TOOLS:-$HOME/.cache/shop-deploy-tools}"
K8S_VERSIONS="1.30.0 1.37.0"  # the oldest and newest Kubernetes the manifests are checked against

passed=0
failed=0
failures=()
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

# check NAME COMMAND...: run it in deploy/, print "ok   NAME" or "FAIL NAME" and its output,
# indented. `in_shell` runs a function in this shell instead (it may set variables).
record() {
  local name="$1" status="$2"
  if [ "$status" = 0 ]; then
    printf 'ok   %s\n' "$name"
    passed=$((passed + 1))
  else
    printf 'FAIL %s\n' "$name"
    head -n 60 "$out" | sed 's/^/       /'
    failed=$((failed + 1))
    failures+=("$name")
  fi
}
check() {
  local name="$1" status=0
  shift
  (cd "$DEPLOY" && "$@") >"$out" 2>&1 || status=$?
  record "$name" "$status"
}
in_shell() {
  local name="$1" status=0
  shift
  "$@" >"$out" 2>&1 || status=$?
  record "$name" "$status"
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---- tools -----------------------------------------------------------------------------

setup_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want="$(sha256sum "$DEPLOY/check/requirements.txt" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null &&
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV"; then
    # Debian's own python3 keeps venv/ensurepip in a separate package.
    rm -rf "$VENV"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null || return 1
    python3 -m venv "$VENV" || return 1
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$DEPLOY/check/requirements.txt" || return 1
  echo "$want" >"$stamp"
}

# promtool: on PATH, or cached, or extracted from Debian's prometheus package (apt-get
# download needs no root, but an apt index; `apt-get update` as root if there is none).
setup_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    PROMTOOL="$(command -v promtool)"
    return 0
  fi
  PROMTOOL="$TOOLS/promtool"
  if [ -x "$PROMTOOL" ] && "$PROMTOOL" --version >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p "$TOOLS" || return 1
  local tmp
  tmp="$(mktemp -d)" || return 1
  if ! (cd "$tmp" && apt-get download prometheus) >/dev/null 2>&1; then
    as_root apt-get update -qq >/dev/null || return 1
    (cd "$tmp" && apt-get download prometheus) >/dev/null 2>&1 || true
  fi
  if ls "$tmp"/prometheus_*.deb >/dev/null 2>&1; then
    dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root" || return 1
    install -m 0755 "$tmp/root/usr/bin/promtool" "$PROMTOOL" || return 1
  else
    # Last resort: the package itself (it may start a Prometheus service; harmless here).
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null || return 1
    PROMTOOL="$(command -v promtool)" || return 1
  fi
  rm -rf "$tmp"
  "$PROMTOOL" --version
}

PY="$VENV/bin/python"
PROMTOOL=""
PROMTOOL_WHERE="$(command -v promtool 2>/dev/null || echo "$TOOLS/promtool")"
in_shell "tools: python venv ($VENV)" setup_venv
in_shell "tools: promtool ($PROMTOOL_WHERE)" setup_promtool
if [ "$failed" -gt 0 ]; then
  echo "deploy/check.sh: the tools are missing, no check ran: ${failures[*]}"
  exit 1
fi

# ---- the checks ------------------------------------------------------------------------

check "metrics.txt: one contract metric family per line" "$PY" check/checks.py metrics-file

check "compose: valid against the Compose Specification schema" \
  "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml
check "compose: env names per service, interpolation, mounts, depends_on, ports" \
  "$PY" check/checks.py compose
check "Dockerfile: stages, cargo build, non-root user, entrypoint, ignore file" \
  "$PY" check/checks.py dockerfile

check "prometheus: promtool check config" "$PROMTOOL" check config prometheus/prometheus.yml
check "prometheus: promtool check rules" "$PROMTOOL" check rules prometheus/alerts.yml
check "prometheus: promtool test rules" "$PROMTOOL" test rules prometheus/alerts_test.yml
check "prometheus: alerts use contract metrics, are labelled and tested both ways" \
  "$PY" check/checks.py alert-metrics

check "grafana: dashboards match deploy/grafana/dashboards.py" "$PY" check/checks.py dashboards-generated
check "grafana: dashboards parse, uids, data sources, PromQL on contract metrics" \
  "$PY" check/checks.py dashboards
check "metrics.txt: every metric is on a dashboard or in an alert" "$PY" check/checks.py metric-coverage
check "loki, tempo, alloy, grafana provisioning: configs agree with compose" \
  "$PY" check/checks.py observability-configs

check "keycloak: realm clients, roles, users, audience mapper" "$PY" check/checks.py realm

k8s_files=()
for f in "$DEPLOY"/k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || k8s_files+=("k8s/$(basename "$f")")
done
for version in $K8S_VERSIONS; do
  check "k8s: manifests valid against the Kubernetes $version schemas (strict)" \
    "$VENV/bin/kubernetes-validate" --quiet --strict -k "$version" "${k8s_files[@]}"
done
check "k8s: probes, resources, non-root, env, kustomization lists every file" \
  "$PY" check/checks.py k8s

echo "deploy/check.sh: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
  printf 'failed: %s\n' "${failures[@]}"
  exit 1
fi
