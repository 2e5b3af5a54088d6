"""``orderbook-lab serve`` in a process of its own, for the end-to-end tests.

The process runs in a new session so that ``close()`` can end it and its
workers together, whatever state a failed test left them in. Two threads
copy its stdout and stderr into lists (a pipe nobody reads would fill up
and stall the service); tests wait on real conditions: the "serving on"
line, an endpoint's answer, the process's exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

SERVING = re.compile(r"serving on (http://127\.0\.0\.1:\d+)")


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("orderbook-lab")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from orderbook_lab.cli import main; main()"]


class ServeProcess:
    """``orderbook-lab serve --port 0 ARGS``; use as a context manager."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [*cli_command(), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._copy, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._copy, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.url = ""

    def _copy(self, stream, into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def wait_serving(self, timeout_s: float = 60) -> str:
        """The URL from the "serving on" line (fails if the process exits first)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for line in self.stderr:
                    if match := SERVING.search(line):
                        self.url = match.group(1)
                        return self.url
                remaining = deadline - time.monotonic()
                assert remaining > 0 and self.proc.poll() is None, (
                    f"not serving; stderr: {''.join(self.stderr)}"
                )
                self._changed.wait(min(remaining, 0.5))

    def get(self, path: str, method: str = "GET") -> tuple[int, dict, bytes]:
        """Status, headers and body; an HTTP error status is an answer too."""
        request = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def get_json(self, path: str) -> tuple[int, dict]:
        code, _headers, body = self.get(path)
        return code, json.loads(body)

    def until(self, condition: Callable[[], object], timeout_s: float = 30, every_s: float = 0.1):
        """Poll ``condition`` until it returns something true, or fail at the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = condition()
            if found:
                return found
            assert time.monotonic() < deadline, (
                f"condition not met in {timeout_s} s; stderr: {''.join(self.stderr)}"
            )
            assert self.proc.poll() is None, f"serve exited; stderr: {''.join(self.stderr)}"
            time.sleep(every_s)  # a polling period, each round checks the real condition

    def terminate(self, timeout_s: float = 60) -> int:
        """SIGTERM, then the exit status (the readers have then read everything)."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout_s)
        for reader in self._readers:
            reader.join(timeout_s)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        else:
            with contextlib.suppress(ProcessLookupError):  # workers left behind by a failed stop
                os.killpg(self.proc.pid, signal.SIGKILL)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
