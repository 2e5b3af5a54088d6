"""The ``serve`` command: one engine as a long-lived service, with HTTP beside it.

The service itself (``service/``) is loaded only when this command runs,
so the other commands never pay for importing prometheus_client and
structlog. This module parses options, builds the source (simulated, a
replayed file, or the live channel through ``live.feed``), says where the
service listens and prints the run's table at the end, as ``run`` does;
SIGINT and SIGTERM stop it gracefully through the engine's own handling
(``--drain-timeout``).

No ``from __future__ import annotations`` here: Typer reads the option
types from the annotations of the wrapper ``with_run_options`` builds,
which resolves names in another module.
"""

import contextlib
import signal
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..engines import ENGINES, EngineError, RunConfig, create_engine
from ..live import GAMMA_URL, MARKET_URL
from . import options as opt
from .app import _config, _fail, _report, _started, err
from .record import _check_url

if TYPE_CHECKING:
    pass

__all__ = ["DEFAULT_PHASE", "serve"]

DEFAULT_PHASE = 8
"""The preset ``serve`` runs without --phase or --engine."""
_DEFAULT_PHASE_NOTE = "production: recovery, checkpoints, graceful shutdown"
_DEFAULT_DRAIN_TIMEOUT_S = 10.0
"""A service always stops gracefully; ``--drain-timeout`` bounds it."""
_DEFAULT_RATE = 1000.0
"""A service's feed arrives at a pace; flat out (0) is for measuring."""

ServePhase = Annotated[
    int | None,
    typer.Option(
        "--phase",
        "-p",
        min=1,
        max=8,
        help=f"Curriculum phase preset, one with worker processes (3-8) \\[default: {DEFAULT_PHASE}: "
        f"{_DEFAULT_PHASE_NOTE}].",
        show_default=False,
    ),
]


