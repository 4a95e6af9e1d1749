#!/usr/bin/env python3
"""The shop's Grafana dashboards, as code.

    python3 deploy/grafana/dashboards.py           # (re)write deploy/grafana/dashboards/*.json
    python3 deploy/grafana/dashboards.py --check   # exit 1 if a JSON file differs from this

Standard library only. Every PromQL expression uses only the metrics in deploy/metrics.txt
(plus Prometheus' `up`); deploy/check.sh verifies that, and that the JSON files are what
this script writes. Data sources are referenced by the uids provisioned in
provisioning/datasources/datasources.yaml.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39

PROM = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}

SERVICES = ["gateway", "product", "order", "inventory", "notification", "ai"]
RI = "$__rate_interval"


# ---- panels ---------------------------------------------------------------------------------


def prom(expr: str, legend: str = "", *, instant: bool = False, fmt: str | None = None) -> dict:
    t = {"datasource": PROM, "expr": expr, "legendFormat": legend or "__auto", "range": not instant}
    if instant:
        t["instant"] = True
    if fmt:
        t["format"] = fmt
    return t


def loki(expr: str) -> dict:
    return {"datasource": LOKI, "expr": expr, "queryType": "range"}


def thresholds(*steps: tuple[float | None, str]) -> dict:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


GREEN = thresholds((None, "green"))


def timeseries(
    title: str,
    targets: list[dict],
    *,
    unit: str = "short",
    description: str = "",
    stack: bool = False,
    bars: bool = False,
    limits: dict | None = None,
    decimals: int | None = None,
) -> dict:
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "line+area" if limits else "off"},
    }
    defaults = {"unit": unit, "min": 0, "custom": custom, "thresholds": limits or GREEN, "color": {"mode": "palette-classic"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": PROM,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str,
    expr: str,
    *,
    unit: str = "short",
    description: str = "",
    limits: dict | None = None,
    decimals: int | None = None,
    mappings: list | None = None,
) -> dict:
    defaults = {"unit": unit, "thresholds": limits or GREEN, "color": {"mode": "thresholds"}, "mappings": mappings or []}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": PROM,
        "targets": [prom(expr, instant=True)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background" if limits else "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        },
    }


BREAKER_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "closed", "color": "green", "index": 0},
            "1": {"text": "half-open", "color": "yellow", "index": 1},
            "2": {"text": "open", "color": "red", "index": 2},
        },
    }
]


def state_timeline(title: str, targets: list[dict], *, description: str = "", mappings: list) -> dict:
    return {
        "type": "state-timeline",
        "title": title,
        "description": description,
        "datasource": PROM,
        "targets": targets,
        "fieldConfig": {
            "defaults": {"mappings": mappings, "thresholds": GREEN, "color": {"mode": "thresholds"}},
            "overrides": [],
        },
        "options": {"showValue": "auto", "mergeValues": True, "rowHeight": 0.9, "legend": {"showLegend": False}},
    }


def heatmap(title: str, expr: str, *, description: str = "") -> dict:
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": PROM,
        "targets": [prom(expr, "{{le}}", fmt="heatmap")],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {
            "calculate": False,
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "scale": "exponential", "exponent": 0.5},
            "yAxis": {"unit": "s"},
            "tooltip": {"mode": "single", "yHistogram": True},
            "legend": {"show": True},
        },
    }


def table(title: str, expr: str, *, description: str = "") -> dict:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": PROM,
        "targets": [prom(expr, instant=True, fmt="table")],
        "fieldConfig": {
            "defaults": {"mappings": [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red", "index": 0}, "1": {"text": "UP", "color": "green", "index": 1}}}], "custom": {"cellOptions": {"type": "color-background"}}},
            "overrides": [],
        },
        "options": {"showHeader": True, "cellHeight": "sm"},
        "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}, "renameByName": {"Value": "up"}}}],
    }


def logs(title: str, expr: str, *, description: str = "") -> dict:
    return {
        "type": "logs",
        "title": title,
        "description": description,
        "datasource": LOKI,
        "targets": [loki(expr)],
        "options": {
            "showTime": True,
            "wrapLogMessage": True,
            "prettifyLogMessage": False,
            "enableLogDetails": True,
            "sortOrder": "Descending",
            "dedupStrategy": "none",
        },
    }


# ---- layout ---------------------------------------------------------------------------------


def layout(sections: list[tuple[str, list[tuple[dict, int, int]]]]) -> list[dict]:
    """Rows of (panel, width, height), wrapped at 24 columns; every panel gets id and gridPos."""
    panels: list[dict] = []
    y = 0
    next_id = 1
    for title, items in sections:
        panels.append({"type": "row", "title": title, "collapsed": False, "id": next_id, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        x = 0
        row_h = 0
        for panel, w, h in items:
            if x + w > 24:
                y += row_h
                x = 0
                row_h = 0
            panel = dict(panel)
            panel["id"] = next_id
            next_id += 1
            panel["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            for i, t in enumerate(panel.get("targets", [])):
                t["refId"] = chr(ord("A") + i)
            panels.append(panel)
            x += w
            row_h = max(row_h, h)
        y += row_h
    return panels


def dashboard(uid: str, title: str, description: str, sections, *, variables: list | None = None, time_from: str = "now-1h") -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["shop"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {"title": "Shop dashboards", "type": "dashboards", "tags": ["shop"], "asDropdown": True, "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False, "tooltip": "", "url": ""}
        ],
        "templating": {"list": variables or []},
        "panels": layout(sections),
    }


def query_variable(name: str, label: str, query: str, *, multi: bool = False, include_all: bool = False) -> dict:
    v = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": PROM,
        "definition": query,
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "current": {},
        "hide": 0,
        "options": [],
        "regex": "",
        "skipUrlSync": False,
    }
    if include_all:
        v["allValue"] = ".*"
    return v


# ---- the dashboards -------------------------------------------------------------------------

ERR_LIMITS = thresholds((None, "green"), (0.01, "yellow"), (0.05, "red"))
LATENCY_LIMITS = thresholds((None, "green"), (0.5, "yellow"), (1, "red"))
LAG_LIMITS = thresholds((None, "green"), (1000, "red"))
AGE_LIMITS = thresholds((None, "green"), (60, "red"))
DOWN_LIMITS = thresholds((None, "green"), (1, "red"))


def overview() -> dict:
    services = "|".join(SERVICES)
    return dashboard(
        "shop-overview",
        "Shop / Platform overview",
        "Is the platform healthy? Targets, traffic, errors, latency, events and the AI provider at a glance.",
        [
            (
                "Health",
                [
                    (stat("Services down", f'count(up{{job=~"{services}"}} == 0) or vector(0)', limits=DOWN_LIMITS, description="Shop service targets Prometheus cannot scrape."), 4, 4),
                    (stat("Requests / s", f"sum(rate(http_requests_total[{RI}]))", unit="reqps", decimals=1), 4, 4),
                    (stat("5xx ratio", f'sum(rate(http_requests_total{{status=~"5.."}}[{RI}])) / sum(rate(http_requests_total[{RI}]))', unit="percentunit", limits=ERR_LIMITS, decimals=2), 4, 4),
                    (stat("p99 latency", f"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[{RI}])))", unit="s", limits=LATENCY_LIMITS), 4, 4),
                    (stat("Orders placed", "sum(increase(orders_placed_total[$__range]))", decimals=0, description="In the selected time range."), 4, 4),
                    (stat("Dead letters", "sum(increase(events_dead_lettered_total[$__range])) or vector(0)", decimals=0, limits=DOWN_LIMITS, description="Messages sent to a dead-letter topic in the selected time range."), 4, 4),
                ],
            ),
            (
                "Traffic",
                [
                    (timeseries("Requests by service", [prom(f"sum by (service) (rate(http_requests_total[{RI}]))", "{{service}}")], unit="reqps"), 12, 8),
                    (timeseries("5xx ratio by service", [prom(f'sum by (service) (rate(http_requests_total{{status=~"5.."}}[{RI}])) / sum by (service) (rate(http_requests_total[{RI}]))', "{{service}}")], unit="percentunit", limits=ERR_LIMITS), 12, 8),
                    (timeseries("p99 latency by service", [prom(f"histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket[{RI}])))", "{{service}}")], unit="s", limits=LATENCY_LIMITS), 12, 8),
                    (timeseries("Rate-limited requests by class", [prom(f"sum by (class) (rate(rate_limited_total[{RI}]))", "{{class}}")], unit="reqps", description="Requests the gateway answered with 429."), 12, 8),
                ],
            ),
            (
                "Events",
                [
                    (timeseries("Outbox backlog by service", [prom("max by (service) (outbox_backlog)", "{{service}}")], description="Events written but not yet published."), 8, 8),
                    (timeseries("Oldest outbox event by service", [prom("max by (service) (outbox_oldest_age_seconds)", "{{service}}")], unit="s", limits=AGE_LIMITS), 8, 8),
                    (timeseries("Consumer lag by group", [prom("max by (group) (consumer_lag)", "{{group}}")], limits=LAG_LIMITS, description="Messages behind, worst topic of each consumer group."), 8, 8),
                ],
            ),
            (
                "AI provider",
                [
                    (timeseries("LLM latency p95 by provider", [prom(f"histogram_quantile(0.95, sum by (provider, le) (rate(llm_request_duration_seconds_bucket[{RI}])))", "{{provider}}")], unit="s"), 8, 8),
                    (timeseries("LLM calls by outcome", [prom(f"sum by (provider, outcome) (rate(llm_request_duration_seconds_count[{RI}]))", "{{provider}} {{outcome}}")], unit="reqps", stack=True), 8, 8),
                    (state_timeline("LLM circuit breaker", [prom("max by (provider) (llm_breaker_state)", "{{provider}}")], mappings=BREAKER_MAPPINGS, description="Open: calls go to the offline provider instead."), 8, 8),
                ],
            ),
            (
                "Targets and logs",
                [
                    (table("Scrape targets", "up", description="1 = Prometheus scraped the target's /metrics."), 8, 10),
                    (logs("Errors and warnings", '{stack="shop", level=~"ERROR|WARN"}', description="From Loki: every shop container's JSON log lines at WARN or above."), 16, 10),
                ],
            ),
        ],
    )


def red() -> dict:
    sel = 'service="$service", route=~"$route"'
    return dashboard(
        "shop-red",
        "Shop / Service RED",
        "Rate, errors and duration of one service's HTTP API, by route.",
        [
            (
                "Summary",
                [
                    (stat("Requests / s", f"sum(rate(http_requests_total{{{sel}}}[{RI}]))", unit="reqps", decimals=1), 6, 4),
                    (stat("5xx ratio", f'sum(rate(http_requests_total{{{sel}, status=~"5.."}}[{RI}])) / sum(rate(http_requests_total{{{sel}}}[{RI}]))', unit="percentunit", limits=ERR_LIMITS, decimals=2), 6, 4),
                    (stat("p50 latency", f"histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[{RI}])))", unit="s"), 6, 4),
                    (stat("p99 latency", f"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[{RI}])))", unit="s", limits=LATENCY_LIMITS), 6, 4),
                ],
            ),
            (
                "Rate",
                [
                    (timeseries("Requests by route", [prom(f"sum by (method, route) (rate(http_requests_total{{{sel}}}[{RI}]))", "{{method}} {{route}}")], unit="reqps"), 12, 8),
                    (timeseries("Responses by status", [prom(f"sum by (status) (rate(http_requests_total{{{sel}}}[{RI}]))", "{{status}}")], unit="reqps", stack=True), 12, 8),
                ],
            ),
            (
                "Errors",
                [
                    (timeseries("5xx by route", [prom(f'sum by (method, route) (rate(http_requests_total{{{sel}, status=~"5.."}}[{RI}]))', "{{method}} {{route}}")], unit="reqps"), 8, 8),
                    (timeseries("4xx by route", [prom(f'sum by (method, route) (rate(http_requests_total{{{sel}, status=~"4.."}}[{RI}]))', "{{method}} {{route}}")], unit="reqps"), 8, 8),
                    (timeseries("5xx ratio", [prom(f'sum(rate(http_requests_total{{{sel}, status=~"5.."}}[{RI}])) / sum(rate(http_requests_total{{{sel}}}[{RI}]))', "5xx")], unit="percentunit", limits=ERR_LIMITS), 8, 8),
                ],
            ),
            (
                "Duration",
                [
                    (
                        timeseries(
                            "Latency percentiles",
                            [
                                prom(f"histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[{RI}])))", "p50"),
                                prom(f"histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[{RI}])))", "p90"),
                                prom(f"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[{RI}])))", "p99"),
                            ],
                            unit="s",
                        ),
                        12,
                        8,
                    ),
                    (timeseries("p99 by route", [prom(f"histogram_quantile(0.99, sum by (method, route, le) (rate(http_request_duration_seconds_bucket{{{sel}}}[{RI}])))", "{{method}} {{route}}")], unit="s", limits=LATENCY_LIMITS), 12, 8),
                    (timeseries("Mean latency by route", [prom(f"sum by (method, route) (rate(http_request_duration_seconds_sum{{{sel}}}[{RI}])) / sum by (method, route) (rate(http_request_duration_seconds_count{{{sel}}}[{RI}]))", "{{method}} {{route}}")], unit="s"), 12, 8),
                    (heatmap("Latency distribution", f"sum by (le) (increase(http_request_duration_seconds_bucket{{{sel}}}[{RI}]))", description="Requests per latency bucket."), 12, 8),
                ],
            ),
            ("Logs", [(logs("Logs", '{stack="shop", service="$service"}', description="The service's own log lines, from Loki."), 24, 12)]),
        ],
        variables=[
            query_variable("service", "Service", "label_values(http_requests_total, service)"),
            query_variable("route", "Route", 'label_values(http_requests_total{service="$service"}, route)', multi=True, include_all=True),
        ],
    )


def orders() -> dict:
    return dashboard(
        "shop-orders",
        "Shop / Orders",
        "The business flow: orders placed and cancelled, status changes, stock reservation conflicts and the emails sent about them.",
        [
            (
                "In the selected range",
                [
                    (stat("Orders placed", "sum(increase(orders_placed_total[$__range]))", decimals=0), 4, 4),
                    (stat("Orders cancelled", "sum(increase(orders_cancelled_total[$__range]))", decimals=0), 4, 4),
                    (stat("Cancelled / placed", "sum(increase(orders_cancelled_total[$__range])) / sum(increase(orders_placed_total[$__range]))", unit="percentunit", decimals=1), 4, 4),
                    (stat("Reservation conflicts", "sum(increase(reservation_conflicts_total[$__range]))", decimals=0, description="Orders refused with 409 because stock could not be held."), 4, 4),
                    (stat("Emails sent", "sum(increase(emails_sent_total[$__range]))", decimals=0), 4, 4),
                    (stat("Emails failed", "sum(increase(emails_failed_total[$__range])) or vector(0)", decimals=0, limits=DOWN_LIMITS, description="Emails recorded as failed after every retry (and dead-lettered)."), 4, 4),
                ],
            ),
            (
                "Orders",
                [
                    (
                        timeseries(
                            "Orders per minute",
                            [
                                prom(f"sum(rate(orders_placed_total[{RI}])) * 60", "placed"),
                                prom(f"sum(rate(orders_cancelled_total[{RI}])) * 60", "cancelled"),
                            ],
                            unit="short",
                        ),
                        12,
                        8,
                    ),
                    (timeseries("Status changes per minute", [prom(f"sum by (status) (rate(order_status_changes_total[{RI}])) * 60", "{{status}}")], stack=True), 12, 8),
                    (timeseries("Reservation conflicts per minute", [prom(f"sum(rate(reservation_conflicts_total[{RI}])) * 60", "conflicts")]), 12, 8),
                    (timeseries("Order API p99 latency", [prom(f'histogram_quantile(0.99, sum by (method, le) (rate(http_request_duration_seconds_bucket{{service="order"}}[{RI}])))', "{{method}}")], unit="s", limits=LATENCY_LIMITS), 12, 8),
                ],
            ),
            (
                "Emails",
                [
                    (timeseries("Emails sent per minute by kind", [prom(f"sum by (kind) (rate(emails_sent_total[{RI}])) * 60", "{{kind}}")], stack=True), 12, 8),
                    (timeseries("Emails failed per minute by kind", [prom(f"sum by (kind) (rate(emails_failed_total[{RI}])) * 60", "{{kind}}")], stack=True, limits=thresholds((None, "green"), (0.0001, "red"))), 12, 8),
                ],
            ),
        ],
        time_from="now-6h",
    )


def events() -> dict:
    return dashboard(
        "shop-events",
        "Shop / Events and lag",
        "The event bus: what each service publishes, what each consumer group consumes or dead-letters, how far behind the consumers are, and what waits in the outboxes.",
        [
            (
                "Now",
                [
                    (stat("Published / s", f"sum(rate(events_published_total[{RI}]))", unit="short", decimals=1), 4, 4),
                    (stat("Consumed / s", f"sum(rate(events_consumed_total[{RI}]))", unit="short", decimals=1), 4, 4),
                    (stat("Dead-lettered", "sum(increase(events_dead_lettered_total[$__range])) or vector(0)", decimals=0, limits=DOWN_LIMITS, description="In the selected time range."), 4, 4),
                    (stat("Max consumer lag", "max(consumer_lag)", decimals=0, limits=LAG_LIMITS), 4, 4),
                    (stat("Outbox backlog", "sum(outbox_backlog)", decimals=0), 4, 4),
                    (stat("Oldest outbox event", "max(outbox_oldest_age_seconds)", unit="s", limits=AGE_LIMITS), 4, 4),
                ],
            ),
            (
                "Throughput",
                [
                    (timeseries("Published by topic", [prom(f"sum by (topic) (rate(events_published_total[{RI}]))", "{{topic}}")], unit="short", stack=True, description="Events per second, by the outbox relays."), 8, 8),
                    (timeseries("Consumed by group and topic", [prom(f"sum by (group, topic) (rate(events_consumed_total[{RI}]))", "{{group}} ← {{topic}}")], unit="short", stack=True), 8, 8),
                    (timeseries("Dead-lettered by group and topic", [prom(f"sum by (group, topic) (increase(events_dead_lettered_total[{RI}]))", "{{group}} ← {{topic}}")], bars=True, decimals=0, description="Messages moved to <group>.dlq."), 8, 8),
                ],
            ),
            (
                "Lag and outbox",
                [
                    (timeseries("Consumer lag by group and topic", [prom("max by (group, topic) (consumer_lag)", "{{group}} ← {{topic}}")], limits=LAG_LIMITS, description="Messages behind the end of the topic; the alert fires above 1000 for 10 minutes."), 8, 8),
                    (timeseries("Outbox backlog by service", [prom("max by (service) (outbox_backlog)", "{{service}}")], description="Events written in a transaction but not yet published."), 8, 8),
                    (timeseries("Oldest outbox event by service", [prom("max by (service) (outbox_oldest_age_seconds)", "{{service}}")], unit="s", limits=AGE_LIMITS, description="Above 60s the relay is not publishing (broker down?)."), 8, 8),
                ],
            ),
        ],
    )


DASHBOARDS = {
    "shop-overview.json": overview,
    "shop-red.json": red,
    "shop-orders.json": orders,
    "shop-events.json": events,
}


def render(build) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT / name
        text = render(build)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    extra = sorted(p.name for p in OUT.glob("*.json") if p.name not in DASHBOARDS)
    if check and (stale or extra):
        for name in stale:
            print(f"{name}: differs from deploy/grafana/dashboards.py (run it to regenerate)")
        for name in extra:
            print(f"{name}: not produced by deploy/grafana/dashboards.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
