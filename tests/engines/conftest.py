"""Fixtures shared by the engine tests."""

from __future__ import annotations

import multiprocessing

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
