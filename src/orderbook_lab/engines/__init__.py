"""Engines: one module per ``--engine``, all behind ``base.Engine``.

``PHASES`` maps each curriculum phase to its preset: the engine and the
options that phase is about. Only the CLI and the experiments import this
package; the core never does.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace

from ..core.clock import SYSTEM_CLOCK, Clock
from ._stats import ActorStats, PoolStats, ShmStats
from .actor import ActorEngine
from .asyncio import AsyncioEngine
from .base import Engine, EngineError, ProgressCallback, RunConfig, RunStats, run_engine
from .multiprocessing import MultiprocessingEngine
from .ray import RayEngine
from .shared_memory import SharedMemoryEngine
from .sync import SyncEngine
from .threads import ThreadsEngine

__all__ = [
    "ENGINES",
    "ActorStats",
    "PHASES",
    "Engine",
    "EngineError",
    "PoolStats",
    "RunConfig",
    "RunStats",
    "ShmStats",
    "create_engine",
    "phase_config",
    "run_engine",
]

EngineFactory = Callable[..., Engine]

ENGINES: dict[str, EngineFactory] = {
    "sync": SyncEngine,
    "asyncio": AsyncioEngine,
    "multiprocessing": MultiprocessingEngine,
    "threads": ThreadsEngine,
    "shared-memory": SharedMemoryEngine,
    "actor": ActorEngine,
    "ray": RayEngine,
}
"""Engine name (``--engine``) to its class."""

PHASES: dict[int, dict[str, object]] = {
    1: {"engine": "sync"},
    2: {"engine": "asyncio"},
    3: {"engine": "multiprocessing"},
    4: {"engine": "shared-memory"},
    5: {"engine": "actor"},
    6: {"engine": "actor", "codec": "msgspec", "parse_in": "worker"},
    7: {"engine": "actor", "codec": "msgspec", "parse_in": "worker", "flow": "adaptive"},
    8: {
        "engine": "actor",
        "codec": "msgspec",
        "parse_in": "worker",
        "flow": "adaptive",
        "recovery": True,
        "drain_timeout_s": 10.0,
    },
}
"""Phase number (``--phase``) to the options it presets."""


def phase_config(phase: int, base: RunConfig | None = None, keep: Collection[str] = ()) -> RunConfig:
    """``base`` with the engine and options of ``phase`` applied, except
    the fields named in ``keep`` (options a person gave by hand: ``--phase
    7 --flow fixed`` is phase 7 with fixed queues)."""
    if phase not in PHASES:
        raise KeyError(f"phase {phase} is not built yet; available: {sorted(PHASES)}")
    preset = {name: value for name, value in PHASES[phase].items() if name not in keep}
    return replace(base or RunConfig(), phase=phase, **preset)


def create_engine(
    config: RunConfig,
    *,
    clock: Clock = SYSTEM_CLOCK,
    on_progress: ProgressCallback | None = None,
) -> Engine:
    """The engine ``config.engine`` names, configured but not started."""
    try:
        factory = ENGINES[config.engine]
    except KeyError:
        raise KeyError(f"unknown engine {config.engine!r}; available: {sorted(ENGINES)}") from None
    return factory(config, clock=clock, on_progress=on_progress)
