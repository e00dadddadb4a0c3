"""The process's peak resident memory, measured per run: VmHWM, reset before each run through
/proc/self/clear_refs. Unlike `getrusage`'s lifetime maximum, this covers only what ran since the
reset. None where /proc does not allow the reset or the reading (not Linux)."""
from __future__ import annotations

from pathlib import Path


def status_kb(field: str) -> int | None:
    """A `/proc/self/status` field in kB (VmRSS, VmHWM, …), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset VmHWM to the current resident size; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
