"""A worker's traffic with the hub, beside play: uploads from the spool and the look for new
weights.

A hub can make any call wait for minutes (a 429 storm, an outage) and the worker must go on
playing meanwhile, or the health pass sees no progress and replaces it. So one thread uploads
whatever the spool holds (one commit) when asked or at the latest every upload interval, keeping
failed uploads for the next try, and another looks for new weights on a timer (an upload held
for long must not keep the worker on old weights) with the cheapest request the hub has
(`Experiment.weights_fingerprint`: a file's ETag, one resolver request on Hugging Face). When
they changed it downloads them at the head that answer named (no Hub API call) and parks them
for the play loop to take between batches. `trouble` says what the hub is doing to it, for the
heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time

from infra.experiment import Experiment, WeightsSnapshot
from infra.hub.base import HubError
from infra.worker.spool import Spool

log = logging.getLogger("zeb.worker")
MIN_WAIT_S = 0.05
SLOW_UPLOAD_S = 5.0  # an upload in flight this long is worth a word in the heartbeat


class HubLink:
    def __init__(
        self,
        experiment: Experiment,
        spool: Spool,
        source: str,
        upload_interval_s: float,
        weights_check_s: float,
        retry_wait_s: float,
        fingerprint: str | None,  # of the weights in use
    ) -> None:
        self.experiment, self.spool, self.source = experiment, spool, source
        self.upload_interval_s = upload_interval_s
        self.weights_check_s = weights_check_s
        self.retry_wait_s = retry_wait_s
        self.fingerprint = fingerprint
        self._error = ""  # the last hub error ("" while the hub answers)
        self._in_flight: tuple[int, float] | None = None  # (shards, since) of the upload now
        self.uploaded_shards = 0
        self._new_weights: WeightsSnapshot | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="hub-link", daemon=True)
        # Weights are looked for on a thread of their own: an upload held for long in a hub's
        # retries (a repo's commit limit) must not keep the worker on old weights.
        self._watcher = threading.Thread(target=self._watch, name="weights-watch", daemon=True)

    def start(self) -> HubLink:
        self._thread.start()
        if self.weights_check_s:
            self._watcher.start()
        return self

    @property
    def trouble(self) -> str:
        """What the hub is doing to this worker, for its heartbeat ("" when nothing)."""
        in_flight = self._in_flight
        if in_flight is not None and time.monotonic() - in_flight[1] >= SLOW_UPLOAD_S:
            waited = time.monotonic() - in_flight[1]
            return f"upload of {in_flight[0]} shard(s) waits on the hub for {waited:.0f}s"
        return self._error

    def upload_soon(self) -> None:
        self._wake.set()

    def take_weights(self) -> WeightsSnapshot | None:
        """New weights downloaded since the last call (None: none)."""
        with self._lock:
            snapshot, self._new_weights = self._new_weights, None
        return snapshot

    def close(self, timeout_s: float = 60.0) -> None:
        """Stop, after one last upload of what the spool holds."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        if self._watcher.is_alive():
            self._watcher.join(min(timeout_s, 5.0))

    def _run(self) -> None:
        next_upload = time.monotonic() + self.upload_interval_s
        while not self._stop.is_set():
            wait = next_upload - time.monotonic()
            self._wake.wait(max(wait, MIN_WAIT_S))  # an interval of 0 must not spin
            asked = self._wake.is_set()
            self._wake.clear()
            if asked or time.monotonic() >= next_upload:
                uploaded = self.upload()
                delay = self.upload_interval_s if uploaded else self.retry_wait_s
                next_upload = time.monotonic() + delay
        self.upload()

    def _watch(self) -> None:
        while not self._stop.wait(self.weights_check_s):
            self.check_weights()

    def upload(self) -> bool:
        """One commit for everything in the spool; False when it must be tried again."""
        paths = self.spool.pending()
        if not paths:
            return True
        self._in_flight = (len(paths), time.monotonic())
        try:
            self.experiment.upload_examples(self.source, {p.name: p for p in paths})
        except HubError as exc:
            self._error = f"upload of {len(paths)} shard(s) waits: {exc}"[:200]
            log.warning("upload of %d shard(s) failed (%s); kept for the next try", len(paths), exc)
            return False
        finally:
            self._in_flight = None
        self.spool.remove(paths)
        self.uploaded_shards += len(paths)
        self._error = ""
        log.info("uploaded %d shard(s): %s", len(paths), ", ".join(p.name for p in paths))
        return True

    def check_weights(self) -> None:
        """Look for new weights now (the thread does it every `weights_check_s`; with 0 the
        play loop calls it before every batch, as small local setups and tests want)."""
        try:
            found = self.experiment.weights_fingerprint()
            if found is None or found.tag == self.fingerprint:
                return
            snapshot = self.experiment.pull_weights(found.head)  # no request for the head
        except HubError as exc:
            self._error = f"weights check waits: {exc}"[:200]
            log.warning("could not check for new weights (%s); keeping the current ones", exc)
            return
        self.fingerprint = found.tag
        with self._lock:
            self._new_weights = snapshot
