"""Prometheus metrics (``GET /metrics``) for HTTP and the components that register gauges."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hotline_http_requests_total",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hotline_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=self.registry,
        )
        self.logins = Counter("hotline_logins_total", "Login attempts", ["outcome"], registry=self.registry)

    def add_telephony(self, stats: Callable[[], dict[str, Any]]) -> None:
        """Export the telephony service's counters at every scrape."""
        self.registry.register(_TelephonyCollector(stats))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts requests by route template (not raw path, to keep label cardinality bounded)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)


class _TelephonyCollector(Collector):
    def __init__(self, stats: Callable[[], dict[str, Any]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        st = self.stats()
        sip, calls = st["sip"], st["calls"]
        yield CounterMetricFamily(
            "hotline_sip_messages_received", "SIP messages received", value=sip["received"]
        )
        yield CounterMetricFamily(
            "hotline_sip_parse_errors", "Malformed SIP messages", value=sip["parse_errors"]
        )
        yield CounterMetricFamily("hotline_sip_dropped", "SIP messages dropped", value=sip["dropped_total"])
        responses = CounterMetricFamily("hotline_sip_responses_sent", "SIP responses sent", labels=["status"])
        for status, count in sip["responses_sent"].items():
            responses.add_metric([status], count)
        yield responses
        yield CounterMetricFamily(
            "hotline_sip_auth_failures", "Failed digest authentications", value=sip["auth_failures"]
        )
        yield GaugeMetricFamily(
            "hotline_sip_registered_extensions", "Extensions with a live registration", value=sip["bindings"]
        )
        yield GaugeMetricFamily("hotline_calls_active", "Calls in progress", value=calls["active"])
        yield GaugeMetricFamily("hotline_media_endpoints", "Media endpoints in use", value=calls["endpoints"])
        clock = st.get("media_clock", {})
        if clock:
            tick = GaugeMetricFamily(
                "hotline_media_tick_cpu_seconds",
                "CPU time of one 20 ms media clock tick",
                labels=["quantile"],
            )
            for key, q in (("cpu_ms_p50", "0.5"), ("cpu_ms_p99", "0.99")):
                tick.add_metric([q], clock.get(key, 0.0) / 1000)
            yield tick
            yield CounterMetricFamily(
                "hotline_media_skipped_ticks",
                "Media clock ticks skipped (overload)",
                value=clock.get("skipped_ticks", 0),
            )
