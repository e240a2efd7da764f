"""Peak memory of the current process, shared by the benchmarks that measure each system in a child."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_gib() -> float:
    """This process's peak resident memory. VmHWM, because ru_maxrss survives exec on Linux
    and would report the parent's peak in a child."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
