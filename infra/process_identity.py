"""Naming one process across time: its pid, and what tells a reused pid apart.

psutil's start time is wall-clock seconds (the boot time plus the ticks since boot), so it moves
when the wall clock jumps against the boot clock (a stepped clock, a paused VM). Seen here: a
worker a local fleet started at 22:11; at 23:02 every log on the machine jumped 15 s at once;
at 23:11 `down` took the worker for a different process (its start time had moved by more than
the 0.5 s tolerance), forgot it and left it playing for another 30 minutes. The command line does
not move: a pid that still runs the command we started is the process we started.
"""

from __future__ import annotations

from collections.abc import Sequence

import psutil

START_TIME_TOLERANCE_S = 0.5  # psutil's start times agree to the tick while the clock holds


def is_same_process(
    proc: psutil.Process, create_time: float, command: Sequence[str] | None
) -> bool:
    """True if `proc` is the process recorded with this start time and command line (None: no
    command recorded, the start time alone decides). Raises psutil.NoSuchProcess if it is gone."""
    if abs(proc.create_time() - create_time) <= START_TIME_TOLERANCE_S:
        return True
    if not command:
        return False
    try:
        return proc.cmdline() == list(command)
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return False
