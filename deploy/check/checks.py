#!/usr/bin/env python3
"""The Python half of deploy/check.sh: static checks of the deployment files.

    python checks.py <check>      # prints the problems found, exits 1 if any
    python checks.py --list       # the names of the checks

Runs in the venv deploy/check.sh prepares (requirements.txt beside this file). Every path is
relative to the repository, found from this file's location, so the current directory does
not matter. Nothing here needs Docker, a cluster or the network.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent.parent
ROOT = DEPLOY.parent

# ---- the contracts ----------------------------------------------------------------------------

# The shop services: port, Keycloak client, environment variables (required, optional).
COMMON_ENV = {
    "DATABASE_URL",
    "KAFKA_BROKERS",
    "LOG_FORMAT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OIDC_ISSUER_URL",
    "OIDC_AUDIENCE",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
}
SERVICES: dict[str, dict] = {
    "gateway": {
        "port": 9000,
        "client": "gateway",
        "required": {
            "PRODUCT_SERVICE_URL",
            "ORDER_SERVICE_URL",
            "INVENTORY_SERVICE_URL",
            "NOTIFICATION_SERVICE_URL",
            "AI_SERVICE_URL",
            "RATE_LIMIT_PER_MINUTE",
            "AI_RATE_LIMIT_PER_MINUTE",
            "TRUSTED_PROXIES",
            "CORS_ORIGINS",
        },
        "optional": set(),
    },
    "product": {"port": 8001, "client": "product-service", "required": {"MONGODB_URL", "MONGODB_DATABASE"}, "optional": set()},
    "order": {"port": 8002, "client": "order-service", "required": {"PRODUCT_SERVICE_URL", "INVENTORY_SERVICE_URL"}, "optional": set()},
    "inventory": {"port": 8003, "client": "inventory-service", "required": {"ORDER_SERVICE_URL"}, "optional": set()},
    "notification": {
        "port": 8004,
        "client": "notification-service",
        "required": {"EMAIL_TRANSPORT", "SMTP_URL", "EMAIL_FROM", "ADMIN_EMAIL"},
        "optional": set(),
    },
    "ai": {
        "port": 8005,
        "client": "ai-service",
        "required": {"PRODUCT_SERVICE_URL", "LLM_PROVIDER"},
        "optional": {"LLM_API_KEY", "LLM_BASE_URL", "LLM_MODEL", "EMBEDDING_MODEL_DIR"},
    },
}
for _name, _svc in SERVICES.items():
    _svc["required"] = _svc["required"] | COMMON_ENV | {f"{_name.upper()}_HOST"}
ALL_ENV = set().union(*(s["required"] | s["optional"] for s in SERVICES.values()))

# Compose one-shots running the shop image with other subcommands, and what they may read.
SHOP_ONE_SHOTS = {
    "migrate": {"DATABASE_URL", "LOG_FORMAT"},
    "seed": {"DATABASE_URL", "LOG_FORMAT", "MONGODB_URL", "MONGODB_DATABASE"},
}

# The metrics contract: deploy/metrics.txt holds the names (the single source of truth that
# the services' tests read); the types and labels here let the checks below verify label
# matchers and groupings too. check_metrics_file() keeps the two in step.
METRIC_LABELS: dict[str, tuple[str, set[str]]] = {
    "http_requests_total": ("counter", {"service", "method", "route", "status"}),
    "http_request_duration_seconds": ("histogram", {"service", "method", "route"}),
    "orders_placed_total": ("counter", {"service"}),
    "orders_cancelled_total": ("counter", {"service"}),
    "order_status_changes_total": ("counter", {"service", "status"}),
    "reservation_conflicts_total": ("counter", {"service"}),
    "outbox_backlog": ("gauge", {"service"}),
    "outbox_oldest_age_seconds": ("gauge", {"service"}),
    "events_published_total": ("counter", {"service", "topic"}),
    "events_consumed_total": ("counter", {"service", "group", "topic"}),
    "events_dead_lettered_total": ("counter", {"service", "group", "topic"}),
    "consumer_lag": ("gauge", {"service", "group", "topic"}),
    "emails_sent_total": ("counter", {"service", "kind"}),
    "emails_failed_total": ("counter", {"service", "kind"}),
    "llm_request_duration_seconds": ("histogram", {"service", "provider", "outcome"}),
    "llm_breaker_state": ("gauge", {"service", "provider"}),
    "rate_limited_total": ("counter", {"service", "class"}),
}
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series
UP_LABELS = TARGET_LABELS

# Labels Alloy puts on log streams (alloy/config.alloy).
LOKI_LABELS = {"stack", "service", "container", "level"}


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_yaml_all(path: Path) -> list:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def contract_names() -> list[str]:
    return [line.strip() for line in (DEPLOY / "metrics.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


# ---- PromQL -----------------------------------------------------------------------------------

GRAFANA_DURATION_VARS = re.compile(r"\$\{?__(rate_interval|interval|range|auto)\}?(?!_)")
GRAFANA_NUMBER_VARS = re.compile(r"\$\{?__(range_s|range_ms|interval_ms)\}?")
GRAFANA_VARS = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute_grafana_variables(expr: str) -> str:
    expr = GRAFANA_DURATION_VARS.sub("5m", expr)
    expr = GRAFANA_NUMBER_VARS.sub("300", expr)
    # A dashboard variable inside a label matcher's string stays a string; anywhere else it
    # becomes the identifier `grafana_variable`, which is not in the contract: reported.
    return GRAFANA_VARS.sub("grafana_variable", expr)


def resolve_metric(name: str) -> tuple[str | None, bool]:
    """(contract family, is a histogram bucket) for a series name, or (None, False)."""
    if name == "up":
        return "up", False
    if name in METRIC_LABELS:
        return name, False
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if METRIC_LABELS.get(base, ("",))[0] == "histogram":
                return base, suffix == "_bucket"
    return None, False


def labels_of(family: str, bucket: bool) -> set[str]:
    if family == "up":
        return UP_LABELS
    labels = METRIC_LABELS[family][1] | TARGET_LABELS
    return labels | {"le"} if bucket else labels


def check_promql(expr: str, where: str, *, grafana: bool = False, used: set[str] | None = None) -> list[str]:
    """Parse one expression; every metric must be in the contract (or `up`), every label
    matcher and aggregation grouping must name a label the metrics have."""
    import promql_parser as pp

    text = substitute_grafana_variables(expr) if grafana else expr
    try:
        ast = pp.parse(text)
    except Exception as e:  # the parser raises ValueError or its own errors
        return [f"{where}: PromQL does not parse ({e}): {expr}"]
    problems: list[str] = []
    # open aggregations: [node, labels seen below it, dynamic labels (label_replace) below]
    stack: list[list] = []

    def pre(node):
        if isinstance(node, pp.AggregateExpr):
            stack.append([node, set(), False])
        elif isinstance(node, pp.Call) and node.func.name in ("label_replace", "label_join"):
            for entry in stack:
                entry[2] = True
        elif isinstance(node, pp.VectorSelector):
            matchers = list(node.matchers.matchers)
            for group in node.matchers.or_matchers or []:
                matchers.extend(group)
            name = node.name or next((m.value for m in matchers if m.name == "__name__"), None)
            if name is None:
                problems.append(f"{where}: a selector without a metric name: {expr}")
                return True
            family, bucket = resolve_metric(name)
            if family is None:
                problems.append(f"{where}: metric {name!r} is not in deploy/metrics.txt (nor `up`)")
                return True
            if used is not None and family != "up":
                used.add(family)
            known = labels_of(family, bucket)
            for m in matchers:
                if m.name != "__name__" and m.name not in known:
                    problems.append(f"{where}: {name} has no label {m.name!r} (it has {', '.join(sorted(known))})")
            for entry in stack:
                entry[1] |= known
        return True

    def post(node):
        if isinstance(node, pp.AggregateExpr):
            agg, seen, dynamic = stack.pop()
            if agg.modifier is not None and not dynamic and seen:
                for label in agg.modifier.labels:
                    if label not in seen:
                        grouping = str(agg.modifier.type).rsplit(".", 1)[-1].lower()
                        problems.append(f"{where}: `{agg.op} {grouping} (… {label} …)`: no metric below it has the label {label!r}")
            for entry in stack:
                entry[1] |= seen
                entry[2] = entry[2] or dynamic
        return True

    pp.walk(ast, pre, post)
    return problems


# ---- checks -----------------------------------------------------------------------------------


def check_metrics_file() -> list[str]:
    problems = []
    lines = (DEPLOY / "metrics.txt").read_text(encoding="utf-8").splitlines()
    names = []
    for i, line in enumerate(lines, 1):
        if line != line.strip() or not line:
            problems.append(f"metrics.txt:{i}: blank line or surrounding spaces")
            continue
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", line):
            problems.append(f"metrics.txt:{i}: {line!r} is not a metric family name")
        if line == "up":
            problems.append("metrics.txt: `up` is Prometheus' own, leave it out")
        if re.search(r"_(bucket|sum|count)$", line):
            problems.append(f"metrics.txt:{i}: {line}: list a histogram by its family name, without _bucket/_sum/_count")
        names.append(line)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        problems.append(f"metrics.txt: listed twice: {', '.join(dup)}")
    if set(names) != set(METRIC_LABELS):
        missing = sorted(set(METRIC_LABELS) - set(names))
        extra = sorted(set(names) - set(METRIC_LABELS))
        problems.append(f"metrics.txt and the label table in deploy/check/checks.py disagree: only in checks.py {missing}, only in metrics.txt {extra}")
    return problems


INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def interpolate(value, env: dict[str, str], problems: list[str], where: str):
    """Compose-style ${VAR:-default} interpolation of every string in a structure."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, problems, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, problems, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(m):
        name = m.group(1) or m.group(4)
        op, default = m.group(2), m.group(3)
        if op in (":-", "-"):
            return env.get(name) or default or ""
        if op in (":?", "?"):
            return env.get(name, "")
        if name not in env:
            problems.append(f"{where}: ${{{name}}} has no default and is not in .env.example")
        return env.get(name, "")

    return INTERPOLATION.sub(repl, value.replace("$$", "\0")).replace("\0", "$")


