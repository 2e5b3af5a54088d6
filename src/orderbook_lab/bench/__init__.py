"""Benchmarks the docs quote: ``orderbook-lab bench book|codec|ipc|pipeline``.

Each bench runs its contenders in fresh worker processes (``_runner``),
returns a report of measured medians, and never prints: the CLI renders
the tables. Importing this package costs nothing; each bench imports its
contenders only in its workers.
"""

from .book import BookReport, BookResult, BookStream, run_book_bench

__all__ = ["BookReport", "BookResult", "BookStream", "run_book_bench"]
