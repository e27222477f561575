"""The simulated learner of the hub-scale bench: the real Fetcher, Ingestor and Publisher, training
simulated.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

from hub_sim.accounting import BenchExperiment, WatchedHub
from hub_sim.clock import SimEvent
from hub_sim.common import LEARN
from infra.learner.fetcher import Fetcher
from infra.learner.ingest import Ingestor
from infra.learner.publisher import Publisher, Weights
from zeb_core.data.replay import IngestResult
from zeb_core.data.shards import SELFPLAY

if TYPE_CHECKING:
    from hub_sim.mode import ModeRun

# -- the learner -----------------------------------------------------------------------------------


class CountingReplay:
    """The replay buffer's `ingest`, counting only (the learner's training is simulated)."""

    def __init__(self) -> None:
        self.shards = 0

    def ingest(self, shard, learner_cycle, rng) -> IngestResult:
        self.shards += 1
        return IngestResult(SELFPLAY, 0, len(shard.examples), 0, 0)


class SimLearner:
    """The real Fetcher (reading shards and the state beside training, and pruning) and Publisher
    (publishing beside training); the training thread is a timer every `--cycle-s`."""

    def __init__(self, run: ModeRun) -> None:
        self.run, self.sim, self.ledger = run, run.sim, run.ledger
        self.hub = WatchedHub(run.make_hub("learner"), run.sim)
        self.experiment = BenchExperiment(self.hub, run.ledger, self._published)
        self.state = run.seed_state
        self.cycle = 0
        self.real_examples = 0  # handed over, real counts
        self.consumed = 0  # samples trained within the simulated hours
        self.cycles_in_hours = 0
        self.starved_s = 0.0  # simulated seconds the gate was shut for lack of examples
        self.handoff_real_s = 0.0  # real seconds the training thread spent in take/apply/offer
        self.offered: dict[int, float] = {}  # cycle -> when offered, until published
        self.publish_waits: list[float] = []
        self.published = 0
        self.pruned: set[str] = set()
        self.replay = CountingReplay()
        self.rng = np.random.default_rng(0)
        self.ingestor = Ingestor(self.experiment, set(), {})
        self.batch = run.args.learner_batch  # examples a step (hub_scale resolves the default)
        backlog = max(LEARN.replay_buffer_size // 2, LEARN.min_buffer) / run.args.payload_scale
        self.fetcher = Fetcher(
            self.experiment,
            self.ingestor,
            LEARN.poll_interval_s / self.sim.speedup,
            max(1, math.ceil(backlog)),
        )
        self.fetcher._stop = SimEvent(self.sim)  # its poll wait on simulated time
        self.publisher = Publisher(
            self.experiment, retry_wait_s=LEARN.poll_interval_s / self.sim.speedup
        )
        thread = self.publisher._thread
        self.sim.busy_checks.append(
            lambda: (
                self.publisher.waiting is not None
                and thread.is_alive()
                and thread not in self.sim.sleeping
            )
        )
        self.training = False
        self.stopped = False

    def start(self) -> None:
        for thread in self.fetcher._threads:  # shards and pruning; the live controls
            self.sim.add_actor(thread)
        self.fetcher.start()
        self.sim.call_at(self.sim.now, self._step)

    def _published(self, cycle: int) -> None:  # in the publisher thread, after the commit
        now = self.sim.now
        with self.ledger.lock:
            for offered in sorted(c for c in self.offered if c <= cycle):
                self.publish_waits.append(now - self.offered.pop(offered))
            self.published += 1

    def _step(self) -> None:
        """The training thread: finish the cycle in progress (publish, prune), then ingest what
        the fetcher read and train the next cycle if the gate is open."""
        if self.stopped:
            return
        started = time.perf_counter()
        now = self.sim.now
        if self.training:
            self.training = False
            self.cycle += 1
            if now <= self.run.hours_s:
                self.consumed += LEARN.training_steps_per_cycle * self.batch
                self.cycles_in_hours += 1
            self.state = self.state.model_copy(
                update={
                    "cycle": self.cycle,
                    "step": self.cycle * LEARN.training_steps_per_cycle,
                    "published_at": self.run.epoch + timedelta(seconds=now),
                }
            )
            if self.cycle % LEARN.push_every == 0:
                with self.ledger.lock:
                    self.offered[self.cycle] = now
                self.publisher.offer(Weights(self.run.checkpoint(), {"bench": True}, self.state))
            if self.cycle % LEARN.local_replay_cache_save_every == 0:
                saved = set(self.ingestor.ingested) | set(self.ingestor.rejected)
                self.fetcher.prune_later(saved, LEARN.keep_example_files, self.pruned)
        self._hand_over(self.fetcher.take())
        self.ledger.note_fetcher(self.ingestor.fetched)
        self.handoff_real_s += time.perf_counter() - started
        if self.real_examples >= LEARN.min_buffer:
            self.training = True
            self.sim.call_at(now + self.run.args.cycle_s, self._step)
        else:
            if self.cycle:
                self.starved_s += LEARN.poll_interval_s
            self.sim.call_at(now + LEARN.poll_interval_s, self._step)

    def take_last(self) -> None:
        """A clean stop takes what the fetcher read (Learner._shutdown)."""
        self.stopped = True
        self._hand_over(self.fetcher.take())

    def _hand_over(self, fetched: list) -> None:
        """Ingestor.apply of what the fetcher read, and the ledger's account of it."""
        self.ingestor.apply(fetched, self.replay, self.cycle, self.rng)
        paths = [item.path for item in fetched if not item.surplus]
        self.ledger.handed_over(paths)
        self.ledger.handed_over([item.path for item in fetched if item.surplus], surplus=True)
        with self.ledger.lock:
            self.real_examples += sum(
                self.ledger.shards[p].examples for p in paths if p in self.ledger.shards
            )

    def close(self) -> None:
        """After Sim.cancel: both threads end at their next wait."""
        self.stopped = True
        self.fetcher.close(timeout_s=30)
        self.publisher.close(timeout_s=0.0)