def compose_services():
    raw = load_yaml(DEPLOY / "compose.yaml")
    return raw, raw.get("services", {})


def env_names(environment) -> set[str]:
    if isinstance(environment, dict):
        return set(environment)
    return {item.split("=", 1)[0] for item in environment or []}


def check_compose() -> list[str]:
    problems: list[str] = []
    raw, services = compose_services()
    example = env_example()

    # Interpolation: every ${VAR} has a default or an entry in .env.example; every entry in
    # .env.example is used.
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    uncommented = "\n".join(line.split(" #", 1)[0] for line in text.splitlines() if not line.lstrip().startswith("#"))
    used_vars = {m.group(1) or m.group(4) for m in INTERPOLATION.finditer(uncommented.replace("$$", ""))}
    for key in sorted(set(example) - used_vars):
        problems.append(f".env.example: {key} is not used by compose.yaml")
    resolved = interpolate(services, {}, problems, "services")

    if raw.get("name") != "shop":
        problems.append("compose.yaml: top-level name should be `shop` (Alloy selects containers by that project label)")

    shop_image = None
    for name, svc in resolved.items():
        where = f"service {name}"
        build = svc.get("build")
        image = svc.get("image", "")
        is_shop = isinstance(build, dict) and build.get("dockerfile") == "deploy/Dockerfile"
        if is_shop:
            shop_image = shop_image or image
            if image != shop_image:
                problems.append(f"{where}: image {image!r}, other shop services use {shop_image!r}")
            context = (DEPLOY / build.get("context", ".")).resolve()
            if context != ROOT:
                problems.append(f"{where}: build context {context} is not the repository root")
            if not (context / build["dockerfile"]).is_file():
                problems.append(f"{where}: {build['dockerfile']} not found in the build context")
        # Bind mounts exist (relative to deploy/); host sockets are the host's business.
        for vol in svc.get("volumes", []) or []:
            source = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
            if source.startswith((".", "/")):
                if source.startswith("/var/run/docker.sock"):
                    continue
                if not (DEPLOY / source).exists():
                    problems.append(f"{where}: mounts {source}, which does not exist (relative to deploy/)")
            elif source and source not in (raw.get("volumes") or {}):
                problems.append(f"{where}: named volume {source!r} is not declared under volumes:")
        # depends_on: the services exist, and have what the condition needs.
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, spec in deps.items():
            if dep not in resolved:
                problems.append(f"{where}: depends on unknown service {dep!r}")
                continue
            cond = spec.get("condition")
            if cond == "service_healthy" and "healthcheck" not in resolved[dep]:
                problems.append(f"{where}: waits for {dep} to be healthy, but {dep} has no healthcheck")
            if cond == "service_completed_successfully" and resolved[dep].get("restart", "no") != "no":
                problems.append(f"{where}: waits for {dep} to complete, but {dep} restarts ({resolved[dep].get('restart')})")
        hc = svc.get("healthcheck")
        if hc and not hc.get("disable") and not hc.get("test"):
            problems.append(f"{where}: healthcheck without a test")

        if not is_shop:
            continue
        command = svc.get("command") or []
        names = env_names(svc.get("environment"))
        if name in SHOP_ONE_SHOTS:
            if command != [name]:
                problems.append(f"{where}: command {command}, expected [{name!r}]")
            extra = names - SHOP_ONE_SHOTS[name]
            if extra:
                problems.append(f"{where}: unexpected variables {sorted(extra)}")
            if "DATABASE_URL" not in names:
                problems.append(f"{where}: no DATABASE_URL")
            continue
        if name not in SERVICES:
            problems.append(f"{where}: runs the shop image but is not one of {sorted(SERVICES)} or {sorted(SHOP_ONE_SHOTS)}")
            continue
        spec = SERVICES[name]
        if command != ["serve", name]:
            problems.append(f"{where}: command {command}, expected ['serve', {name!r}]")
        missing = spec["required"] - names
        unknown = names - spec["required"] - spec["optional"]
        if missing:
            problems.append(f"{where}: missing variables {sorted(missing)}")
        if unknown:
            problems.append(f"{where}: variables outside the contract {sorted(unknown)} (allowed: {sorted(spec['required'] | spec['optional'])})")
        env = svc.get("environment") or {}
        expect = {
            "OTEL_SERVICE_NAME": name,
            "OIDC_CLIENT_ID": spec["client"],
            f"{name.upper()}_HOST": "0.0.0.0",
            "LOG_FORMAT": "json",
            "KAFKA_BROKERS": "kafka:9092",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://tempo:4318",
            "OIDC_ISSUER_URL": "http://keycloak:8080/realms/microservices",
            "OIDC_AUDIENCE": "shop-api",
            "DATABASE_URL": "postgres://shop:shop@postgres:5432/shop",
        }
        if name == "product":
            expect |= {"MONGODB_URL": "mongodb://mongo:27017/?replicaSet=rs0", "MONGODB_DATABASE": "product_db"}
        if name == "notification":
            expect |= {"EMAIL_TRANSPORT": "smtp", "SMTP_URL": "smtp://mailpit:1025"}
        if name == "gateway":
            expect |= {"RATE_LIMIT_PER_MINUTE": "60", "AI_RATE_LIMIT_PER_MINUTE": "15"}
        if name == "ai":
            expect |= {"LLM_PROVIDER": "offline"}
        for svc_name, svc_spec in SERVICES.items():
            key = f"{svc_name.upper()}_SERVICE_URL"
            if key in env:
                expect[key] = f"http://{svc_name}:{svc_spec['port']}"
        for key, value in expect.items():
            if key in env and str(env[key]) != value:
                problems.append(f"{where}: {key}={env[key]!r}, expected {value!r}")
        if deps.get("migrate", {}).get("condition") != "service_completed_successfully":
            problems.append(f"{where}: does not wait for migrate (service_completed_successfully)")
        test = " ".join((svc.get("healthcheck") or {}).get("test") or [])
        if f"/dev/tcp/127.0.0.1/{spec['port']}" not in test:
            problems.append(f"{where}: healthcheck does not probe port {spec['port']}")
        ports = [str(p) for p in svc.get("ports") or []]
        if not any(p.endswith(f":{spec['port']}") for p in ports):
            problems.append(f"{where}: port {spec['port']} not published ({ports})")

    for name in SERVICES:
        if name not in resolved:
            problems.append(f"compose.yaml: no service {name!r}")
    for name in ("migrate", "kafka", "postgres", "mongo", "keycloak", "prometheus", "grafana", "loki", "tempo", "mailpit", "alloy"):
        if name not in resolved:
            problems.append(f"compose.yaml: no service {name!r}")
    if problems:
        return problems

    # The pieces agree with each other.
    mongo_test = " ".join(resolved["mongo"]["healthcheck"]["test"])
    if "rs.initiate" not in mongo_test or "--replSet" not in resolved["mongo"].get("command", []):
        problems.append("mongo: must run as a replica set (--replSet) with a healthcheck that runs rs.initiate")
    kc = resolved["keycloak"]
    if kc.get("command") != ["start-dev", "--import-realm"]:
        problems.append(f"keycloak: command {kc.get('command')}, expected ['start-dev', '--import-realm']")
    if not any(str(v).endswith(":/opt/keycloak/data/import/realm-microservices.json:ro") for v in kc.get("volumes", [])):
        problems.append("keycloak: realm-microservices.json is not mounted in /opt/keycloak/data/import/")
    tempo_ports = {str(p).rsplit(":", 1)[-1] for p in resolved["tempo"].get("ports", [])}
    if not {"4317", "4318"} <= tempo_ports:
        problems.append("tempo: OTLP ports 4317/4318 not published")
    prom = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {j["job_name"]: [t for sc in j.get("static_configs", []) for t in sc.get("targets", [])] for j in prom["scrape_configs"]}
    for name, spec in SERVICES.items():
        if jobs.get(name) != [f"{name}:{spec['port']}"]:
            problems.append(f"prometheus.yml: job {name!r} should scrape {name}:{spec['port']}, has {jobs.get(name)}")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in resolved["prometheus"]["volumes"] if v.startswith(".")}
    for rule_file in prom.get("rule_files", []):
        target = f"/etc/prometheus/{rule_file}"
        if target not in mounts:
            problems.append(f"prometheus: rule file {rule_file} is not mounted at {target}")
    return problems


