"""``orderbook-lab record`` end to end, against local servers only.

The command runs in its own process (as a person runs it, signals and all)
against a fake market channel on 127.0.0.1 that drops the connection once;
its recording then goes through ``replay``, which must reach the books the
server sent. ``--top`` asks a fake Gamma API. Every test bounds its waits;
a process still running at the end is killed.
"""

import asyncio
import json
import os
import signal
import subprocess

import pytest
from fake_market import (
    FakeGamma,
    FakeMarket,
    cli_command,
    free_port,
    gamma_markets,
    reference_books,
    subprocess_env,
)
from typer.testing import CliRunner

from orderbook_lab.cli import app
from orderbook_lab.core.recording import RecordingReader
from orderbook_lab.core.source import MessageSource, SourceConfig

pytestmark = pytest.mark.timeout(90)

runner = CliRunner()


def _stream(messages: int, assets: int = 2, seed: int = 5) -> tuple[list[str], list[str]]:
    lines = list(
        MessageSource.synthetic(SourceConfig(messages=messages, assets=assets, seed=seed)).wire_lines()
    )
    return lines, [book["asset_id"] for book in json.loads(lines[0])]


class Record:
    """``orderbook-lab record ARGS`` in its own session; killed if left running."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> "Record":
        self.proc = await asyncio.create_subprocess_exec(
            *cli_command(),
            "record",
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env=subprocess_env(),
        )
        return self

    async def finish(self, timeout_s: float = 60.0) -> tuple[int, str, str]:
        async with asyncio.timeout(timeout_s):
            out, err = await self.proc.communicate()
        return self.proc.returncode, out.decode(), err.decode()

    async def __aexit__(self, *exc_info: object) -> None:
        if self.proc.returncode is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


def _assets_args(assets: list[str]) -> list[str]:
    return [arg for asset in assets for arg in ("--asset", asset)]


def _frames_in(path) -> tuple[list, RecordingReader]:
    reader = RecordingReader(path.read_bytes().splitlines(keepends=True))
    return [p for p in reader if p], reader


def test_record_survives_a_drop_and_replays_to_the_books_the_server_sent(tmp_path):
    lines, assets = _stream(3000)
    rec, books_out, result = tmp_path / "rec.jsonl", tmp_path / "books.json", tmp_path / "result.json"

    async def scenario():
        async with FakeMarket(lines, drop_after=1000, expect_assets=set(assets)) as market:
            args = ["--url", market.url, *_assets_args(assets), "--out", str(rec), "--duration", "5"]
            async with Record(args) as record:
                code, out, err = await record.finish()
            return market, code, out, err

    market, code, out, err = asyncio.run(scenario())
    assert code == 0, err
    assert market.dropped and market.all_sent.is_set(), "the server did not get to send every line"
    assert market.subscriptions == [assets, assets] and market.bad_subscriptions == []
    [summary] = out.splitlines()
    assert f"recorded {market.frames_sent:,} frames" in summary and "1 reconnect," in summary
    assert f"{rec.stat().st_size:,} bytes" in summary and "2 books" in summary
    assert "recording 2 assets over 1 connection" in err
    assert "PONG" not in rec.read_text()

    replayed = runner.invoke(app, ["replay", str(rec), "--books-out", str(books_out), "--json", str(result)])
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(books_out.read_text()) == reference_books(lines)
    document = json.loads(result.read_text())
    gap_line = 1 + next(n for n, line in enumerate(rec.read_bytes().splitlines()) if b'"gap"' in line)
    assert document["recording"] == {"gaps": 1, "gap_lines": [gap_line], "frames_timed": market.frames_sent}
    assert document["messages"]["invalid"] == 0
    assert "timed frames / gaps" in replayed.output


def test_record_top_n_records_both_tokens_of_the_most_active_markets(tmp_path):
    lines, _ = _stream(40, assets=4)
    rec = tmp_path / "rec.jsonl"

    async def scenario():
        with FakeGamma(gamma_markets(("11", "12"), ("21", "22"), ("31", "32"))) as gamma:
            async with FakeMarket(lines) as market:
                args = ["--top", "2", "--gamma-url", gamma.url, "--url", market.url, "--out", str(rec)]
                async with Record([*args, "--duration", "1"]) as record:
                    code, _out, err = await record.finish()
        return gamma, market, code, err

    gamma, market, code, err = asyncio.run(scenario())
    assert code == 0, err
    assert market.subscriptions == [["11", "12", "21", "22"]]
    [path] = gamma.paths
    assert path.startswith("/markets?") and "limit=2" in path and "order=volume24hr" in path
    assert "2 most active markets: 4 assets" in err


def test_ctrl_c_flushes_every_frame_received(tmp_path):
    lines, assets = _stream(4000)
    rec = tmp_path / "rec.jsonl"

    async def scenario():
        async with FakeMarket(lines) as market:
            async with Record(["--url", market.url, *_assets_args(assets), "--out", str(rec)]) as record:
                async with asyncio.timeout(60):
                    await market.all_sent.wait()  # the recorder is subscribed: its handlers are in place
                os.killpg(record.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
                code, out, err = await record.finish()
            return code, out, err

    code, out, err = asyncio.run(scenario())
    assert code == 0, err
    assert "Traceback" not in err
    frames, reader = _frames_in(rec)
    # Every frame the recorder counted is in the file, complete, in order.
    assert f"recorded {len(frames):,} frames" in out
    assert len(frames) > 0 and reader.stats().frames_timed == len(frames)
    assert frames == [line.encode() for line in lines[: len(frames)]]
    assert rec.read_bytes().endswith(b"\n")


def _invoke(*args: str):
    return runner.invoke(app, ["record", *args])


def _one_error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        ([], "--asset ID (repeatable) or --top N"),
        (["--asset", "1", "--top", "2"], "one of the two"),
        (["--asset", "1", "--url", "http://127.0.0.1:1/ws"], "ws:// or wss://"),
        (["--top", "2", "--gamma-url", "ftp://127.0.0.1/"], "http:// or https://"),
        (["--top", "0"], "--top"),
        (["--asset", "1", "--duration", "0"], "--duration"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, args, phrase):
    result = _invoke(*args, "--out", str(tmp_path / "rec.jsonl"))
    assert result.exit_code == 2, result.output
    assert phrase in " ".join(result.output.replace("│", " ").split())  # unwrapped from Typer's box
    assert not (tmp_path / "rec.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "code", "phrase"),
    [
        (["--asset", "1", "--top", "2"], 2, "one of the two"),
        (["--asset", "1", "--url", "ws://127.0.0.1:{port}/ws"], 1, "cannot connect to"),
    ],
    ids=["bad-argument", "unreachable"],
)
def test_the_console_entry_says_what_went_wrong_in_one_stderr_line(tmp_path, args, code, phrase):
    # A narrow terminal: a wrapped message would show up as two lines.
    args = [arg.format(port=free_port()) for arg in args]
    env = {**subprocess_env(), "COLUMNS": "40", "NO_COLOR": "1"}
    completed = subprocess.run(
        [*cli_command(), "record", *args, "--out", str(tmp_path / "rec.jsonl")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert completed.returncode == code, completed.stderr
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and phrase in errors[0], completed.stderr
    assert lines[-1] == errors[0]
    assert len(lines) == (1 if code == 2 else 2)  # the run had said what it was recording


def test_an_unreachable_market_is_one_line_and_exit_1(tmp_path):
    url = f"ws://127.0.0.1:{free_port()}/ws/market"
    line = _one_error_line(_invoke("--asset", "1", "--url", url, "--out", str(tmp_path / "rec.jsonl")), 1)
    assert "cannot connect to" in line


@pytest.mark.parametrize(("body", "phrase"), [(b"not json", "not JSON"), (b"[]", "no open market")])
def test_a_bad_gamma_answer_is_one_line_and_exit_1(tmp_path, body, phrase):
    with FakeGamma(body) as gamma:
        result = _invoke("--top", "3", "--gamma-url", gamma.url, "--out", str(tmp_path / "rec.jsonl"))
    assert phrase in _one_error_line(result, 1)


def test_an_unreachable_gamma_is_one_line_and_exit_1(tmp_path):
    gamma_url = f"http://127.0.0.1:{free_port()}"
    result = _invoke("--top", "3", "--gamma-url", gamma_url, "--out", str(tmp_path / "rec.jsonl"))
    assert "cannot reach" in _one_error_line(result, 1)
