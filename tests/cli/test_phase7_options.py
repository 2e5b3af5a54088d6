"""Phase 7 on the command line: phase 6 plus adaptive flow, its figures in
the table and the JSON, a paced overload shed and said so beside phase 6,
fault options recorded, and options it cannot honour refused."""

from __future__ import annotations

import json

import pytest
from cli_runner import invoke, ok

pytestmark = pytest.mark.timeout(120)


def test_phase_7_sheds_a_paced_overload_that_phase_6_queues(tmp_path):
    out = tmp_path / "compare.json"
    result = ok(
        "compare", "--phases", "6,7", "--messages", 1500, "--rate", 5000, "--work-ms", 2, "--assets", 8,
        "--processes", 2, "--json", out,
    )  # fmt: skip
    phase6, phase7 = json.loads(out.read_text())["runs"]
    assert phase7["config"]["flow"] == "adaptive" and phase6["config"]["flow"] == "fixed"
    assert phase6["messages"]["dropped"] == 0 and "flow" not in phase6
    dropped = phase7["messages"]["dropped"]
    assert dropped > 0 and dropped == sum(phase7["flow"]["dropped_by_priority"].values())
    assert "│ NO" not in result.output  # a difference in books is never an unexplained one
    if phase7["books"]["digest"] != phase6["books"]["digest"]:  # (shedding only trades keeps them equal)
        assert "no: " in result.output
    for row in ("flow: capacity", "shed: snapshot", "Little's law"):  # labels may wrap after these
        assert row in result.output


def test_fault_options_are_recorded_and_their_drops_counted(tmp_path):
    out = tmp_path / "run.json"
    ok(
        "run", "--phase", 7, "--messages", 600, "--rate", 1000, "--assets", 6, "--processes", 2,
        "--fault-rate", 0.5, "--fault-worker", 1, "--fault-window", "0:30", "--target-wait-ms", 50, "--json", out,
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert result["config"]["fault_window"] == [0.0, 30.0] and result["config"]["target_wait_ms"] == 50
    messages = result["messages"]
    assert messages["dropped_by_reason"]["worker_fault"] > 0
    assert messages["generated"] == messages["processed"] + messages["dropped"] + messages["invalid"]


@pytest.mark.parametrize(
    "args",
    [["--flow", "elastic"], ["--fault-rate", "1.5"], ["--fault-window", "3"], ["--fault-window", "a:b"],
     ["--target-wait-ms", "0"], ["--fault-worker", "-1"]],
)  # fmt: skip
def test_bad_flow_options_exit_2_with_one_line(args):
    result = invoke("run", "--phase", 7, "--messages", 10, *args)
    assert result.exit_code == 2


def test_a_fault_worker_the_run_does_not_have_is_an_error_that_says_so():
    result = invoke("run", "--phase", 7, "--messages", 10, "--processes", 2, "--fault-rate", 0.5,
                    "--fault-worker", 3)  # fmt: skip
    assert result.exit_code == 1
    assert "--fault-worker 3: this run has workers 0 to 1" in result.output


def test_an_option_given_by_hand_wins_over_the_phase_preset(tmp_path):
    out = tmp_path / "run.json"
    ok("run", "--phase", 7, "--flow", "fixed", "--codec", "pickle", "--messages", 300, "--processes", 2,
       "--json", out)  # fmt: skip
    result = json.loads(out.read_text())
    assert result["phase"] == 7 and "flow" not in result
    assert (result["config"]["flow"], result["config"]["codec"], result["config"]["parse_in"]) == (
        "fixed",
        "pickle",
        "worker",  # the rest of the preset stays
    )