def realm_clients(realm) -> dict[str, dict]:
    return {c["clientId"]: c for c in realm.get("clients", [])}


def check_realm() -> list[str]:
    problems: list[str] = []
    path = DEPLOY / "keycloak" / "realm-microservices.json"
    try:
        realm = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        return [f"{path.name}: not JSON: {e}"]
    if realm.get("realm") != "microservices" or realm.get("enabled") is not True:
        problems.append("realm: name must be `microservices`, enabled")
    if realm.get("accessTokenLifespan") != 300:
        problems.append(f"realm: accessTokenLifespan {realm.get('accessTokenLifespan')}, expected 300")
    roles = {r["name"] for r in realm.get("roles", {}).get("realm", [])}
    for role in ("user", "admin", "service"):
        if role not in roles:
            problems.append(f"realm: no realm role {role!r}")
    # Without a clientScopes list Keycloak creates its default scopes (roles → realm_access.roles,
    # email, profile → preferred_username); a list that is there must keep them.
    scopes = realm.get("clientScopes")
    if scopes is not None:
        names = {s.get("name") for s in scopes}
        for needed in ("roles", "email", "profile"):
            if needed not in names:
                problems.append(f"realm: clientScopes lacks {needed!r} (realm_access.roles / email / preferred_username claims)")

    clients = realm_clients(realm)

    def audience_ok(client) -> bool:
        for m in client.get("protocolMappers", []):
            cfg = m.get("config", {})
            if m.get("protocolMapper") == "oidc-audience-mapper" and cfg.get("included.custom.audience") == "shop-api" and cfg.get("access.token.claim") == "true":
                return True
        return False

    gw = clients.get("api-gateway")
    if gw is None:
        problems.append("realm: no client api-gateway")
    else:
        expect = {"publicClient": True, "standardFlowEnabled": True, "directAccessGrantsEnabled": True, "implicitFlowEnabled": False, "enabled": True}
        for key, value in expect.items():
            if gw.get(key) is not value:
                problems.append(f"api-gateway: {key} should be {value}")
        if gw.get("serviceAccountsEnabled"):
            problems.append("api-gateway: a public client has no service account")
        if gw.get("attributes", {}).get("pkce.code.challenge.method") != "S256":
            problems.append("api-gateway: PKCE S256 not required (attributes.pkce.code.challenge.method)")
        if gw.get("redirectUris") != ["http://localhost:9000/*"]:
            problems.append(f"api-gateway: redirectUris {gw.get('redirectUris')}")
        if gw.get("webOrigins") != ["http://localhost:9000"]:
            problems.append(f"api-gateway: webOrigins {gw.get('webOrigins')}")
        if not audience_ok(gw):
            problems.append("api-gateway: no audience mapper adding shop-api to access tokens")

    users = {u["username"]: u for u in realm.get("users", [])}
    service_accounts = {u.get("serviceAccountClientId"): u for u in realm.get("users", []) if u.get("serviceAccountClientId")}
    for svc in SERVICES.values():
        cid = svc["client"]
        c = clients.get(cid)
        if c is None:
            problems.append(f"realm: no client {cid}")
            continue
        expect = {
            "publicClient": False,
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": False,
            "implicitFlowEnabled": False,
            "directAccessGrantsEnabled": False,
            "enabled": True,
        }
        for key, value in expect.items():
            if c.get(key) is not value:
                problems.append(f"{cid}: {key} should be {value} (client credentials only)")
        if c.get("clientAuthenticatorType", "client-secret") != "client-secret" or c.get("secret") != f"{cid}-secret":
            problems.append(f"{cid}: secret should be the demo secret {cid}-secret")
        if not audience_ok(c):
            problems.append(f"{cid}: no audience mapper adding shop-api to access tokens")
        sa = service_accounts.get(cid)
        if sa is None:
            problems.append(f"{cid}: no service-account user (serviceAccountClientId)")
        elif "service" not in sa.get("realmRoles", []):
            problems.append(f"{cid}: its service account lacks the realm role `service`")

    demo = {"alice": {"user"}, "bob": {"user"}, "admin": {"admin", "user"}}
    for username, expected_roles in demo.items():
        u = users.get(username) or next((x for x in users.values() if x.get("email") == f"{username}@example.com"), None)
        if u is None:
            problems.append(f"realm: no demo user {username}@example.com")
            continue
        where = f"user {username}"
        if u.get("email") != f"{username}@example.com" or u.get("emailVerified") is not True:
            problems.append(f"{where}: email {username}@example.com, verified")
        if not u.get("firstName") or not u.get("lastName"):
            problems.append(f"{where}: first and last name (Keycloak's user profile asks for them at login otherwise)")
        if not u.get("enabled", False):
            problems.append(f"{where}: not enabled")
        creds = [c for c in u.get("credentials", []) if c.get("type") == "password"]
        if not creds or creds[0].get("value") != username or creds[0].get("temporary"):
            problems.append(f"{where}: password should be {username!r}, not temporary")
        if set(u.get("realmRoles", [])) != expected_roles:
            problems.append(f"{where}: roles {sorted(u.get('realmRoles', []))}, expected {sorted(expected_roles)}")

    # The secrets compose, .env.example and the k8s example Secret hand the services are the
    # realm's.
    _, services = compose_services()
    example = env_example()
    for name, spec in SERVICES.items():
        env = (services.get(name) or {}).get("environment") or {}
        m = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", str(env.get("OIDC_CLIENT_SECRET", "")))
        client = clients.get(spec["client"], {})
        if not m:
            problems.append(f"compose {name}: OIDC_CLIENT_SECRET should be ${{VAR:-default}}")
            continue
        if m.group(2) != client.get("secret"):
            problems.append(f"compose {name}: default client secret differs from the realm's")
        if example.get(m.group(1)) != client.get("secret"):
            problems.append(f".env.example {m.group(1)}: differs from the realm's secret of {spec['client']}")
    return problems


