"""Logs that name the charger on every line, and Prometheus metrics."""

from __future__ import annotations

import contextvars
import logging
import sys

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: The charge point a log line is about; set for the life of its connection's tasks.
charge_point_context: contextvars.ContextVar[str] = contextvars.ContextVar(
    "charge_point_id", default="-"
)


class _ChargePointFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "charge_point_id"):
            record.charge_point_id = charge_point_context.get()
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s cp=%(charge_point_id)s %(message)s"


def configure_logging(level: str) -> None:
    """Key=value-ish lines on stderr, each with ``cp=<charge point id>``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ChargePointFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The ocpp library logs every frame at INFO; we keep our own message log instead.
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    for noisy in ("websockets", "central_system.transport.websockets", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Metrics:
    """The central system's metrics, on a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.connected_chargers = Gauge(
            "ocpp_connected_chargers", "Chargers with an open WebSocket.", registry=self.registry
        )
        self.messages = Counter(
            "ocpp_messages",
            "OCPP-J frames by direction, action and outcome.",
            ["direction", "action", "outcome"],
            registry=self.registry,
        )
        self.reply_latency = Histogram(
            "ocpp_reply_seconds",
            "Time from receiving a charger's CALL to sending our answer.",
            ["action"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.command_latency = Histogram(
            "ocpp_command_seconds",
            "Time from sending a command to a charger to its answer.",
            ["action", "outcome"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.refused_connections = Counter(
            "ocpp_refused_connections",
            "WebSocket connections refused, by reason.",
            ["reason"],
            registry=self.registry,
        )
