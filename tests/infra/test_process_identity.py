"""A process is still itself when the clock jumps: its recorded start time may move, its command
line does not (a reused pid runs another command)."""

from __future__ import annotations

import subprocess
import sys

import psutil

from infra.process_identity import is_same_process

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_moved_start_time_is_the_same_process_only_with_its_command():
    child = subprocess.Popen(SLEEPER)
    try:
        proc = psutil.Process(child.pid)
        started = proc.create_time()
        assert is_same_process(proc, started, None)
        jumped = started + 15.0  # what a 15 s clock jump makes of the recorded start time
        assert not is_same_process(proc, jumped, None)  # no command recorded: cannot tell
        assert is_same_process(proc, jumped, SLEEPER)
        assert not is_same_process(proc, jumped, [*SLEEPER[:-1], "import time"])  # another one
    finally:
        child.kill()
        child.wait()
