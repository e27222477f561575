"""Publishing weights beside training: the learner hands over the newest weights and goes on.

A publish is one hub commit (the trio), and a hub may make it wait: the commit budget (about 128
commits an hour per Hugging Face repo), a 429, an outage. Training must not wait with it. So
the learner `offer`s each cycle's weights to this thread and returns at once; the thread
publishes the newest it holds whenever the hub lets it. Offers coalesce: weights offered while a
publish waits replace the pending ones, so a slow hub publishes fewer, newer weights, never a
queue of stale ones. A failed publish keeps its weights pending (unless newer ones arrive) and
is tried again. On a clean stop, `close` publishes what is pending, within a bounded wait.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from infra.experiment import Experiment
from infra.experiment_state import ExperimentState
from infra.hub.base import HubError

log = logging.getLogger("zeb.learner")
RETRY_WAIT_S = 5.0  # after a failed publish, before the next try


@dataclass(frozen=True)
class Weights:
    """One cycle's weights, ready to publish (serialized in the training thread)."""

    checkpoint: bytes
    config: dict[str, Any]
    state: ExperimentState

    @property
    def cycle(self) -> int:
        return self.state.cycle


class Publisher:
    def __init__(self, experiment: Experiment, retry_wait_s: float = RETRY_WAIT_S) -> None:
        self.experiment = experiment
        self.retry_wait_s = retry_wait_s
        self._pending: Weights | None = None
        self._lock = threading.Condition()
        self._closing = False
        self._close_by = float("inf")  # while closing, failed publishes are retried until then
        self.published: dict[str, object] = {}  # cycle and revision of the last publish
        self.coalesced = 0  # offers replaced by newer ones before they went out
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def offer(self, weights: Weights) -> None:
        """Hand over the newest weights; never blocks on the hub."""
        with self._lock:
            if self._pending is not None:
                self.coalesced += 1
            self._pending = weights
            self._lock.notify()

    @property
    def waiting(self) -> int | None:
        """The cycle of the weights waiting to go out (None: nothing pending)."""
        with self._lock:
            return None if self._pending is None else self._pending.cycle

    def close(self, timeout_s: float = 120.0) -> bool:
        """Publish what is pending, then stop; False if it could not within `timeout_s`."""
        with self._lock:
            self._closing = True
            self._close_by = time.monotonic() + timeout_s
            self._lock.notify()
        self._thread.join(timeout_s + self.retry_wait_s)
        if self._thread.is_alive() or self.waiting is not None:
            log.warning("the newest weights (cycle %s) were not published", self.waiting)
            return False
        return True

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._closing:
                    self._lock.wait()
                if self._pending is None:
                    return  # closing with nothing left
                weights = self._pending
            if not self._publish(weights):
                if self._closing and time.monotonic() >= self._close_by:
                    return
                time.sleep(self.retry_wait_s)
                continue
            with self._lock:
                if self._pending is weights:
                    self._pending = None

    def _publish(self, weights: Weights) -> bool:
        try:
            revision = self.experiment.publish_weights(
                weights.checkpoint, weights.config, weights.state
            )
        except HubError as exc:
            log.warning("publish of cycle %d failed (%s); will try again", weights.cycle, exc)
            return False
        log.info(
            "published weights at cycle %d (revision %s)", weights.cycle, (revision or "")[:12]
        )
        self.published = {"published_cycle": weights.cycle, "published_revision": revision}
        return True
