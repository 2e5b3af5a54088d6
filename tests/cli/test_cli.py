"""The command line: the --json and --books-out contracts, source -> replay
round trips, replay of bad lines, and bad arguments (exit 2, one line)."""

import hashlib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import invoke, ok

from orderbook_lab.core.prices import price_to_ticks, ticks_to_price
from orderbook_lab.core.recording import frame_line, gap_line
from orderbook_lab.experiments import lesson_files

_CONFIG_KEYS = {"engine", "phase", "messages", "duration_s", "rate", "assets", "seed", "popularity",
                "work_ms", "io_ms", "query_rate", "processes", "codec"}  # fmt: skip


def _check_result_contract(result: dict) -> None:
    """Every key DESIGN.md fixes for ``--json``, with the right shapes."""
    assert set(result) >= {"phase", "engine", "config", "messages", "throughput_msgs_per_s", "latency_ms",
                           "processing_us", "queries", "queue", "books", "wall_s"}  # fmt: skip
    assert set(result["config"]) >= _CONFIG_KEYS
    counts = result["messages"]
    assert set(counts) >= {"generated", "processed", "dropped", "invalid"}
    assert all(isinstance(counts[key], int) for key in ("generated", "processed", "dropped", "invalid"))
    assert counts["generated"] == counts["processed"] + counts["dropped"] + counts["invalid"]
    assert set(result["latency_ms"]) >= {"p50", "p95", "p99", "max"}
    assert set(result["processing_us"]) >= {"p50", "p95", "p99"}
    assert set(result["queries"]) >= {"count", "latency_us"}
    assert set(result["queries"]["latency_us"]) >= {"p50", "p95", "p99"}
    assert set(result["queue"]) >= {"high_water"}
    assert set(result["books"]) >= {"count", "digest"}
    assert len(result["books"]["digest"]) == 64
    int(result["books"]["digest"], 16)
    numbers = [result["throughput_msgs_per_s"], result["wall_s"], *result["latency_ms"].values(),
               *result["processing_us"].values(), *result["queries"]["latency_us"].values()]  # fmt: skip
    assert all(isinstance(x, (int, float)) and x >= 0 for x in numbers)


