"""The ``record`` command: the live market channel into a recording file.

The recorder itself (``live/``) is loaded only when this command runs, so
the other commands never pay for importing ``websockets``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer

from ..live import GAMMA_URL, MARKET_URL
from . import options as opt
from .app import _fail, err, out
from .progress import RecordProgress

if TYPE_CHECKING:
    from ..live.recorder import RecordConfig, Recorder, RecordStats

__all__ = ["record"]


def record(
    out_file: opt.RecordOut,
    assets: opt.RecordAssets = None,
    top: opt.Top = None,
    duration: opt.Duration = None,
    url: opt.MarketUrl = MARKET_URL,
    gamma_url: opt.GammaUrl = GAMMA_URL,
) -> None:
    """Record the live market channel into a JSONL file that `replay` reads.

    Every frame is written as received, with its receive time; a reconnect
    leaves a gap line. Stops at --duration or on Ctrl-C, with every frame
    received in the file.
    Example: [bold]orderbook-lab record --top 10 --duration 600 --out live.jsonl[/bold]
    """
    if (not assets) == (top is None):
        raise typer.BadParameter(
            "name the assets to record: --asset ID (repeatable) or --top N, one of the two",
            param_hint="'--asset' / '--top'",
        )
    _check_url(url, ("ws", "wss"), "'--url'")
    if top is not None:
        _check_url(gamma_url, ("http", "https"), "'--gamma-url'")
    from ..live.connection import ConnectFailed
    from ..live.gamma import GammaError
    from ..live.recorder import RecordConfig

    config = RecordConfig(url=url, duration_s=duration)
    try:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        stats, interrupted = asyncio.run(_record(out_file, list(assets or ()), top, gamma_url, config))
    except (GammaError, ConnectFailed) as error:
        err.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as error:
        raise _fail(f"cannot write {out_file}: {error.strerror or error}") from None
    out.print(
        f"recorded {stats.frames:,} frames, {stats.bytes:,} bytes, {stats.reconnects:,} "
        f"reconnect{'' if stats.reconnects == 1 else 's'}, {stats.books:,} books "
        f"in {stats.elapsed_s:.1f} s to {out_file}",
        highlight=False,
        soft_wrap=True,
    )
    if interrupted:  # a second Ctrl-C: connections were not closed politely
        raise typer.Exit(130)


def _check_url(url: str, schemes: tuple[str, ...], hint: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        raise typer.BadParameter(
            f"expected a {' or '.join(s + '://' for s in schemes)} URL, got {url!r}", param_hint=hint
        )


async def _record(
    out_file: Path, assets: list[str], top: int | None, gamma_url: str, config: RecordConfig
) -> tuple[RecordStats, bool]:
    from ..live.gamma import top_markets
    from ..live.recorder import Recorder

    if top is not None:
        markets = await asyncio.to_thread(top_markets, gamma_url, top)  # urllib blocks: not on the loop
        assets = [token for market in markets for token in market.token_ids]
        err.print(
            f"the {len(markets)} most active markets: {len(assets)} assets", highlight=False, soft_wrap=True
        )
    with RecordProgress(err) as progress:
        recorder = Recorder(assets, out_file, config, on_progress=progress)
        with _stop_on_signals(recorder) as interrupted:
            assets, connections = recorder.assets, len(recorder.shards)
            err.print(
                f"recording {assets} asset{'s' if assets > 1 else ''} over {connections} "
                f"connection{'s' if connections > 1 else ''} to {out_file} (Ctrl-C to stop)",
                highlight=False,
                soft_wrap=True,
            )
            try:
                return await recorder.run(), False
            except asyncio.CancelledError:
                if not interrupted():
                    raise
                return recorder.stats(), True


@contextlib.contextmanager
def _stop_on_signals(recorder: Recorder):
    """SIGINT and SIGTERM stop the recording cleanly; a second one cancels
    the run at once (the file is still closed on the way out). Yields a
    function telling whether that second signal came."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    forced = False

    def on_signal() -> None:
        nonlocal forced
        if recorder.stopping and main is not None:
            forced = True
            main.cancel()
        else:
            recorder.stop()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform or thread
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
    try:
        yield lambda: forced
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
