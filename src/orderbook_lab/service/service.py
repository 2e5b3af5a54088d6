"""One long-lived run with its HTTP side: the lifecycle ``serve`` drives.

Order matters at both ends. Starting: the port is bound first (a port in
use fails before any worker is spawned), HTTP answers from then on
(``/health/ready`` says 503 "starting" while workers spawn, which is
what a supervisor polling it should see), then the engine starts and the
run begins. Stopping: intake stops (the source ends), the run returns,
the engine drains and stops, and only then does HTTP go away, so a
monitor watches the drain instead of losing the service at once.

Whoever starts a thread ends it: ``close()`` joins the watcher and the
HTTP thread and flushes the log, whatever happened before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..core.source import MessageSource
from ..engines import Engine, RunConfig
from .http import Endpoints, HttpService
from .logs import LogSink
from .metrics import metrics_registry
from .watch import StatusWatcher

__all__ = ["Service"]


class Service:
    """``engine`` (a pool engine: it has ``live_status`` and ``ask``) run on
    ``source`` and served on ``host:port`` (see the module docstring);
    ``stream`` says in a few words what the source is, for the log.

    ``open()`` binds and starts HTTP and the status watcher; ``run()``
    starts the engine and runs it until the source ends (SIGTERM or
    Ctrl-C end it early: the engine's own ``--drain-timeout`` handling, as
    for ``run``); ``close()`` stops the engine (which drains), then
    HTTP, then the log. ``close`` is idempotent and safe after a failure
    anywhere.
    """

    def __init__(
        self,
        engine: Engine,
        config: RunConfig,
        source: MessageSource,
        logs: LogSink,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ask_timeout_s: float = 1.0,
        stream: str = "",
    ) -> None:
        self.engine = engine
        self.config = config
        self.source = source
        self.logs = logs
        self.log = logs.logger(component="service")
        self._host = host
        self._port = port
        self._ask_timeout_s = ask_timeout_s
        self._started = threading.Event()
        self.http: HttpService | None = None
        self._watcher: StatusWatcher | None = None
        self._closed = False
        self._stream = stream
        self.run_completed = False
        """The source ran out (or was stopped) and the run returned normally."""

    @property
    def started(self) -> bool:
        """Whether the engine's workers are up (readiness needs it)."""
        return self._started.is_set()

    def open(self) -> str:
        """Bind the port and start answering; returns the URL. ``OSError``
        if the address cannot be bound (nothing else has started then)."""
        engine: Any = self.engine
        endpoints = Endpoints(
            status=engine.live_status,
            ask=engine.ask,
            started=lambda: self.started,
            registry=metrics_registry(engine.live_status),
            log=self.logs.logger(component="http"),
            ask_timeout_s=self._ask_timeout_s,
        )
        self.http = HttpService(endpoints, self._host, self._port, self.logs.logger(component="http"))
        self.http.start()
        self._watcher = StatusWatcher(
            engine.live_status, lambda: self.started, self.logs.logger(component="flow")
        )
        self._watcher.start()
        return self.http.url

    def run(self, on_started: Callable[[Engine], None] | None = None) -> None:
        """Start the engine, then run it on the source until the source
        ends. Raises what the engine raises (``EngineError``)."""
        config = self.config
        self.engine.start()
        self._started.set()
        workers = getattr(self.engine, "workers", None)
        self.log.info(
            "service_started",
            url=self.http.url if self.http is not None else None,
            phase=config.phase,
            engine=config.engine,
            workers=workers,
            pids=list(getattr(self.engine, "worker_pids", [])),
            stream=self._stream,
        )
        if on_started is not None:
            on_started(self.engine)
        self.engine.run(self.source)
        self.run_completed = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.engine.stop()
        finally:
            try:
                if self._watcher is not None:
                    self._watcher.stop()
                if self.http is not None:
                    self.http.close()
            finally:
                self.log.info(
                    "service_stopped",
                    stopped_by=getattr(self.engine, "stop_requested", None),
                    run_completed=self.run_completed,
                )
                self.logs.close()