def _check_books_contract(books: dict, digest: str) -> None:
    """Best-first sides, canonical price strings, digest of the sorted compact JSON."""
    for asset, sides in books.items():
        assert isinstance(asset, str)
        assert set(sides) == {"bids", "asks"}
        for side, reverse in (("bids", True), ("asks", False)):
            prices = [price_to_ticks(price) for price, _ in sides[side]]
            assert prices == sorted(prices, reverse=reverse), (asset, side)
            assert len(set(prices)) == len(prices)
            for price, size in sides[side]:
                assert price == ticks_to_price(price_to_ticks(price))  # canonical: "0.5", not "0.50"
                assert isinstance(size, float) and size > 0
    text = json.dumps(books, sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(text.encode()).hexdigest() == digest


# ------------------------------------------------------------ run


def test_run_writes_json_and_books_per_the_contract(tmp_path):
    result_path, books_path = tmp_path / "out" / "r.json", tmp_path / "b.json"
    shown = ok("run", "--phase", 1, "--messages", 2000, "--assets", 20, "--seed", 7,
                "--json", result_path, "--books-out", books_path)  # fmt: skip
    assert "messages processed" in shown.stdout  # the result table
    result = json.loads(result_path.read_text())
    _check_result_contract(result)
    assert (result["phase"], result["engine"]) == (1, "sync")
    assert result["config"]["messages"] == 2000
    assert result["config"]["assets"] == 20
    assert result["config"]["seed"] == 7
    assert result["messages"]["generated"] == result["messages"]["processed"] == 2000
    assert result["throughput_msgs_per_s"] > 0
    books = json.loads(books_path.read_text())
    assert len(books) == result["books"]["count"] == 20
    _check_books_contract(books, result["books"]["digest"])
    assert result["books"]["digest"][:12] in shown.stdout


def test_run_is_deterministic_for_the_same_seed(tmp_path):
    digests = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        ok("run", "--messages", 500, "--assets", 6, "--seed", seed, "--json", tmp_path / f"{name}.json")
        digests.append(json.loads((tmp_path / f"{name}.json").read_text())["books"]["digest"])
    assert digests[0] == digests[1] != digests[2]


def test_run_with_engine_queries_and_zipf(tmp_path):
    path = tmp_path / "r.json"
    ok("run", "--engine", "sync", "--messages", 1500, "--assets", 8, "--query-rate", 1000,
        "--popularity", "zipf", "--json", path)  # fmt: skip
    result = json.loads(path.read_text())
    _check_result_contract(result)
    assert result["engine"] == "sync"
    assert result["config"]["popularity"] == "zipf"
    assert result["config"]["query_rate"] == 1000
    assert result["queries"]["count"] >= 1


def test_run_with_a_duration_is_ended_by_it(tmp_path):
    path = tmp_path / "r.json"
    ok("run", "--duration", 0.2, "--rate", 200, "--assets", 4, "--json", path)
    result = json.loads(path.read_text())
    _check_result_contract(result)
    assert result["config"]["duration_s"] == 0.2
    assert 0 < result["messages"]["generated"] <= 200 * 0.2 * 16  # at most 40 lines of up to 16 snapshots


def test_run_with_a_rate_ramp_paces_the_same_stream_and_records_the_ramp(tmp_path):
    ramped, plain = tmp_path / "ramped.json", tmp_path / "plain.json"
    shown = ok("run", "--messages", 300, "--rate", 4000, "--rate-ramp", "0.5:1.5", "--json", ramped)
    ok("run", "--messages", 300, "--json", plain)
    result, baseline = json.loads(ramped.read_text()), json.loads(plain.read_text())
    _check_result_contract(result)
    assert result["config"]["rate_ramp"] == [0.5, 1.5]
    assert result["messages"]["generated"] == 300
    assert result["books"]["digest"] == baseline["books"]["digest"]
    assert "ramp 0.5:1.5" in shown.stdout


def test_compare_writes_a_run_per_phase(tmp_path):
    path = tmp_path / "c.json"
    shown = ok("compare", "--phases", "1,1", "--messages", 400, "--assets", 4, "--json", path)
    runs = json.loads(path.read_text())["runs"]
    assert len(runs) == 2
    for result in runs:
        _check_result_contract(result)
    assert runs[0]["books"]["digest"] == runs[1]["books"]["digest"]
    assert "same books as sync" in shown.stdout


# ------------------------------------------------------------ source and replay


def test_source_then_replay_gives_the_same_books_as_run(tmp_path):
    stream = tmp_path / "s.jsonl"
    shown = ok("source", "--messages", 3000, "--assets", 9, "--seed", 11, "--out", stream)
    assert "3,000 messages" in shown.stdout
    lines = stream.read_text().splitlines()
    assert sum(len(json.loads(t)) if t.startswith("[") else 1 for t in lines) == 3000
    ok("replay", stream, "--json", tmp_path / "replay.json", "--books-out", tmp_path / "replay_books.json")
    ok("run", "--messages", 3000, "--assets", 9, "--seed", 11,
        "--json", tmp_path / "run.json", "--books-out", tmp_path / "run_books.json")  # fmt: skip
    replayed, ran = (json.loads((tmp_path / n).read_text()) for n in ("replay.json", "run.json"))
    _check_result_contract(replayed)
    assert replayed["books"]["digest"] == ran["books"]["digest"]
    assert replayed["messages"]["processed"] == ran["messages"]["processed"] == 3000
    assert (tmp_path / "replay_books.json").read_text() == (tmp_path / "run_books.json").read_text()


def test_source_is_byte_identical_for_the_same_seed(tmp_path):
    for name in ("a", "b"):
        ok("source", "-n", 700, "--assets", 5, "--seed", 2, "--out", tmp_path / f"{name}.jsonl")
    ok("source", "-n", 700, "--assets", 5, "--seed", 3, "--out", tmp_path / "c.jsonl")
    a, b, c = ((tmp_path / f"{n}.jsonl").read_bytes() for n in "abc")
    assert a == b != c


def test_replay_of_bad_lines_exits_0_applies_the_good_and_lists_the_bad(tmp_path, bad_file):
    shown = ok("replay", bad_file, "--json", tmp_path / "r.json", "--books-out", tmp_path / "b.json")
    result = json.loads((tmp_path / "r.json").read_text())
    _check_result_contract(result)
    assert {k: result["messages"][k] for k in ("generated", "processed", "invalid", "dropped")} == {
        "generated": 20,
        "processed": 4,
        "invalid": 16,
        "dropped": 0,
    }
    bad = [(r["line"], r["element"]) for r in result["rejections"]]
    assert bad == [*((n, None) for n in range(2, 15)), (15, 1), (17, None), (18, None)]
    assert all(r["reason"] for r in result["rejections"])
    books = json.loads((tmp_path / "b.json").read_text())
    assert books == {"5001": {"bids": [["0.4", 10.0], ["0.39", 7.0]], "asks": [["0.58", 3.0], ["0.6", 10.0]]}}
    _check_books_contract(books, result["books"]["digest"])
    # The table on stdout lists every bad line with its number.
    assert "16 invalid message(s)" in shown.stdout
    table_lines = shown.stdout.splitlines()
    for line, element in bad:
        where = str(line) if element is None else f"{line}[{element}]"
        assert any(row.strip("│ ").startswith(where + " ") for row in table_lines), where


def test_replay_of_every_valid_shape(tmp_path, valid_file):
    ok("replay", valid_file, "--json", tmp_path / "r.json", "--books-out", tmp_path / "b.json")
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["messages"]["generated"], result["messages"]["invalid"]) == (15, 0)
    assert result["messages"]["other"] == 2
    books = json.loads((tmp_path / "b.json").read_text())
    assert set(books) == {"1001", "1002", "1003", "2001", "2002", "4001"}
    _check_books_contract(books, result["books"]["digest"])


