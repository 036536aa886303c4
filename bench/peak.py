"""Peak memory (resident set) of a measured child process.

``ru_maxrss`` (``getrusage``, ``wait4``) misleads for a child of a big bench process: Linux
carries the high-water mark of the memory a process starts with across its exec (with vfork,
the parent's own), so in one ``make bench`` run every child of the 580 MB bench process
"peaked" at 580 MB. ``VmHWM`` in ``/proc/self/status`` is the high-water mark of the process's
memory since its exec only: the child reports that itself.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

__all__ = ["PEAK_FUNCTION", "module_argv", "read_peak"]

# pasted into a child's ``python -c`` code: ``peak_bytes()`` is its VmHWM in bytes
PEAK_FUNCTION = """
def peak_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0
"""

_RUN = (
    PEAK_FUNCTION
    + """
import atexit, os, runpy, sys
atexit.register(lambda: open(os.environ["BENCH_PEAK_FILE"], "w").write(str(peak_bytes())))
module = sys.argv.pop(1)
sys.argv[0] = module
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""
)


def module_argv(module: str, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """``python -m module args`` that writes its peak RSS on exit: the argv and the environment
    entry naming the file (:func:`read_peak` reads it)."""
    fd, path = tempfile.mkstemp(prefix="bench-peak-")
    os.close(fd)
    return [sys.executable, "-c", _RUN, module, *args], {"BENCH_PEAK_FILE": path}


def read_peak(env: dict[str, str]) -> int:
    """The peak in bytes the child of :func:`module_argv` wrote (0 if none); removes the file."""
    path = Path(env["BENCH_PEAK_FILE"])
    try:
        text = path.read_text().strip()
    finally:
        path.unlink(missing_ok=True)
    return int(text) if text.isdigit() else 0
