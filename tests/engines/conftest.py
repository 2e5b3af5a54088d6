"""Fixtures shared by the engine tests."""

from __future__ import annotations

import multiprocessing
import pickle
from multiprocessing.reduction import ForkingPickler

import pytest


@pytest.fixture
def stopped_at_end():
    """``keep(engine)`` registers a process engine to be stopped when the
    test ends, even if it fails; then no child process may be left."""
    engines = []

    def keep(engine):
        engines.append(engine)
        return engine

    try:
        yield keep
    finally:
        for engine in engines:
            engine.stop()
        assert multiprocessing.active_children() == []


@pytest.fixture
def run_refusing_pickle(monkeypatch):
    """``run(engine, source)``: start ``engine``, make pickle (and
    multiprocessing's own pickler) fail once its workers are up, run it on
    ``source`` and stop it. A run that gets through sent nothing as pickle:
    a worker that pickled would send bytes the parent's typed decoder
    rejects."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("pickle ran during a msgspec run")

    def run(engine, source) -> None:
        try:
            engine.start()
            for target, name in (
                (pickle, "dumps"),
                (pickle, "loads"),
                (ForkingPickler, "dumps"),
                (ForkingPickler, "loads"),
            ):
                monkeypatch.setattr(target, name, refuse)
            engine.run(source)
        finally:
            engine.stop()
            monkeypatch.undo()

    return run