def _recording(path: Path, lines: list[str], gap_at: int | None = None) -> Path:
    content = []
    for index, line in enumerate(lines):
        if index == gap_at:
            content.append(gap_line(1764600000000.0 + index, 1, "dropped", 100.0))
        content.append(frame_line(1764600000000.0 + index * 0.01, line))
    path.write_bytes(b"".join(content))
    return path


def test_replay_of_a_recording_reports_its_gaps(tmp_path):
    stream = tmp_path / "s.jsonl"
    ok("source", "--messages", 500, "--assets", 4, "--seed", 3, "--out", stream)
    lines = stream.read_text().splitlines()
    recording = _recording(tmp_path / "rec.jsonl", lines, gap_at=100)
    ok("replay", stream, "--json", tmp_path / "plain.json")
    shown = ok("replay", recording, "--json", tmp_path / "rec.json", "--speed", 4)
    plain, recorded = (json.loads((tmp_path / n).read_text()) for n in ("plain.json", "rec.json"))
    _check_result_contract(recorded)
    assert recorded["books"]["digest"] == plain["books"]["digest"]
    assert recorded["messages"] == plain["messages"]  # the gap line is no message
    assert recorded["recording"] == {"gaps": 1, "gap_lines": [101], "frames_timed": len(lines)}
    assert plain["recording"] == {"gaps": 0, "gap_lines": [], "frames_timed": 0}
    assert recorded["config"]["speed"] == 4
    assert "(line 101)" in shown.stdout


def test_replay_speed_paces_a_plain_file_by_its_timestamps(tmp_path, valid_file):
    ok("replay", valid_file, "--speed", 1000, "--json", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["messages"]["processed"] == 15


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["--speed", "1", "--rate", "10"], "give --speed or --rate, not both"),
        (["--speed", "-1"], "--speed"),
    ],
)
def test_replay_speed_needs_no_rate(valid_file, args, phrase):
    result = invoke("replay", valid_file, *args)
    assert result.exit_code == 2, result.output
    assert phrase in result.output


def test_replay_speed_refuses_a_file_with_nothing_to_pace_by(tmp_path):
    untimed = tmp_path / "untimed.jsonl"
    untimed.write_text('{"event_type":"book","asset_id":"1","bids":[],"asks":[]}\n')
    result = invoke("replay", untimed, "--speed", 1)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "no receive times (recv_ms) and no message timestamps" in text
    assert "orderbook-lab record" in text and "--rate" in text


# ------------------------------------------------------------ bad arguments


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["run", "--phase", "0"], "--phase"),
        (["run", "--phase", "9"], "--phase"),
        (["run", "--phase", "1", "--engine", "sync"], "not both"),
        (["run", "--engine", "no-such-engine"], "--engine"),
        (["run", "--messages", "0"], "--messages"),
        (["run", "--messages", "many"], "--messages"),
        (["run", "--rate", "-1"], "--rate"),
        (["run", "--bogus"], "No such option"),
        (["replay", "no/such/file.jsonl"], "does not exist"),
        (["replay"], "Missing argument"),
        (["source"], "--out"),
        (["source", "--out", "x.jsonl", "--messages", "0"], "--messages"),
        (["experiment", "9.9"], "no experiment '9.9'"),
        (["compare", "--phases", "one"], "--phases"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_arguments_exit_2(args, phrase):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert phrase in result.output


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["run", "--rate-ramp", "0.1:1.5"], "give a rate > 0 too (e.g. --rate 1000 --rate-ramp 0.1:1.5)"),
        (["run", "--rate", "100", "--rate-ramp", "0:0"], "make FROM or TO greater than 0"),
        (["run", "--rate", "100", "--rate-ramp", "fast"], "expected two numbers as A:B"),
        (["compare", "--phases", "1,2", "--rate-ramp", "0.1:1.5"], "give a rate > 0"),
    ],
)
def test_a_ramp_that_cannot_be_paced_exits_2_before_any_run(args, phrase):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.replace("│", " ").split())  # the error panel, unwrapped
    assert "'--rate-ramp'" in text and phrase in text
    assert "throughput" not in text  # refused before any engine ran


