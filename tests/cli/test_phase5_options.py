"""Phase 5 on the command line: compare with phase 1 (same books, the
"actor" figures in the result), the actor options recorded and checked,
replay through actors, and a slow asset that is not in the stream."""

from __future__ import annotations

import json

import pytest
from cli_runner import invoke, ok

pytestmark = pytest.mark.timeout(120)


def test_compare_phases_1_and_5_reach_the_same_books(tmp_path):
    out = tmp_path / "compare.json"
    result = ok(
        "compare", "--phases", "1,5", "--messages", 1500, "--assets", 8, "--processes", 2, "--json", out
    )
    assert "updates sent / via coordinator" in result.output
    sync, actor = json.loads(out.read_text())["runs"]
    assert actor["phase"] == 5 and actor["engine"] == "actor"
    assert actor["books"]["digest"] == sync["books"]["digest"]
    assert actor["actor"]["updates_sent"] > 0 and actor["actor"]["causal_violations"] == 0
    assert actor["actor"]["placement"] == "market" and actor["config"]["max_hops"] == 8


def test_run_records_every_actor_option(tmp_path):
    out = tmp_path / "run.json"
    ok("run", "--phase", 5, "--messages", 800, "--assets", 6, "--processes", 2, "--placement", "asset",
       "--max-hops", 3, "--update-queue-size", 5, "--update-load", 2, "--update-hops", 0,
       "--delivery", "arrival", "--reorder-updates", "--json", out)  # fmt: skip
    result = json.loads(out.read_text())
    config, actor = result["config"], result["actor"]
    assert (config["placement"], config["max_hops"], config["update_queue_size"]) == ("asset", 3, 5)
    assert (config["update_load"], config["update_hops"], config["delivery"]) == (2.0, 0, "arrival")
    assert config["reorder_updates"] is True
    assert actor["cycles_stopped"] > 0 and set(actor["hops"]) == {"1", "2", "3"}
    assert actor["conserved"] is True


def test_replay_runs_through_actors(tmp_path):
    stream = tmp_path / "s.jsonl"
    ok("source", "--messages", 600, "--assets", 6, "--out", stream)
    sync, actor = tmp_path / "sync.json", tmp_path / "actor.json"
    ok("replay", stream, "--engine", "sync", "--json", sync)
    ok("replay", stream, "--engine", "actor", "--processes", 2, "--json", actor)
    assert json.loads(actor.read_text())["books"] == json.loads(sync.read_text())["books"]


def test_a_slow_asset_missing_from_the_stream_is_reported():
    result = ok(
        "run", "--phase", 5, "--messages", 300, "--assets", 4, "--processes", 2, "--slow-asset", "nope"
    )
    assert "--slow-asset nope is not an asset of this stream" in result.output


@pytest.mark.parametrize(
    "args",
    [["--placement", "market-ish"], ["--max-hops", "0"], ["--update-queue-size", "0"], ["--update-load", "-1"],
     ["--delivery", "eventually"]],
)  # fmt: skip
def test_bad_actor_options_exit_2(args):
    result = invoke("run", "--phase", 5, "--messages", 10, *args)
    assert result.exit_code == 2


def test_phase_6_is_phase_5_with_msgspec_and_parsing_in_the_workers(tmp_path):
    out = tmp_path / "compare.json"
    ok("compare", "--phases", "1,5,6", "--messages", 1500, "--assets", 8, "--processes", 2, "--json", out)
    sync, phase5, phase6 = json.loads(out.read_text())["runs"]
    assert (phase6["engine"], phase6["config"]["codec"], phase6["config"]["parse_in"]) == (
        "actor",
        "msgspec",
        "worker",
    )
    assert (phase5["config"]["codec"], phase5["config"]["parse_in"]) == ("pickle", "dispatcher")
    assert phase6["ipc"]["codec"] == "msgspec"
    assert phase6["books"]["digest"] == phase5["books"]["digest"] == sync["books"]["digest"]
    assert phase6["actor"]["updates_sent"] > 0 and phase6["actor"]["causal_violations"] == 0