def dashboard_files() -> list[Path]:
    return sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))


def provisioned_datasources() -> dict[str, str]:
    ds = {}
    for f in sorted((DEPLOY / "grafana" / "provisioning" / "datasources").glob("*.y*ml")):
        for d in load_yaml(f).get("datasources", []):
            ds[d["uid"]] = d["type"]
    return ds


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def check_dashboards(used: set[str] | None = None) -> list[str]:
    problems: list[str] = []
    datasources = provisioned_datasources()
    if set(datasources.values()) < {"prometheus", "loki", "tempo"}:
        problems.append(f"datasources: expected Prometheus, Loki and Tempo, found {datasources}")
    files = dashboard_files()
    if len(files) < 4:
        problems.append(f"grafana/dashboards: {len(files)} dashboards, expected at least 4")
    uids: dict[str, str] = {}
    for f in files:
        where = f.name
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            problems.append(f"{where}: not JSON: {e}")
            continue
        uid, title = d.get("uid"), d.get("title")
        if not uid or not isinstance(uid, str) or len(uid) > 40 or not re.fullmatch(r"[A-Za-z0-9_-]+", uid):
            problems.append(f"{where}: uid missing or invalid ({uid!r})")
        elif uid in uids:
            problems.append(f"{where}: uid {uid} also used by {uids[uid]}")
        else:
            uids[uid] = where
        if not title:
            problems.append(f"{where}: no title")
        if not isinstance(d.get("schemaVersion"), int) or not 36 <= d["schemaVersion"] <= 41:
            problems.append(f"{where}: schemaVersion {d.get('schemaVersion')}, expected about 39")
        if "id" in d and d["id"] is not None:
            problems.append(f"{where}: a provisioned dashboard should not carry a database id")

        def ds_ok(ref, what):
            if not isinstance(ref, dict) or "uid" not in ref:
                problems.append(f"{where}: {what}: data source not referenced by uid ({ref!r})")
                return None
            uid_ = ref["uid"]
            if uid_ == "-- Grafana --":
                return "grafana"
            if uid_ not in datasources:
                problems.append(f"{where}: {what}: unknown data source uid {uid_!r} (provisioned: {sorted(datasources)})")
                return None
            if ref.get("type") and ref["type"] != datasources[uid_]:
                problems.append(f"{where}: {what}: data source {uid_} is a {datasources[uid_]}, not {ref['type']}")
            return datasources[uid_]

        for var in d.get("templating", {}).get("list", []):
            what = f"variable ${var.get('name')}"
            if var.get("type") == "query":
                kind = ds_ok(var.get("datasource"), what)
                q = var.get("query")
                q = q.get("query") if isinstance(q, dict) else q
                if kind == "prometheus" and q:
                    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q)
                    if m:
                        problems += check_promql(m.group(1), f"{where}: {what}", grafana=True, used=used)
                        family, _ = resolve_metric(m.group(1).split("{")[0].strip())
                        if family and m.group(2) not in labels_of(family, False):
                            problems.append(f"{where}: {what}: {family} has no label {m.group(2)!r}")
                    else:
                        problems += check_promql(q, f"{where}: {what}", grafana=True, used=used)
        for ann in d.get("annotations", {}).get("list", []):
            ds_ok(ann.get("datasource"), f"annotation {ann.get('name')}")

        ids = set()
        panels = list(walk_panels(d.get("panels", [])))
        if not [p for p in panels if p.get("type") != "row"]:
            problems.append(f"{where}: no panels")
        for p in panels:
            what = f"panel {p.get('id')} {p.get('title')!r}"
            if p.get("id") in ids:
                problems.append(f"{where}: {what}: id used twice")
            ids.add(p.get("id"))
            gp = p.get("gridPos") or {}
            if not all(isinstance(gp.get(k), int) for k in "hwxy") or gp["x"] + gp["w"] > 24:
                problems.append(f"{where}: {what}: gridPos {gp}")
            if p.get("type") == "row":
                continue
            if not p.get("title"):
                problems.append(f"{where}: panel {p.get('id')}: no title")
            panel_kind = ds_ok(p.get("datasource"), what) if "datasource" in p else None
            targets = p.get("targets") or []
            if not targets:
                problems.append(f"{where}: {what}: no queries")
            refids = [t.get("refId") for t in targets]
            if len(set(refids)) != len(refids) or None in refids:
                problems.append(f"{where}: {what}: refIds missing or repeated")
            for t in targets:
                kind = ds_ok(t["datasource"], f"{what} query {t.get('refId')}") if "datasource" in t else panel_kind
                expr = t.get("expr", "")
                if not expr:
                    problems.append(f"{where}: {what}: query {t.get('refId')} has no expression")
                elif kind == "prometheus":
                    problems += check_promql(expr, f"{where}: {what}", grafana=True, used=used)
                elif kind == "loki":
                    for selector in re.findall(r"\{([^}]*)\}", expr.split("|")[0]):
                        for label in re.findall(r"(\w+)\s*[=!]~?", selector):
                            if label not in LOKI_LABELS:
                                problems.append(f"{where}: {what}: Loki label {label!r} is not one Alloy sets ({sorted(LOKI_LABELS)})")
    return problems


