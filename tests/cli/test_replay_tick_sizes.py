"""Replay of a market whose tick size changes mid-stream (0.01 -> 0.001 ->
0.0001 -> 0.01, both tokens), through every engine, against a reference
written here from the wire text alone: Decimal prices, no ticks, no parser.

tests/fixtures/tick_changes.jsonl holds a YES/NO pair near 0.97 / 0.03:
snapshots in one array (with ``tick_size``), all three ``price_change``
generations, 0.0001 prices such as "0.9695" and "0.0001", a ``.035``
spelling, a trade, a ``best_bid_ask`` event, and levels left off the grid
when the tick grows coarser again.
"""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orderbook_lab.cli import app

_FILE = Path(__file__).parents[1] / "fixtures" / "tick_changes.jsonl"
_ENGINES = ["sync", "asyncio", "threads", "multiprocessing", "shared-memory"]


def _reference_books(path: Path) -> dict:
    """The final books by the domain rules of DESIGN.md, on Decimals."""
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    for line in path.read_text().splitlines():
        decoded = json.loads(line)
        for message in decoded if isinstance(decoded, list) else [decoded]:
            kind = message["event_type"]
            if kind == "book":
                sides = {"bids": {}, "asks": {}}
                for side in sides:
                    for level in message[side]:
                        price = Decimal(level["price"])
                        sides[side][price] = sides[side].get(price, Decimal(0)) + Decimal(level["size"])
                books[message["asset_id"]] = sides
            elif kind == "price_change":
                if "price_changes" in message:
                    entries = message["price_changes"]
                elif "changes" in message:
                    entries = [{**entry, "asset_id": message["asset_id"]} for entry in message["changes"]]
                else:
                    entries = [message]
                for entry in entries:
                    book = books.setdefault(entry["asset_id"], {"bids": {}, "asks": {}})
                    side = book["bids" if entry["side"] == "BUY" else "asks"]
                    price, size = Decimal(entry["price"]), Decimal(entry["size"])
                    if size:
                        side[price] = size
                    else:
                        side.pop(price, None)
    return {
        asset: {
            side: [
                [str(p.normalize()), float(s)] for p, s in sorted(levels.items(), reverse=side == "bids") if s
            ]
            for side, levels in book.items()
        }
        for asset, book in books.items()
    }


@pytest.mark.parametrize("engine", _ENGINES)
def test_every_engine_replays_tick_changes_to_the_reference_books(engine, tmp_path):
    result = CliRunner().invoke(
        app,
        ["replay", str(_FILE), "--engine", engine, "--json", str(tmp_path / "r.json"),
         "--books-out", str(tmp_path / "b.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "r.json").read_text())
    assert run["messages"]["invalid"] == 0
    assert (run["messages"]["generated"], run["messages"]["processed"]) == (17, 17)
    assert json.loads((tmp_path / "b.json").read_text()) == _reference_books(_FILE)
    events = run["book_events"]
    # 0.955 on the first 0.01 grid; 0.9695, 0.0305 and 0.965 once 0.01 is back.
    assert (events["off_grid"], events["tick_size_changes"]) == (4, 6)
    assert (events["best_mismatches"], events["crossed"]) == (0, 0)
    assert events["best_checks"] > 0


def test_the_table_shows_prices_off_the_grid(tmp_path):
    result = CliRunner().invoke(app, ["replay", str(_FILE)])
    assert result.exit_code == 0, result.output
    assert "prices off the tick grid" in result.stdout