@opt.with_run_options(
    generated_stream=None, defaults={"rate": _DEFAULT_RATE}, annotations={"messages": opt.ServeMessages}
)
def serve(
    ctx: typer.Context,
    host: opt.Host = "127.0.0.1",
    port: opt.Port = 8000,
    replay_file: opt.ServeReplay = None,
    live_assets: opt.RecordAssets = None,
    top: opt.Top = None,
    url: opt.MarketUrl = MARKET_URL,
    gamma_url: opt.GammaUrl = GAMMA_URL,
    phase: ServePhase = None,
    engine: opt.Engine = None,
    log_file: opt.LogFile = None,
    log_level: opt.LogLevel = opt.LogLevelName.info,
    log_sample: opt.LogSample = 1.0,
    json_out: opt.JsonOut = None,
    books_out: opt.BooksOut = None,
    run_fields: dict | None = None,
) -> None:
    """Run the pipeline as a service: metrics, health and books over HTTP until stopped.

    Endless on the simulated stream unless --messages or --duration ends it;
    --replay FILE serves a recording instead, and --asset ID (repeatable) or
    --top N the live market channel (as `record` follows it). Endpoints: /metrics (Prometheus),
    /health/live, /health/ready, /health/status, /books/ASSET_ID?depth=N.
    Ctrl-C or SIGTERM stops intake, drains the workers and prints the run's table.
    Example: [bold]orderbook-lab serve --port 8000 --assets 20 --rate 2000[/bold]
    """
    live = bool(live_assets) or top is not None
    if live and replay_file is not None:
        raise typer.BadParameter("serve one source: --replay FILE or the live feed", param_hint="'--replay'")
    config = _serve_config(ctx, phase, engine, replay_file, live, run_fields or {})
    from ..core.source import MessageSource
    from ..service import Service, open_log

    feed = None
    try:
        if live:
            feed = _live_feed(list(live_assets or ()), top, url, gamma_url, config.duration_s)
            source = MessageSource(feed, live=True)  # the feed keeps its own --duration
        elif replay_file:
            source = MessageSource.from_file(
                replay_file, rate=config.rate, speed=config.speed, duration_s=config.duration_s
            )
        else:
            source = config.synthetic_source()
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--speed' / '--rate-ramp'") from None
    try:
        logs = open_log(log_file, log_level.value, log_sample)
    except OSError as error:
        raise _fail(f"cannot write {log_file}: {error.strerror or error}") from None
    if feed is not None:
        stream = f"live channel, {sum(len(s) for s in feed.shards)} assets"
    else:
        stream = f"replay of {replay_file}" if replay_file else _describe(config)
    service = Service(
        create_engine(config),
        config,
        source,
        logs,
        host=host,
        port=port,
        ask_timeout_s=config.query_timeout_ms / 1e3,
        stream=stream,
    )
    originals = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            url = service.open()
        except OSError as error:
            raise _fail(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        err.print(f"serving on {url}", highlight=False, soft_wrap=True)
        if config.flow != "adaptive":
            err.print(
                "note: without --flow adaptive (phase 7) workers send no health reports, so worker "
                "counts in /metrics and /health/status stay 0",
                highlight=False,
                soft_wrap=True,
            )
        service.run(on_started=_started)
    except EngineError as error:
        err.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        with contextlib.suppress(EngineError):
            service.close()
        if feed is not None:
            feed.stop()
            feed.join()
        for signum, handler in originals.items():
            signal.signal(signum, handler)
    if feed is not None and feed.error is not None:
        err.print(f"error: {feed.error}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    _report(config, service.engine.stats(), service.engine.books(), json_out, books_out, f"serve: {stream}")


def _live_feed(assets: list[str], top: int | None, url: str, gamma_url: str, duration_s: float | None):
    """The live channel for ``assets`` (or the ``top`` markets' tokens),
    connected. One-line errors for bad URLs, Gamma failures and both or
    neither of --asset and --top."""
    if assets and top is not None:
        raise typer.BadParameter("--asset ID or --top N, not both", param_hint="'--asset' / '--top'")
    _check_url(url, ("ws", "wss"), "'--url'")
    from ..live.feed import LiveFeed
    from ..live.recorder import RecordConfig

    if top is not None:
        _check_url(gamma_url, ("http", "https"), "'--gamma-url'")
        from ..live.gamma import GammaError, top_markets

        try:
            markets = top_markets(gamma_url, top)
        except GammaError as error:
            err.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        assets = [token for market in markets for token in market.token_ids]
        err.print(f"the {len(markets)} most active markets: {len(assets)} assets", highlight=False)
    feed = LiveFeed(assets, RecordConfig(url=url, duration_s=duration_s))
    feed.start()
    return feed


def _serve_config(
    ctx: typer.Context, phase, engine, replay_file: Path | None, live: bool, run_fields: dict
) -> RunConfig:
    if phase is None and engine is None:
        phase = DEFAULT_PHASE
    config = _config(phase, engine, ctx, **run_fields)
    if config.drain_timeout_s is None:  # the engine stops gracefully on SIGTERM and Ctrl-C
        config = replace(config, drain_timeout_s=_DEFAULT_DRAIN_TIMEOUT_S)
    if not hasattr(ENGINES[config.engine], "live_status"):
        raise typer.BadParameter(
            f"serve needs an engine with worker processes or threads (phases 3-7: multiprocessing, "
            f"shared-memory, actor, threads); {config.engine} has none to watch",
            param_hint="'--phase' / '--engine'",
        )
    if live:  # the exchange paces it, and it lasts until stopped
        if ctx.get_parameter_source("rate").name != "DEFAULT" or config.speed > 0:
            raise typer.BadParameter("the live feed comes at its own pace", param_hint="'--rate' / '--speed'")
        return replace(config, rate=0.0, messages=None)
    if replay_file is None:
        if config.speed > 0:
            raise typer.BadParameter("--speed paces a replay: give --replay FILE", param_hint="'--speed'")
        return config
    rate_given = ctx.get_parameter_source("rate").name != "DEFAULT"
    if config.speed > 0 and config.rate > 0:
        if rate_given:
            raise typer.BadParameter("give --speed or --rate, not both", param_hint="'--speed' / '--rate'")
        config = replace(config, rate=0.0)  # --speed replaces serve's default pace
    return replace(config, messages=None)  # the file is the stream


def _describe(config: RunConfig) -> str:
    if config.messages is None and config.duration_s is None:
        return f"endless, {config.assets} assets, seed {config.seed}, rate {config.rate:g}/s"
    return config.describe()
