"""Finding a Ray cluster's processes from outside Ray, for the ray tests.

A local cluster is the driver's children (GCS server, raylet, monitors,
agents) and the raylet's children (one worker process per actor, and idle
workers). Three ways to name them: the process tree under a pid, the
environment they inherited (a ``TMPDIR`` set for one run), and the
sockets they listen on.
"""

from __future__ import annotations

import os
import select
import time
from pathlib import Path


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process now."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # it ended meanwhile
                continue
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def descendants(pid: int) -> set[int]:
    """Every process under ``pid`` now (children, theirs, ...)."""
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def rays(pids: set[int]) -> set[int]:
    """Those of ``pids`` that belong to Ray (its servers, raylet and
    workers all name it on their command line). A session's other
    children, such as multiprocessing's resource tracker, live as long
    as the session and are not the cluster's to stop."""
    found = set()
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:  # it ended meanwhile
            continue
        if b"ray" in cmdline.lower():
            found.add(pid)
    return found


def tagged(tmpdir: str) -> set[int]:
    """Processes whose environment has ``TMPDIR=tmpdir`` (what one run's
    cluster inherited, however deep in the tree and whatever its title)."""
    needle = f"TMPDIR={tmpdir}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def still_running(pids: set[int], timeout_s: float) -> list[int]:
    """The processes of ``pids`` still running after waiting up to
    ``timeout_s`` for them to end (a pidfd is readable once its process
    has exited; no fixed sleep)."""
    fds = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except ProcessLookupError:
            continue
    try:
        deadline = time.monotonic() + timeout_s
        pending = dict(fds)
        while pending:
            ready, _, _ = select.select(list(pending), [], [], max(deadline - time.monotonic(), 0.0))
            if not ready:
                break
            for fd in ready:
                del pending[fd]
        return sorted(pending.values())
    finally:
        for fd in fds:
            os.close(fd)


def _loopback(address: str) -> bool:
    """An address from /proc/net/tcp(6), hex; IPv4 is little-endian."""
    if len(address) == 8:
        return address.endswith("7F")  # 127.x.x.x
    return address in ("00000000000000000000000001000000", "0000000000000000FFFF00000100007F")


def non_loopback_listeners(pids: set[int]) -> list[str]:
    """``pid command address`` of every TCP socket one of ``pids`` listens on that
    is not loopback-only (0.0.0.0 included)."""
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and not _loopback(local.split(":")[0]):
                listening[inode] = local
    found = []
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        for link in links:
            if link.startswith("socket:[") and link[8:-1] in listening:
                found.append(f"{pid} {_name(pid)} {listening[link[8:-1]]}")
    return found


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()[-40:]
    except OSError:
        return "?"
