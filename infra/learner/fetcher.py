"""The learner's reads from the hub, beside training: new shards, the live controls, and the
pruning of old shards.

Every hub call can wait (a 429's reset, an outage, a slow listing), and training must not wait
with it. One thread lists and reads new shards (`Ingestor.fetch`) and hands them over; the
training thread takes what is ready between cycles (`take`) without ever calling the hub. A
second thread reads the experiment's state (the live controls) every `poll_s`, so that a rollback
reaches the next cycle after that read however long a round of shards takes. The first thread
stops fetching while the shards it holds exceed `max_backlog` examples:
what the learner cannot use yet stays on the hub, read later, never read twice. Unread shards older
than `max_backlog` examples of newer ones are set aside as surplus (ingest.py): a learner reading
a big fleet's shards oldest first would fall ever further behind it.
"""

from __future__ import annotations

import logging
import threading
import time

from infra.experiment import Experiment
from infra.experiment_state import ExperimentState
from infra.hub.base import HubError
from infra.learner.ingest import Fetched, Ingestor, prune

log = logging.getLogger("zeb.learner")
SHARDS_PER_ROUND = 64  # a round hands over what it read at least this often


class Fetcher:
    def __init__(
        self, experiment: Experiment, ingestor: Ingestor, poll_s: float, max_backlog: int
    ) -> None:
        self.experiment, self.ingestor = experiment, ingestor
        self.poll_s, self.max_backlog = poll_s, max_backlog
        self._ready: list[Fetched] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.state: ExperimentState | None = None  # the newest state read (live controls)
        self.trouble = ""  # the last hub error, "" once a round went through
        self._prune: tuple[set[str], int, set[str]] | None = None  # (saved, keep, pruned)
        self._threads = [
            threading.Thread(target=self._run, name="fetcher", daemon=True),
            threading.Thread(target=self._follow_state, name="controls", daemon=True),
        ]

    def start(self) -> Fetcher:
        for thread in self._threads:
            thread.start()
        return self

    def take(self) -> list[Fetched]:
        """Everything read since the last call (never blocks)."""
        with self._lock:
            ready, self._ready = self._ready, []
        return ready

    @property
    def backlog(self) -> int:
        """Examples read and not taken yet."""
        with self._lock:
            return sum(item.examples for item in self._ready)

    def prune_later(self, saved: set[str], keep: int, pruned: set[str]) -> None:
        """Prune the hub's old shards in this thread (the newest request wins)."""
        with self._lock:
            self._prune = (set(saved), keep, pruned)

    def close(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s  # one bound for both threads, not one each
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._prune_if_asked()
            more = self.backlog < self.max_backlog and self._read_shards()
            if not more:
                self._stop.wait(self.poll_s)

    def _follow_state(self) -> None:
        while True:
            try:
                self.state = self.experiment.read_state()
            except HubError as exc:
                self.trouble = str(exc)
                log.warning("could not read the live controls (%s); keeping the current ones", exc)
            if self._stop.wait(self.poll_s):
                return

    def _prune_if_asked(self) -> None:
        with self._lock:
            request, self._prune = self._prune, None
        if request is None:
            return
        try:
            prune(self.experiment, *request)
        except HubError as exc:
            log.warning("pruning failed (%s); will try again", exc)

    def _read_shards(self) -> bool:
        """One round of new shards; True when there may be more right away."""
        fetched, trouble = self.ingestor.fetch(SHARDS_PER_ROUND, keep_examples=self.max_backlog)
        with self._lock:
            self._ready += fetched
        self.trouble = trouble
        if trouble:
            log.warning("reading shards interrupted by the hub (%s); will retry", trouble)
        read = sum(1 for item in fetched if not item.surplus)
        return read == SHARDS_PER_ROUND and not trouble
