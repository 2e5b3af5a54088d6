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

from .http import Endpoints, HttpService
from .logs import LOG_LEVELS, LogSink, open_log
from .metrics import EngineCollector, metrics_registry
from .service import Service

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
