"""The server's own Prometheus metrics, in a registry of its own.

``/metrics`` serves the hub's exposition followed by this one. Every label has a bounded
set of values: a surface, a frame type, a known HTTP route (anything else is ``other``),
a status code the server emits.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

SURFACES = ("websocket", "openai", "anthropic")
_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServerMetrics:
    """Counters and gauges of connections, frames, requests in flight and HTTP requests."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.connections = Gauge(
            "hubactors_server_websocket_connections",
            "Open WebSocket connections",
            registry=self.registry,
        )
        self.handshakes = Counter(
            "hubactors_server_websocket_handshakes",
            "WebSocket handshakes, by outcome (accepted, unauthorized, forbidden, draining)",
            ["outcome"],
            registry=self.registry,
        )
        self.frames = Counter(
            "hubactors_server_websocket_frames",
            "WebSocket frames, by direction (received, sent) and type",
            ["direction", "type"],
            registry=self.registry,
        )
        self.queued = Gauge(
            "hubactors_server_websocket_queued_frames",
            "Frames waiting to be written to slow WebSocket readers",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "hubactors_server_requests_in_flight",
            "Requests being served, by surface (websocket, openai, anthropic)",
            ["surface"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "hubactors_server_http_requests",
            "HTTP requests answered, by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "hubactors_server_http_request_duration_seconds",
            "Time from an HTTP request to the end of its response, by route",
            ["route"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        for surface in SURFACES:
            self.in_flight.labels(surface)

    def render(self) -> bytes:
        """The Prometheus text exposition of the server's metrics."""
        return generate_latest(self.registry)
