"""Run a command in a subprocess and measure it: wall time and peak RSS of the whole process tree.

The tree (the process and every descendant: Dagster step processes, dbt, its threads' helpers) is
sampled with psutil every ``interval`` seconds; the peak is the largest sum of RSS over one sample.
RSS counts pages shared between a parent and its forked children once per process, so the figure
is an upper bound of the memory really in use.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class Measured:
    command: list[str]
    exit_code: int
    wall_seconds: float
    peak_rss_bytes: int
    peak_pss_bytes: int
    cpu_seconds: float  # user + system CPU of every process of the tree (sampled), robust to machine load
    log: Path
    started_at: float  # time.time() at start
    finished_at: float

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / 2**20

    @property
    def peak_pss_mb(self) -> float:
        return self.peak_pss_bytes / 2**20


def tree_memory(proc: psutil.Process, cpu: dict | None = None) -> tuple[int, int]:
    """(RSS, PSS) summed over ``proc`` and all its descendants (processes that vanish count 0).
    With ``cpu``, also record each process's latest user + system CPU seconds in it.

    PSS splits pages shared between processes (a forked worker and its parent) among them, so the
    PSS sum is the memory the tree really holds; the RSS sum counts shared pages once per process.
    """
    rss = pss = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for member in members:
        try:
            if cpu is not None:
                times = member.cpu_times()
                cpu[(member.pid, member.create_time())] = times.user + times.system
            info = member.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        except psutil.Error:
            pass
    return rss, pss


def run_measured(command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None,
                 interval: float = 0.25) -> Measured:
    """Run ``command`` to completion, output to ``log``; return its wall time and peak tree RSS."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env}
    with open(log, "wb") as out:
        started_at = time.time()
        start = time.perf_counter()
        popen = subprocess.Popen(command, env=full_env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        proc = psutil.Process(popen.pid)
        peak_rss = peak_pss = 0
        cpu: dict = {}
        while popen.poll() is None:
            rss, pss = tree_memory(proc, cpu)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(interval)
        wall = time.perf_counter() - start
    # Step workers are children of Dagster's forkserver, which exits without reaping them, so
    # getrusage(RUSAGE_CHILDREN) misses their CPU: sum the per-process samples instead (a process
    # loses at most its last sampling interval).
    return Measured(command, popen.returncode, wall, peak_rss, peak_pss, sum(cpu.values()), log, started_at,
                    time.time())
