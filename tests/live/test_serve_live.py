"""``orderbook-lab serve`` on the live channel (``--asset``), against a
local stand-in for the market channel on 127.0.0.1: the frames go straight
into phase 8's engine (with fixed queues, so nothing is shed), and the
books it ends with are the ones the server sent; a connection drop on the way is survived (the channel's fresh
snapshots repair the books). Every wait is bounded; a process still
running at the end is killed."""

import asyncio
import json
import os
import signal

import pytest
from fake_market import FakeMarket, cli_command, reference_books, subprocess_env

from orderbook_lab.core.source import MessageSource, SourceConfig

pytestmark = pytest.mark.timeout(120)


def _stream(messages: int, assets: int = 2, seed: int = 11) -> tuple[list[str], list[str]]:
    lines = list(
        MessageSource.synthetic(SourceConfig(messages=messages, assets=assets, seed=seed)).wire_lines()
    )
    return lines, [book["asset_id"] for book in json.loads(lines[0])]


async def _serve(args: list[str], timeout_s: float = 90.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *cli_command(), "serve", "--port", "0", "--processes", "2", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True, env=subprocess_env(),
    )  # fmt: skip
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    return proc.returncode, out.decode(), err.decode()


def test_serve_follows_the_live_channel_into_the_books_the_server_sent(tmp_path):
    lines, assets = _stream(2000)
    books_out, result = tmp_path / "books.json", tmp_path / "result.json"

    async def scenario():
        async with FakeMarket(lines, drop_after=700, expect_assets=set(assets)) as market:
            # The stand-in sends its lines in one burst: fixed queues hold it all
            # (phase 8's adaptive ones would shed part of it, by policy).
            args = ["--url", market.url, *[a for asset in assets for a in ("--asset", asset)], "--flow", "fixed",
                    "--duration", "6", "--books-out", str(books_out), "--json", str(result)]  # fmt: skip
            code, out, err = await _serve(args)
            return market, code, out, err

    market, code, out, err = asyncio.run(scenario())
    assert code == 0, err
    assert market.dropped and market.all_sent.is_set(), "the server did not get to send every line"
    assert "serving on http://127.0.0.1:" in err
    assert json.loads(books_out.read_text()) == reference_books(lines)
    document = json.loads(result.read_text())
    assert document["phase"] == 8 and document["config"]["recovery"] and document["messages"]["invalid"] == 0
    assert document["messages"]["processed"] == document["messages"]["generated"] > 0
    assert "serve: live channel, 2 assets" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--asset", "1", "--top", "2"], "--asset ID or --top N, not both"),
        (["--asset", "1", "--rate", "100"], "the live feed comes at its own pace"),
        (["--asset", "1", "--url", "http://127.0.0.1:1/"], "expected a ws:// or wss:// URL"),
    ],
)
def test_bad_live_options_are_one_line_and_exit_2(args, message):
    code, _out, err = asyncio.run(_serve(args, timeout_s=60))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
