"""Phase 8's service side: a run that stays up, watched from outside.

``serve`` runs one engine for as long as its stream lasts (for ever, by
default) and answers on HTTP beside it: Prometheus metrics pulled from the
engine at scrape time (``metrics``), liveness, readiness and a status
breakdown (``health``), book queries (``http``), JSON-line logs that never
make the run wait (``logs``), and events seen by comparing the engine's
status second by second (``watch``); ``service`` puts them together in
the order they must start and stop. It stops gracefully the way ``run``
does with ``--drain-timeout``: the engine's own SIGTERM and Ctrl-C
handling stops intake and drains.

Dependencies point one way: this package uses the engines and the core;
only the CLI imports it, and the core never imports structlog or
prometheus_client.
"""

import importlib
from typing import Any

_WHERE = {
    "Service": "service",
    "EngineCollector": "metrics",
    "metrics_registry": "metrics",
    "Endpoints": "http",
    "HttpService": "http",
    "LOG_LEVELS": "logs",
    "LogSink": "logs",
    "open_log": "logs",
}
"""Names exported here and the module each comes from. They load on first
use (PEP 562), so importing one light module of the package (``health``,
``watch``) does not pull in prometheus_client and structlog."""


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


__all__ = [
    "Service",
    "EngineCollector",
    "metrics_registry",
    "Endpoints",
    "HttpService",
    "LOG_LEVELS",
    "LogSink",
    "open_log",
]