def check_dashboards_generated() -> list[str]:
    import subprocess

    out = subprocess.run([sys.executable, str(DEPLOY / "grafana" / "dashboards.py"), "--check"], capture_output=True, text=True)
    if out.returncode != 0:
        return (out.stdout + out.stderr).strip().splitlines() or ["dashboards.py --check failed"]
    return []


def check_alert_metrics(used: set[str] | None = None) -> list[str]:
    problems: list[str] = []
    rules = load_yaml(DEPLOY / "prometheus" / "alerts.yml")
    names = set()
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            names.add(name)
            problems += check_promql(rule["expr"], f"alerts.yml {name}", used=used)
            if rule.get("alert"):
                if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                    problems.append(f"alerts.yml {name}: severity label critical/warning/info")
                ann = rule.get("annotations", {})
                if not ann.get("summary") or not ann.get("description"):
                    problems.append(f"alerts.yml {name}: summary and description annotations")
    # Every alert has a firing case in the unit tests.
    tests = load_yaml(DEPLOY / "prometheus" / "alerts_test.yml")
    fired = {c["alertname"] for t in tests.get("tests", []) for c in t.get("alert_rule_test", []) if c.get("exp_alerts")}
    quiet = {c["alertname"] for t in tests.get("tests", []) for c in t.get("alert_rule_test", []) if not c.get("exp_alerts")}
    for name in sorted(names):
        if name not in fired:
            problems.append(f"alerts_test.yml: no test where {name} fires")
        if name not in quiet:
            problems.append(f"alerts_test.yml: no test where {name} stays quiet")
    return problems


