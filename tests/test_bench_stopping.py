"""A benchmark stopped by `kill` runs its `finally` blocks, as on Ctrl-C, so the learner and
workers it started are stopped with it instead of running on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# A bench in miniature: a child process started, stopped in `finally`.
BENCH = """
import subprocess, sys, time
sys.path.insert(0, {repo!r})
from bench._common import stop_like_ctrl_c_on_sigterm
stop_like_ctrl_c_on_sigterm()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
try:  # from here a SIGTERM must reach the `finally`
    print(child.pid, flush=True)
    time.sleep(120)
finally:
    child.terminate()
    child.wait()
"""


def test_sigterm_runs_the_finally_blocks_that_stop_the_children():
    bench = subprocess.Popen(
        [sys.executable, "-c", BENCH.format(repo=str(REPO))], stdout=subprocess.PIPE, text=True
    )
    child_pid = int(bench.stdout.readline())
    try:
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=30) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 10
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child_pid), "the bench's child outlived it"
    finally:  # leave no process behind, whatever failed
        bench.kill()
        bench.wait()
        bench.stdout.close()
        if _alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped (the child was reaped by `child.wait()`)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
