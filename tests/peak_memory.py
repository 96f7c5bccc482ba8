"""Peak resident memory of a command, measured by the kernel for that command alone.

``ru_maxrss`` of a child counts what it inherited at ``fork`` (before ``exec``), so a
child of a large pytest process would report pytest's size. The command is therefore
started by a small Python process of its own, which waits for it with ``os.wait4``
and reports the peak of that one process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_WAIT = """
import json, os, subprocess, sys
with open(sys.argv[1], "wb") as out:
    child = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]))
"""


def peak_rss_mb(args: list[str], stdout: Path) -> tuple[int, float]:
    """Run ``args`` with its standard output in ``stdout``: its exit status and peak RSS in MB."""
    done = subprocess.run([sys.executable, "-c", _WAIT, str(stdout), *args], capture_output=True, check=True)
    status, kilobytes = json.loads(done.stdout)
    return status, kilobytes / 1024  # ru_maxrss is in kilobytes on Linux