def check_metric_coverage() -> list[str]:
    used: set[str] = set()
    check_dashboards(used)
    check_alert_metrics(used)
    unused = [n for n in contract_names() if n not in used]
    return [f"metrics.txt: {n} is on no dashboard and in no alert" for n in unused]


K8S_DIR = DEPLOY / "k8s"


def k8s_docs() -> list[tuple[str, dict]]:
    docs = []
    for f in sorted(K8S_DIR.glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        for d in load_yaml_all(f):
            docs.append((f.name, d))
    return docs


def check_k8s() -> list[str]:
    problems: list[str] = []
    try:
        docs = k8s_docs()
        kust = load_yaml(K8S_DIR / "kustomization.yaml")
    except yaml.YAMLError as e:
        return [f"k8s: YAML does not parse: {e}"]
    files = {f.name for f in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    listed = kust.get("resources", [])
    for f in sorted(files - set(listed)):
        problems.append(f"kustomization.yaml: {f} is not listed in resources")
    for f in listed:
        if not (K8S_DIR / f).exists():
            problems.append(f"kustomization.yaml: lists {f}, which does not exist")
    if len(listed) != len(set(listed)):
        problems.append("kustomization.yaml: a resource is listed twice")
    if kust.get("namespace") != "shop":
        problems.append("kustomization.yaml: namespace should be shop")
    for f, d in docs:
        for key in ("apiVersion", "kind"):
            if key not in d:
                problems.append(f"{f}: a document without {key}")
        if not d.get("metadata", {}).get("name"):
            problems.append(f"{f}: a {d.get('kind')} without metadata.name")
    by_kind: dict[str, dict[str, dict]] = {}
    for f, d in docs:
        by_kind.setdefault(d.get("kind"), {})[d["metadata"]["name"]] = d
    if "shop" not in by_kind.get("Namespace", {}):
        problems.append("k8s: no Namespace shop")
    config = by_kind.get("ConfigMap", {})
    secrets = by_kind.get("Secret", {})
    for key in set().union(*(c.get("data", {}) for c in config.values())) if config else set():
        if key not in ALL_ENV:
            problems.append(f"ConfigMap: {key} is not a variable any service reads")
    secret_data = {name: set(s.get("stringData", {})) | set(s.get("data", {})) for name, s in secrets.items()}
    for needed in ("DATABASE_URL", "SMTP_URL", "LLM_API_KEY"):
        if not any(needed in keys for keys in secret_data.values()):
            problems.append(f"Secret: no {needed}")

    def pod_checks(where: str, spec: dict, *, service: str | None):
        psc = spec.get("securityContext", {})
        for c in spec.get("containers", []):
            cw = f"{where} container {c.get('name')}"
            csc = c.get("securityContext", {})
            non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
            uid = csc.get("runAsUser", psc.get("runAsUser"))
            if non_root is not True or uid in (None, 0):
                problems.append(f"{cw}: must run as non-root (runAsNonRoot: true, runAsUser ≠ 0)")
            if csc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cw}: readOnlyRootFilesystem: true")
            if csc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{cw}: allowPrivilegeEscalation: false")
            if "ALL" not in csc.get("capabilities", {}).get("drop", []):
                problems.append(f"{cw}: capabilities.drop [ALL]")
            res = c.get("resources", {})
            for section in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in res.get(section, {}):
                        problems.append(f"{cw}: resources.{section}.{r}")
            if not str(c.get("image", "")).startswith("ghcr.io/example/shop:"):
                problems.append(f"{cw}: image {c.get('image')}, expected ghcr.io/example/shop:<tag>")
            names = set()
            for e in c.get("env", []):
                names.add(e["name"])
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref.get("key") not in secret_data.get(ref.get("name"), set()) and not ref.get("optional"):
                    problems.append(f"{cw}: {e['name']} refers to {ref.get('name')}/{ref.get('key')}, which does not exist")
            for src in c.get("envFrom", []):
                ref = src.get("configMapRef")
                if ref:
                    if ref["name"] not in config:
                        problems.append(f"{cw}: envFrom ConfigMap {ref['name']} does not exist")
                    else:
                        names |= set(config[ref["name"]].get("data", {}))
            if service is None:
                continue
            spec_ = SERVICES[service]
            if c.get("args") != ["serve", service]:
                problems.append(f"{cw}: args {c.get('args')}, expected ['serve', {service!r}]")
            ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
            if spec_["port"] not in ports.values():
                problems.append(f"{cw}: containerPort {spec_['port']} missing")
            for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
                http = c.get(probe, {}).get("httpGet", {})
                if http.get("path") != path or http.get("port") not in ("http", spec_["port"]):
                    problems.append(f"{cw}: {probe} should GET {path} on the service port")
            missing = spec_["required"] - names
            unknown = {n for n in names if n not in ALL_ENV}
            if missing:
                problems.append(f"{cw}: missing variables {sorted(missing)}")
            if unknown:
                problems.append(f"{cw}: variables outside the contract {sorted(unknown)}")
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            if env.get("OIDC_CLIENT_ID") != spec_["client"] or env.get("OTEL_SERVICE_NAME") != service:
                problems.append(f"{cw}: OIDC_CLIENT_ID {spec_['client']} and OTEL_SERVICE_NAME {service}")

    deployments = by_kind.get("Deployment", {})
    services = by_kind.get("Service", {})
    if set(deployments) != set(SERVICES):
        problems.append(f"k8s: Deployments {sorted(deployments)}, expected {sorted(SERVICES)}")
    for name, dep in deployments.items():
        where = f"Deployment {name}"
        if name not in SERVICES:
            continue
        tpl = dep["spec"]["template"]
        spec = tpl["spec"]
        selector = dep["spec"]["selector"]["matchLabels"]
        if any(tpl["metadata"].get("labels", {}).get(k) != v for k, v in selector.items()):
            problems.append(f"{where}: selector does not match the pod labels")
        if spec.get("terminationGracePeriodSeconds") != 30:
            problems.append(f"{where}: terminationGracePeriodSeconds 30")
        pod_checks(where, spec, service=name)
        svc = services.get(name)
        if svc is None:
            problems.append(f"{where}: no Service {name}")
        else:
            if svc["spec"].get("selector") != selector:
                problems.append(f"Service {name}: selector differs from the Deployment's")
            if SERVICES[name]["port"] not in [p.get("port") for p in svc["spec"].get("ports", [])]:
                problems.append(f"Service {name}: port {SERVICES[name]['port']}")
    jobs = by_kind.get("Job", {})
    migrate = [j for j in jobs.values() if j["spec"]["template"]["spec"]["containers"][0].get("args") == ["migrate"]]
    if not migrate:
        problems.append("k8s: no Job running `shop migrate`")
    for name, job in jobs.items():
        pod_checks(f"Job {name}", job["spec"]["template"]["spec"], service=None)
    ingresses = by_kind.get("Ingress", {})
    backends = [p["backend"]["service"]["name"] for i in ingresses.values() for r in i["spec"].get("rules", []) for p in r["http"]["paths"]]
    if backends != ["gateway"] * len(backends) or not backends:
        problems.append(f"k8s: the Ingress should route to the gateway only ({backends})")
    hpas = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind.get("HorizontalPodAutoscaler", {}).values()}
    if not {"gateway", "order"} <= hpas:
        problems.append(f"k8s: HorizontalPodAutoscalers for gateway and order (found {sorted(hpas)})")
    for target in hpas - set(deployments):
        problems.append(f"HorizontalPodAutoscaler: target {target} is not a Deployment")
    pdb_selectors = [p["spec"]["selector"]["matchLabels"] for p in by_kind.get("PodDisruptionBudget", {}).values()]
    for name, dep in deployments.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        if not any(all(labels.get(k) == v for k, v in sel.items()) for sel in pdb_selectors):
            problems.append(f"Deployment {name}: no PodDisruptionBudget selects it")
    return problems


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat[1:] if negate else pat
        pat = pat.strip("/")
        regex = re.escape(pat).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, p) for p in prefixes):
            excluded = not negate
    return excluded