# ------------------------------------------------------------ lessons and experiments


@pytest.fixture
def lessons_dir(tmp_path, monkeypatch):
    """Point the lessons command at a directory of our own."""
    directory = tmp_path / "lessons"
    # The module, not the Typer object of the same name that cli/__init__ exports.
    commands = importlib.import_module("orderbook_lab.cli.app")
    monkeypatch.setattr(commands, "lesson_files", lambda: lesson_files(directory))
    return directory


def test_lessons_without_a_lessons_directory(lessons_dir):
    result = invoke("lessons")
    assert result.exit_code == 2
    assert "no lessons found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_lessons_list_and_show(lessons_dir):
    lessons_dir.mkdir()
    (lessons_dir / "001_the_baseline.md").write_text("# The baseline\n\nOne thread, **blocking**.\n")
    (lessons_dir / "002_async.md").write_text("# Async\n\nAn event loop.\n")
    (lessons_dir / "notes.md").write_text("# not a lesson\n")
    (lessons_dir / "01_short.md").write_text("# not a lesson either\n")
    listing = ok("lessons")
    assert "The baseline" in listing.stdout and "Async" in listing.stdout
    assert "not a lesson" not in listing.stdout
    assert "1.1" in listing.stdout  # lesson 1 lists its experiments
    shown = ok("lessons", 1)
    assert "One thread" in shown.stdout and "**" not in shown.stdout  # rendered, not raw
    missing = invoke("lessons", 7)
    assert missing.exit_code == 2
    assert "no lesson 7" in missing.stderr


def test_lesson_files_maps_numbers_to_files(tmp_path):
    assert lesson_files(tmp_path / "absent") == {}
    (tmp_path / "003_processes.md").write_text("# x\n")
    (tmp_path / "010_production.md").write_text("# y\n")
    (tmp_path / "README.md").write_text("# z\n")
    assert lesson_files(tmp_path) == {3: tmp_path / "003_processes.md", 10: tmp_path / "010_production.md"}


def test_experiment_quick_prints_tables_findings_and_json(tmp_path):
    path = tmp_path / "e.json"
    shown = ok("experiment", "1.2", "--quick", "--json", path)
    report = json.loads(path.read_text())
    assert report["id"] == "1.2" and report["quick"] is True
    assert report["tables"] and report["tables"][0]["rows"]
    for finding in report["findings"]:
        assert f"- {finding}"[:40] in shown.stdout.replace("\n", " ")


# ------------------------------------------------------------ the real entry point


def _console_script() -> list[str]:
    script = Path(sys.executable).parent / ("orderbook-lab.exe" if os.name == "nt" else "orderbook-lab")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from orderbook_lab.cli import main; main()"]


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--phase", "1", "--engine", "sync"],
        ["run", "--messages", "0"],
        ["replay", "no-such-file.jsonl"],
        ["experiment", "9.9"],
        ["lessons", "99"],  # no lessons dir, or no lesson 99: a one-line reason either way
        ["replay", "{untimed}", "--speed", "1"],
        ["run", "--rate-ramp", "0.1:1.5"],
    ],
    ids=[
        "phase-and-engine",
        "messages-0",
        "missing-file",
        "unknown-experiment",
        "unknown-lesson",
        "speed-untimed",
        "ramp-without-rate",
    ],
)
def test_console_entry_bad_argument_is_one_stderr_line_and_exit_2(args, tmp_path):
    # A narrow terminal: a wrapped message would show up as two lines.
    env = {**os.environ, "COLUMNS": "40", "NO_COLOR": "1"}
    untimed = tmp_path / "untimed.jsonl"
    untimed.write_text('{"event_type":"book","asset_id":"1","bids":[],"asks":[]}\n')
    args = [arg.format(untimed=untimed) for arg in args]
    completed = subprocess.run(
        [*_console_script(), *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("error:")
    assert "Traceback" not in completed.stderr
