"""``run --event-log DIR`` then ``replay-log DIR``: the same books, and the errors.

replay-log must rebuild the live run's books byte for byte, must never
modify the log it reads (a torn tail is reported, left for the writer to
cut), and must say in one line where a damaged log is damaged.
"""

import json
import struct

import pytest
from cli_runner import invoke, ok

from orderbook_lab.core.eventlog import segment_paths


def _run_with_log(tmp_path, *extra):
    log = tmp_path / "log"
    ok("run", "--phase", "1", "--messages", "5000", "--event-log", log,
       "--books-out", tmp_path / "a.json", "--json", tmp_path / "a-run.json", *extra)  # fmt: skip
    return log


def test_replay_log_rebuilds_the_books_of_the_run_that_wrote_it(tmp_path):
    log = _run_with_log(tmp_path)
    result = ok("replay-log", log, "--books-out", tmp_path / "b.json", "--json", tmp_path / "b-run.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    run = json.loads((tmp_path / "a-run.json").read_text())
    replayed = json.loads((tmp_path / "b-run.json").read_text())
    assert replayed["books"] == run["books"]
    assert replayed["records"] == run["messages"]["processed"]
    assert (replayed["first_seq"], replayed["complete"], replayed["torn_tail"]) == (0, True, None)
    assert run["books"]["digest"][:12] in result.stdout


def test_a_torn_tail_is_reported_and_left_in_place(tmp_path):
    log = _run_with_log(tmp_path)
    _, path = segment_paths(log)[-1]
    data = path.read_bytes()
    first = 8 + struct.unpack_from("<I", data, 0)[0]  # the first frame's size; cut 11 bytes into the second
    path.write_bytes(data[: first + 11])
    result = ok("replay-log", log, "--json", tmp_path / "r.json")
    assert path.stat().st_size == first + 11  # replay-log reads, never truncates
    replayed = json.loads((tmp_path / "r.json").read_text())
    assert replayed["records"] == 1
    assert replayed["torn_tail"] == {
        "file": str(path),
        "offset": first,
        "bytes": 11,
        "reason": "short payload",
    }
    assert "torn tail" in result.stdout


def test_a_second_run_appends_after_the_first(tmp_path):
    log = _run_with_log(tmp_path)
    ok("run", "--phase", "1", "--messages", "100", "--event-log", log)
    ok("replay-log", log, "--json", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["last_seq"] == 5000 + 100 - 1


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_no_log_there_is_one_line_and_exit_2(tmp_path, make):
    target = tmp_path / "log"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("not a log")
    result = invoke("replay-log", target)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no event log" in result.stderr


def test_corruption_in_the_middle_names_the_file_and_offset_and_exits_1(tmp_path):
    log = _run_with_log(tmp_path)
    _, path = segment_paths(log)[0]
    data = bytearray(path.read_bytes())
    data[8 + 10] ^= 0xFF  # inside the first record's payload
    path.write_bytes(bytes(data))
    result = invoke("replay-log", log)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"{path}: byte 0: bad checksum" in result.stderr


@pytest.mark.parametrize(
    "args",
    [("run", "--engine", "asyncio", "--messages", "10"), ("compare", "--phases", "1", "--messages", "10")],
    ids=["other-engine", "compare"],
)
def test_event_log_is_refused_where_it_is_not_wired(tmp_path, args):
    result = invoke(*args, "--event-log", tmp_path / "log")
    assert result.exit_code == 2
    assert "--event-log" in result.stderr
    assert not (tmp_path / "log").exists()


def test_replay_of_a_file_can_write_an_event_log_too(tmp_path, valid_file):
    ok("replay", valid_file, "--event-log", tmp_path / "log", "--books-out", tmp_path / "a.json")
    ok("replay-log", tmp_path / "log", "--books-out", tmp_path / "b.json")
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())