def check_dockerfile() -> list[str]:
    import dockerfile

    problems: list[str] = []
    path = DEPLOY / "Dockerfile"
    try:
        cmds = dockerfile.parse_file(str(path))
    except dockerfile.GoParseError as e:
        return [f"Dockerfile: does not parse: {e}"]
    args = {}
    stages: list[list] = []
    for c in cmds:
        if c.cmd == "ARG" and not stages:
            k, _, v = c.value[0].partition("=")
            args[k] = v
        if c.cmd == "FROM":
            stages.append([c])
        elif stages:
            stages[-1].append(c)

    def expand(s: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), s)

    if len(stages) < 2:
        return ["Dockerfile: expected a build stage and a runtime stage"]
    first, last = stages[0], stages[-1]
    if expand(first[0].value[0]) != "rust:1.95-bookworm":
        problems.append(f"Dockerfile: build stage FROM {expand(first[0].value[0])}, expected rust:1.95-bookworm")
    if expand(last[0].value[0]) != "debian:bookworm-slim":
        problems.append(f"Dockerfile: runtime stage FROM {expand(last[0].value[0])}, expected debian:bookworm-slim")
    build_runs = [c for c in first if c.cmd == "RUN"]
    cargo = [c for c in build_runs if "cargo build --release --locked -p shop" in c.value[0]]
    if not cargo:
        problems.append("Dockerfile: no `cargo build --release --locked -p shop`")
    else:
        flags = " ".join(cargo[0].flags)
        for target in ("/usr/local/cargo/registry", "/src/target"):
            if f"type=cache,target={target}" not in flags:
                problems.append(f"Dockerfile: the cargo build has no cache mount for {target}")
    if not any(all(tool in c.value[0] for tool in ("gcc", "make", "perl")) for c in build_runs):
        problems.append("Dockerfile: the build stage should make gcc, make and perl explicit (librdkafka)")
    runtime_runs = " ".join(c.value[0] for c in last if c.cmd == "RUN")
    installs = re.findall(r"apt-get install\s+((?:-\S+\s+)*)([^&|;]+)", runtime_runs)
    packages = {p for _, pkgs in installs for p in pkgs.split()}
    if packages != {"ca-certificates"}:
        problems.append(f"Dockerfile: the runtime stage should install ca-certificates only, installs {sorted(packages)}")
    if "--uid 10001" not in runtime_runs or "shop" not in runtime_runs:
        problems.append("Dockerfile: no user shop with uid 10001")
    users = [c.value[0] for c in last if c.cmd == "USER"]
    if not users or users[-1].split(":")[0] not in ("10001", "shop"):
        problems.append(f"Dockerfile: the runtime stage should end as USER 10001 (has {users})")
    entry = [c for c in last if c.cmd == "ENTRYPOINT"]
    cmd = [c for c in last if c.cmd == "CMD"]
    if not entry or not entry[-1].json or list(entry[-1].value) != ["/usr/local/bin/shop"]:
        problems.append('Dockerfile: ENTRYPOINT ["/usr/local/bin/shop"] (exec form)')
    if not cmd or not cmd[-1].json or list(cmd[-1].value) != ["up", "--host", "0.0.0.0"]:
        problems.append('Dockerfile: CMD ["up", "--host", "0.0.0.0"] (exec form)')
    exposed = set()
    for c in last:
        if c.cmd == "EXPOSE":
            for v in c.value:
                lo, _, hi = v.split("/")[0].partition("-")
                exposed |= set(range(int(lo), int(hi or lo) + 1))
    if not {s["port"] for s in SERVICES.values()} <= exposed:
        problems.append(f"Dockerfile: EXPOSE 9000 8001-8005 (has {sorted(exposed)})")
    if not any(c.cmd == "COPY" and "--from=build" in c.flags for c in last):
        problems.append("Dockerfile: the runtime stage should COPY --from=build the binary")
    # What the build copies exists in the context (the repository root) and is not ignored.
    ignore_file = DEPLOY / "Dockerfile.dockerignore"
    patterns = [l.strip() for l in ignore_file.read_text(encoding="utf-8").splitlines() if l.strip() and not l.startswith("#")] if ignore_file.exists() else []
    for c in first:
        if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags):
            for src in c.value[:-1]:
                if not (ROOT / src).exists():
                    problems.append(f"Dockerfile: COPY {src}: not in the repository")
                elif dockerignore_excludes(patterns, src):
                    problems.append(f"Dockerfile: COPY {src}: excluded by Dockerfile.dockerignore")
    for must_send in ("Cargo.toml", "Cargo.lock", "crates/shop/Cargo.toml", "crates/kit/src/lib.rs"):
        if dockerignore_excludes(patterns, must_send):
            problems.append(f"Dockerfile.dockerignore: excludes {must_send}")
    for must_skip in ("target/release/shop", ".git/HEAD", "data/product.db"):
        if not dockerignore_excludes(patterns, must_skip):
            problems.append(f"Dockerfile.dockerignore: sends {must_skip}")
    # The binary the image runs is the workspace's `shop`.
    manifest = tomllib.loads((ROOT / "crates" / "shop" / "Cargo.toml").read_text(encoding="utf-8"))
    bins = [b.get("name") for b in manifest.get("bin", [])] or [manifest["package"]["name"]]
    if "shop" not in bins or manifest["package"]["name"] != "shop":
        problems.append(f"crates/shop: package/binary `shop` not found (bins {bins})")
    return problems


