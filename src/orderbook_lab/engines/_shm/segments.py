"""Segment names, ownership and clean-up.

Every segment of a run is named ``{prefix}-w{worker}-d`` (a writer's
directory) or ``{prefix}-w{worker}-a{n}`` (its n-th arena), where the prefix
``obl-{pid}-{8 hex}`` is drawn once per run by the parent. Two runs never
collide, and a parent can find every segment of its run by name even after
the writer that created it died (``cleanup``).

Ownership, and Python's resource tracker
----------------------------------------
On Python 3.11 and 3.12, ``SharedMemory`` registers *every* segment it
opens, created or attached, with the process's resource tracker, which
unlinks whatever is still registered when the tracker exits and warns about
"leaked" objects (3.13 added ``track=False``). The tracker keeps a *set* of
names, and spawned children share their parent's tracker. So:

* The **creator** (the writer) registers at creation and unregisters in
  ``unlink``: one register, one unregister. If the writer is SIGKILLed its
  name stays registered, which is the last-resort safety net: when the
  whole process tree is gone, the tracker unlinks it.
* A **reader in the same process tree** shares that tracker: its attach
  re-adds a name already in the set (a no-op) and it must *not* unregister,
  or the creator's own unregister would later fail inside the tracker.
* A **reader in another tree** has its own tracker, which would unlink the
  writer's segment when that reader exits. It unregisters right after
  attaching, which balances its own tracker.

The writer records its tracker's identity (the inode of the tracker pipe,
which spawned children inherit) in its directory header; ``attach`` compares
it with its own to choose between the last two cases. ``cleanup`` attaches
and unlinks, which is one register and one unregister again.
"""

from __future__ import annotations

import os
import re
import secrets
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

__all__ = [
    "SHM_DIR",
    "arena_name",
    "attach",
    "cleanup",
    "create",
    "directory_name",
    "list_segments",
    "new_prefix",
    "release",
    "settle_tracking",
    "tracker_token",
]

SHM_DIR = Path("/dev/shm")
"""Where Linux keeps POSIX shared memory: ``shm_open(name)`` is a file here."""

_PREFIX = re.compile(r"obl-\d+-[0-9a-f]{8}")


def new_prefix() -> str:
    """A run-unique prefix: the parent's pid and 32 random bits.

    >>> bool(_PREFIX.fullmatch(new_prefix()))
    True
    """
    return f"obl-{os.getpid()}-{secrets.token_hex(4)}"


def directory_name(prefix: str, worker: int) -> str:
    return f"{prefix}-w{worker}-d"


def arena_name(prefix: str, worker: int, index: int) -> str:
    return f"{prefix}-w{worker}-a{index}"


_token: tuple[int, int] | None = None  # (pid, token): recomputed after a fork


def tracker_token() -> int:
    """Identity of this process's resource tracker (starting it if needed):
    the inode of its pipe, the same in every process it was passed to.
    Cached per process: asking the tracker module probes the tracker."""
    global _token
    pid = os.getpid()
    if _token is None or _token[0] != pid:
        _token = (pid, os.fstat(resource_tracker.getfd()).st_ino)
    return _token[1]


def create(name: str, size: int) -> SharedMemory:
    """A new segment of ``size`` bytes (tmpfs pages are allocated on first
    touch, so an unused tail costs address space, not memory)."""
    return SharedMemory(name=name, create=True, size=size)


def attach(name: str, owner_tracker: int | None) -> SharedMemory:
    """Open an existing segment; with ``owner_tracker`` known, settle its
    tracking at once (else call ``settle_tracking`` once it is known)."""
    shm = SharedMemory(name=name)
    if owner_tracker is not None:
        settle_tracking(shm, owner_tracker)
    return shm


def settle_tracking(shm: SharedMemory, owner_tracker: int) -> None:
    """Unregister an attached segment from this process's tracker unless
    that tracker is the owner's (see the module docstring)."""
    if owner_tracker != tracker_token():
        resource_tracker.unregister(_posix_name(shm), "shared_memory")


def _posix_name(shm: SharedMemory) -> str:
    # SharedMemory.name drops the leading slash the tracker was given.
    return "/" + shm.name


def release(shm: SharedMemory, *views: memoryview, unlink: bool = False) -> None:
    """Release ``views`` (derived views must go first: an exported buffer
    makes ``close`` fail), close, and unlink when this process owns it."""
    for view in views:
        view.release()
    try:
        shm.close()
    finally:
        if unlink:
            try:
                shm.unlink()
            except FileNotFoundError:  # a parent's cleanup() got there first
                resource_tracker.unregister(_posix_name(shm), "shared_memory")


def list_segments(prefix: str, directory: Path = SHM_DIR) -> list[str]:
    """Names of the segments of run ``prefix`` that exist now. O(files in
    /dev/shm). The prefix must look like ``new_prefix()``'s, so a typo can
    never match other runs' segments."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"not a run prefix: {prefix!r}")
    if not directory.is_dir():
        return []
    start = prefix + "-"
    return sorted(name for name in os.listdir(directory) if name.startswith(start))


def cleanup(prefix: str) -> list[str]:
    """Unlink every segment of run ``prefix`` that still exists, typically
    those of a writer that was killed before its ``close``; returns their
    names. Call it after the writers are joined: a live writer would lose
    its segments under its readers' feet."""
    removed = []
    for name in list_segments(prefix):
        try:
            shm = SharedMemory(name=name)
        except FileNotFoundError:
            continue
        except ValueError:
            # Empty: its creator died between shm_open and ftruncate, before
            # registering it anywhere, so a plain unlink is the whole job.
            (SHM_DIR / name).unlink(missing_ok=True)
        else:
            release(shm, unlink=True)
        removed.append(name)
    return removed
