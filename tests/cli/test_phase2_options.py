"""The phase 2 options on the command line: shared by run, compare and
replay, recorded in the result, refused with exit 2 when out of range."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from orderbook_lab.cli import app

runner = CliRunner()


def test_compare_phases_1_and_2_gives_one_document_with_the_same_books(tmp_path):
    out = tmp_path / "compare.json"
    result = runner.invoke(
        app,
        [
            "compare",
            "--phases",
            "1,2",
            "--messages",
            "800",
            "--assets",
            "6",
            "--batch-size",
            "16",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "vs sync" in result.output and "same books as sync" in result.output
    runs = json.loads(out.read_text())["runs"]
    assert [r["engine"] for r in runs] == ["sync", "asyncio"]
    assert runs[0]["books"]["digest"] == runs[1]["books"]["digest"]
    assert runs[1]["config"]["batch_size"] == 16
    assert runs[1]["queue"]["policy"] == "block"


def test_littles_law_row_shows_only_when_a_run_measured_a_queue(tmp_path):
    out = tmp_path / "compare.json"
    both = runner.invoke(app, ["compare", "--phases", "1,2", "--messages", "400", "--json", str(out)])
    assert both.exit_code == 0, both.output
    row = next(line for line in both.output.splitlines() if "Little's law L / λW" in line)
    assert "-" in row.split("│")[2]  # phase 1 (sync) has no queue
    law = json.loads(out.read_text())["runs"][1]["littles_law"]
    assert f"({100 * law['relative_error']:.1f}%)" in row.split("│")[3]
    alone = runner.invoke(app, ["run", "--phase", "1", "--messages", "400"])
    assert alone.exit_code == 0, alone.output
    assert "Little's law" not in alone.output


def test_run_records_every_phase_2_option(tmp_path):
    out = tmp_path / "run.json"
    result = runner.invoke(
        app,
        [
            "run",
            "--phase",
            "2",
            "--messages",
            "500",
            "--queue-size",
            "50",
            "--backpressure",
            "drop-oldest",
            "--batch-size",
            "4",
            "--batch-timeout-ms",
            "0.5",
            "--loop",
            "asyncio",
            "--rate",
            "20000",
            "--burst",
            "5",
            "--jitter-ms",
            "0.1",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    config = document["config"]
    assert (config["queue_size"], config["backpressure"], config["batch_size"]) == (50, "drop-oldest", 4)
    assert (config["loop"], config["burst"], config["jitter_ms"]) == ("asyncio", 5, 0.1)
    assert document["event_loop"]["used"] == "asyncio"
    assert document["network"]["applied"] is True
    messages = document["messages"]
    assert messages["generated"] == messages["processed"] + messages["dropped"] + messages["invalid"]


def test_replay_takes_the_same_options(tmp_path):
    feed = tmp_path / "feed.jsonl"
    assert runner.invoke(app, ["source", "--messages", "300", "--out", str(feed)]).exit_code == 0
    out = tmp_path / "replay.json"
    result = runner.invoke(
        app, ["replay", str(feed), "--engine", "asyncio", "--queue-size", "7", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["queue"]["capacity"] == 7
    assert document["messages"]["processed"] == 300


@pytest.mark.parametrize(
    "args",
    [
        ["--queue-size", "0"],
        ["--backpressure", "drop-all"],
        ["--batch-size", "0"],
        ["--batch-timeout-ms", "-1"],
        ["--offload", "gpu"],
        ["--loop", "trio"],
        ["--burst", "0"],
        ["--jitter-ms", "-2"],
    ],
)
def test_bad_phase_2_options_exit_2(args):
    result = runner.invoke(app, ["run", "--phase", "2", "--messages", "10", *args])
    assert result.exit_code == 2
