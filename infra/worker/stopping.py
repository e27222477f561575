"""Stopping a worker mid-batch without losing the games it finished.

A signal handler only sets a flag. The evaluator every producer calls is wrapped so that the next
network call after the flag raises `StopRequested`: a batch unwinds within one network call, and a
producer that plays its batch in rounds returns the rounds it completed.
"""

from __future__ import annotations

import signal
import threading

import numpy as np

from zeb_core.game.tokenizer import Observation
from zeb_core.network.evaluator import ModelEvaluator


class StopRequested(Exception):  # noqa: N818 - a request, not an error
    """The worker was asked to stop; games in progress are abandoned."""


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal: int | None = None

    def set(self, signum: int | None = None) -> None:
        self.signal = signum
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True at once when a stop is requested."""
        return self._event.wait(seconds)

    def install(self) -> None:
        """SIGTERM (fleets, Prefect) and SIGINT (Ctrl-C) request a stop (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda s, _frame: self.set(s))


class InterruptibleEvaluator:
    """A ModelEvaluator whose next call raises StopRequested once the flag is set."""

    def __init__(self, evaluator: ModelEvaluator, flag: StopFlag) -> None:
        self.evaluator = evaluator
        self.flag = flag

    def evaluate(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        if self.flag.is_set():
            raise StopRequested
        return self.evaluator.evaluate(obs)

    def belief_tilt(self, obs: Observation) -> np.ndarray | None:
        if self.flag.is_set():
            raise StopRequested
        return self.evaluator.belief_tilt(obs)
