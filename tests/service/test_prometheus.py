"""A real Prometheus scrapes ``serve`` and gives the series back.

Debian's ``prometheus`` server runs on loopback with a configuration
written here (one job, ``serve``'s port, a scrape a second) and a database
in the test's temporary folder; the test asks Prometheus's HTTP API for
``orderbook_lab_messages_total`` until a sample above zero comes back. It
proves the exposition is one a real scraper parses and stores, which a
parser in Python cannot. Select it with ``-m prometheus``; it is skipped
when the binary is not installed (``.ci/run`` installs it where it can).
"""

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from serve_process import ServeProcess

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(180)]

PROMETHEUS = shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def query(api: str, expression: str) -> list[dict]:
    """The instant vector of ``expression``; empty until Prometheus has it."""
    url = f"{api}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            document = json.load(response)
    except (urllib.error.URLError, ConnectionError):  # not listening yet
        return []
    return document["data"]["result"] if document.get("status") == "success" else []


@pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary on PATH (apt-get install prometheus)")
def test_prometheus_scrapes_serve_and_returns_the_series(tmp_path):
    with ServeProcess(["--assets", "4", "--rate", "300", "--processes", "2"]) as serve:
        target = serve.wait_serving().removeprefix("http://")
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: orderbook-lab\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        listen = f"127.0.0.1:{free_port()}"
        log = (tmp_path / "prometheus.log").open("w")
        prometheus = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address={listen}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            api = f"http://{listen}"
            deadline = time.monotonic() + 30
            found: list[dict] = []
            while time.monotonic() < deadline and prometheus.poll() is None:
                found = [s for s in query(api, "orderbook_lab_messages_total") if float(s["value"][1]) > 0]
                if found:
                    break
                time.sleep(0.5)  # a polling period; each round asks for the real series
            assert found, (tmp_path / "prometheus.log").read_text()[-2000:]
            outcomes = {s["metric"]["outcome"] for s in query(api, "orderbook_lab_messages_total")}
            assert outcomes == {"processed", "dropped", "invalid"}
            (processed,) = [s for s in found if s["metric"]["outcome"] == "processed"]
            assert processed["metric"]["job"] == "orderbook-lab"
            assert query(api, "orderbook_lab_processing_seconds_count") != []
            workers = {s["metric"]["worker"] for s in query(api, "orderbook_lab_queue_depth")}
            assert workers == {"0", "1"}
        finally:
            prometheus.terminate()
            try:
                prometheus.wait(30)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait()
            log.close()
        assert serve.terminate() == 0
