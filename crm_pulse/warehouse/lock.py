"""One refresh per warehouse at a time: an OS lock on ``<warehouse>/.refresh.lock``.

The lock is ``fcntl.flock`` on the file, so the kernel releases it when its holder exits or is
killed: a stale lock cannot block anyone. Inside the file the holder writes one JSON record (pid,
run id, when it took the lock; ``released_at`` when it let go). A record without ``released_at``
on a free lock is therefore the trace of a holder that died mid-run (orchestration/recovery.py).

``crm-pulse run`` takes the lock before it creates the Dagster instance; runs started by the
Dagster daemon or UI take it in their run worker (orchestration/jobs.py, ``locked_executor``). A
second ``flock`` on a new descriptor conflicts even inside one process, so the lock held by this
process is kept in a module-level table and taking it again here is re-entrant.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".refresh.lock"
INSTANCE_LOCK_NAME = ".instance.lock"
EXIT_BUSY = 3  # exit code of `crm-pulse run` when another refresh holds the lock (README "Operations")

_HELD: dict[Path, "WarehouseLock"] = {}
_GUARD = threading.RLock()


@dataclass(frozen=True)
class LockRecord:
    """What the lock file says about its (last) holder."""

    pid: int | None = None
    run_id: str | None = None
    acquired_at: str | None = None
    released_at: str | None = None

    @property
    def unreleased(self) -> bool:
        """The holder has not released the lock; on a free lock: its process died."""
        return self.pid is not None and self.released_at is None

    def describe(self) -> str:
        return f"refresh {self.run_id or '(starting)'} (pid {self.pid if self.pid is not None else '?'})"


class RefreshInProgress(RuntimeError):
    """Another process holds the warehouse lock."""

    def __init__(self, path: Path, record: LockRecord):
        self.path, self.record = path, record
        who = record.describe() if record.unreleased else "another crm-pulse process"
        super().__init__(f"{who} is in progress (lock {path}); nothing was changed")


def lock_path(warehouse_dir: Path) -> Path:
    return Path(warehouse_dir).resolve() / LOCK_NAME


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _read(fd: int) -> LockRecord:
    try:
        raw = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        data = json.loads(raw) if raw else {}
        return LockRecord(**{k: data.get(k) for k in LockRecord.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return LockRecord()


def _write(fd: int, record: LockRecord) -> None:
    data = (json.dumps(asdict(record)) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _try_flock(fd: int, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


class WarehouseLock:
    """The warehouse lock held by this process (see :func:`acquire`)."""

    def __init__(self, path: Path, fd: int, previous: LockRecord, record: LockRecord):
        self.path, self._fd, self.depth = path, fd, 1
        self.previous = previous  # the record found on taking the lock (a dead holder's trace)
        self.record = record

    @property
    def taken_over(self) -> bool:
        """The lock was left by a holder that died (its record was never released)."""
        return self.previous.unreleased

    def set_run_id(self, run_id: str) -> None:
        with _GUARD:
            if self._fd >= 0 and self.record.run_id != run_id:
                self.record = replace(self.record, run_id=run_id)
                _write(self._fd, self.record)

    def release(self) -> None:
        with _GUARD:
            if self._fd < 0:
                return
            self.depth -= 1
            if self.depth > 0:
                return
            try:
                _write(self._fd, replace(self.record, released_at=_now()))
            except OSError:  # disk full: the kernel still drops the lock; the record then reads "died"
                pass
            finally:
                os.close(self._fd)
                self._fd = -1
                _HELD.pop(self.path, None)

    def __enter__(self) -> "WarehouseLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(warehouse_dir: Path, run_id: str | None = None, wait: float = 1.0) -> WarehouseLock:
    """Take the warehouse lock or raise :class:`RefreshInProgress` (after at most ``wait`` seconds,
    which only bridges the instant a schedule tick looks at the lock). Re-entrant in this process:
    taking it again returns the held lock (``depth`` counts the holders; release each)."""
    path = lock_path(warehouse_dir)
    with _GUARD:
        held = _HELD.get(path)
        if held is not None:
            held.depth += 1
            if run_id:
                held.set_run_id(run_id)
            return held
        fd = _open(path)
        if not _try_flock(fd, wait):
            record = _read(fd)
            os.close(fd)
            raise RefreshInProgress(path, record)
        previous = _read(fd)
        record = LockRecord(pid=os.getpid(), run_id=run_id, acquired_at=_now())
        try:
            _write(fd, record)
        except OSError:
            os.close(fd)
            raise
        lock = _HELD[path] = WarehouseLock(path, fd, previous, record)
        return lock


def held_here(warehouse_dir: Path) -> WarehouseLock | None:
    """The lock when this process holds it."""
    with _GUARD:
        return _HELD.get(lock_path(warehouse_dir))


@contextlib.contextmanager
def inspect(warehouse_dir: Path) -> Iterator[LockRecord | None]:
    """Hold the lock for a moment without writing to it and yield the last holder's record, or
    yield None when a live process holds it. Used by ticks and ``status`` to find dead runs."""
    path = lock_path(warehouse_dir)
    with _GUARD:
        held = _HELD.get(path)
        if held is not None:  # this process is the live holder
            yield None
            return
        if not path.exists():
            yield LockRecord()
            return
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            if not _try_flock(fd, 0):
                yield None
                return
            yield _read(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def instance_init_lock(dagster_home: Path) -> Iterator[None]:
    """Serialise creating a Dagster instance on ``dagster_home``: two processes creating its
    SQLite storages at once stamp the schema twice ("more than one head present")."""
    fd = _open(Path(dagster_home) / INSTANCE_LOCK_NAME)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