def check_observability_configs() -> list[str]:
    problems: list[str] = []
    loki = load_yaml(DEPLOY / "loki" / "config.yaml")
    if loki.get("server", {}).get("http_listen_port") != 3100 or loki.get("auth_enabled") is not False:
        problems.append("loki: http_listen_port 3100, auth_enabled false")
    schemas = loki.get("schema_config", {}).get("configs", [])
    if not schemas or schemas[-1].get("store") != "tsdb" or schemas[-1].get("schema") != "v13":
        problems.append("loki: the current schema should be tsdb v13")
    tempo = load_yaml(DEPLOY / "tempo" / "config.yaml")
    otlp = tempo.get("distributor", {}).get("receivers", {}).get("otlp", {}).get("protocols", {})
    if otlp.get("grpc", {}).get("endpoint", "").rsplit(":", 1)[-1] != "4317" or otlp.get("http", {}).get("endpoint", "").rsplit(":", 1)[-1] != "4318":
        problems.append("tempo: OTLP receivers should listen on 4317 (gRPC) and 4318 (HTTP), on all interfaces")
    if tempo.get("server", {}).get("http_listen_port") != 3200:
        problems.append("tempo: http_listen_port 3200 (Grafana's data source)")
    # Alloy: no parser here, so a structural look: balanced braces and quotes, and it ships to Loki.
    alloy = (DEPLOY / "alloy" / "config.alloy").read_text(encoding="utf-8")
    # drop // comments, but not the // inside strings (URLs)
    code = re.sub(r'("(?:[^"\\]|\\.)*"|`[^`]*`)|//[^\n]*', lambda m: m.group(1) or "", alloy)
    code_no_strings = re.sub(r'"(?:[^"\\]|\\.)*"|`[^`]*`', '""', code)
    if code_no_strings.count('"') % 2 or code_no_strings.count("{") != code_no_strings.count("}") or code_no_strings.count("[") != code_no_strings.count("]"):
        problems.append("alloy/config.alloy: unbalanced braces, brackets or quotes")
    if "http://loki:3100/loki/api/v1/push" not in code or "com.docker.compose.project=shop" not in code:
        problems.append("alloy/config.alloy: should read the shop project's containers and push to http://loki:3100")
    for ref in re.findall(r"\b((?:loki|otelcol|discovery)\.[a-z_.]+)\.(\w+)\.(?:receiver|input|targets|rules|output)\b", code):
        kind, label = ref
        if not re.search(rf'^{re.escape(kind)}\s+"{label}"\s*\{{', code, re.M):
            problems.append(f"alloy/config.alloy: refers to {kind}.{label}, which is not defined")
    # Grafana's data sources point at the compose services.
    _, services = compose_services()
    for f in sorted((DEPLOY / "grafana" / "provisioning" / "datasources").glob("*.y*ml")):
        for ds in load_yaml(f).get("datasources", []):
            m = re.fullmatch(r"https?://([\w-]+):(\d+)/?", ds.get("url", ""))
            if not m or m.group(1) not in services:
                problems.append(f"{f.name}: {ds.get('name')} url {ds.get('url')} is not a compose service")
    for f in sorted((DEPLOY / "grafana" / "provisioning" / "dashboards").glob("*.y*ml")):
        for prov in load_yaml(f).get("providers", []):
            path = prov.get("options", {}).get("path")
            mounted = [v for v in services["grafana"].get("volumes", []) if v.split(":")[1:2] == [path]]
            if not mounted or mounted[0].split(":")[0] != "./grafana/dashboards":
                problems.append(f"{f.name}: dashboards path {path} is not where compose mounts grafana/dashboards")
    return problems


CHECKS = {
    "metrics-file": check_metrics_file,
    "compose": check_compose,
    "dockerfile": check_dockerfile,
    "alert-metrics": check_alert_metrics,
    "dashboards-generated": check_dashboards_generated,
    "dashboards": check_dashboards,
    "metric-coverage": check_metric_coverage,
    "realm": check_realm,
    "k8s": check_k8s,
    "observability-configs": check_observability_configs,
}


def main(argv: list[str]) -> int:
    if argv == ["--list"]:
        print("\n".join(CHECKS))
        return 0
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: checks.py <{'|'.join(CHECKS)}> | --list", file=sys.stderr)
        return 2
    try:
        problems = CHECKS[argv[0]]()
    except Exception as e:  # a file missing or shaped unexpectedly is a failure, not a crash
        import traceback

        frame = traceback.extract_tb(e.__traceback__)[-1]
        problems = [f"{type(e).__name__}: {e} (checks.py line {frame.lineno}, in {frame.name})"]
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
