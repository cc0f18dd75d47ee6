"""`caldicott audit verify` in a process of its own, reporting how much memory the verification itself took.

Runs the command's own entry point (app.cli.main(["audit", "verify"])) after importing
everything it uses, so that what is measured is the verification, not the imports:
the resident set before (VmRSS) and the high-water mark after (VmHWM, /proc/self/status, reset
just before the verification starts).
Both belong to this process's own address space; a parent's `ru_maxrss` for a child would
not do, since Linux counts there the memory of the parent the child was forked from.

    CALDICOTT_DATABASE_URL=... .venv/bin/python -m bench.verify_memory

prints one JSON document: the command's exit status and result, seconds, and the memory in MiB.
"""

import contextlib
import io
import json
import sys
import time
from pathlib import Path

import app.models.audit  # noqa: F401
import app.platform.db  # noqa: F401  (imported before the measurement starts, as the command will import them)
import app.services.audit.chain  # noqa: F401
from app.cli import main as caldicott


def status_mib(field: str) -> float:
    """A VmRSS/VmHWM-style field of /proc/self/status, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from here (Linux 4.0 and later)
    before = status_mib("VmRSS")
    output = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(output):
        status = caldicott(["audit", "verify"])
    seconds = time.perf_counter() - started
    peak = status_mib("VmHWM")
    text = output.getvalue()
    result = json.loads(text) if status in (0, 1) else text
    print(
        json.dumps({"exit_status": status, "result": result, "seconds": seconds, "rss_before_mib": before, "peak_rss_mib": peak, "growth_mib": peak - before})
    )
    sys.exit(status)


if __name__ == "__main__":
    main()
