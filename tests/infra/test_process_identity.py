"""A process is still itself when the clock jumps: its recorded start time may move, its command
line does not (a reused pid runs another command)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from infra.process_identity import is_same_process

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_moved_start_time_is_the_same_process_only_with_its_command():
    child = subprocess.Popen(SLEEPER)
    try:
        proc = psutil.Process(child.pid)
        _wait_for_command(proc)  # fleets record a worker after it has started; so does this test
        started = proc.create_time()
        assert is_same_process(proc, started, None)
        jumped = started + 15.0  # what a 15 s clock jump makes of the recorded start time
        assert not is_same_process(proc, jumped, None)  # no command recorded: cannot tell
        assert is_same_process(proc, jumped, SLEEPER)
        assert not is_same_process(proc, jumped, [*SLEEPER[:-1], "import time"])  # another one
    finally:
        child.kill()
        child.wait()


def _wait_for_command(proc: psutil.Process, timeout_s: float = 10.0) -> None:
    """Until the child shows the command it was started with (once failed in CI on a loaded
    machine, read right after the start)."""
    deadline = time.monotonic() + timeout_s
    while proc.cmdline() != SLEEPER and time.monotonic() < deadline:
        time.sleep(0.05)
