"""The worker loop shared by self-play and eval-aux workers.

    play a batch of games with the current weights
    take new weights when the hub link found some (it looks every `weights_check_s`)
    every upload interval, or once `upload_max_mb` of examples wait, or when the weights change:
    one shard into the spool, uploaded by the hub link (one commit for the whole spool)

A shard holds the examples of one model snapshot only, so its `model_cycle`, `model_step` and
`weights_revision` describe every example in it. Hub trouble never stops play: the hub link
(`hub_link.py`) talks to the hub beside the play loop, so a 429 storm or an outage only makes the
spool grow (the heartbeat says how much, and why), and batches keep coming for the health pass.

Stopping loses no game: SIGTERM or Ctrl-C interrupts the batch at the next network call (games
still in progress were not played to the end and are dropped), the games completed so far are
written to the spool, and one upload is tried. A worker killed before the upload leaves them in the
spool, and the next worker with the same id uploads them first. A heartbeat (`heartbeat.py`) beside
the spool and in the log tells fleets what the worker is doing.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from infra.experiment import Experiment, WeightsSnapshot
from infra.hub.base import Hub, HubAuthError, HubError, HubNotFoundError
from infra.worker.heartbeat import Heartbeat, write_heartbeat
from infra.worker.hub_link import HubLink
from infra.worker.options import WorkerOptions
from infra.worker.spool import Spool
from infra.worker.stopping import InterruptibleEvaluator, StopFlag, StopRequested
from zeb_core.data.examples import Examples, bytes_per_example
from zeb_core.data.shards import ShardMeta, shard_name
from zeb_core.network.checkpoint import checkpoint_from_dict
from zeb_core.network.evaluator import ModelEvaluator

log = logging.getLogger("zeb.worker")


class WorkerError(RuntimeError):
    """A worker cannot run (unknown experiment, bad settings); one-line message."""


@dataclass
class Produced:
    """What one batch of games gave."""

    examples: Examples
    n_games: int
    eq_wins: int | None = None  # eval-aux: games the E[Q] player won
    eq_margin_sum: float | None = None  # eval-aux: sum of its point margins


class Producer(Protocol):
    source: str  # shard source family
    value_root_mix: float  # the share of the search's root value in the value targets

    def produce(self, evaluator: ModelEvaluator, rng: np.random.Generator) -> Produced: ...


class WeightsFollower:
    """Holds the newest weights the hub has published, and the model built from them."""

    def __init__(self, experiment: Experiment, device: str) -> None:
        self.experiment = experiment
        self.device = device
        self.snapshot: WeightsSnapshot | None = None
        self.evaluator: ModelEvaluator | None = None
        self.fingerprint: str | None = None  # of the weights in use, as the hub gave it

    def pull_current(self) -> None:
        """Pull the hub's current weights and play with them (at start-up; later weights come
        through the hub link)."""
        # The cheapest look (one resolver request on Hugging Face), then a pull at the head it
        # named: a fleet of 200 starting at once spends no Hub API call on it.
        found = self.experiment.weights_fingerprint()  # before the pull: never too new
        if found is None:
            raise WorkerError(
                f"experiment {self.experiment.name} not found on "
                f"{self.experiment.hub.description} (no weights): create it first"
            )
        self.adopt(self.experiment.pull_weights(found.head))
        self.fingerprint = found.tag

    def adopt(self, snapshot: WeightsSnapshot) -> None:
        """Play with these weights from now on."""
        ckpt = checkpoint_from_dict(snapshot.load_checkpoint(), snapshot.checkpoint_path.name)
        self.evaluator = ModelEvaluator(ckpt.build_model(), self.device)
        self.snapshot = snapshot
        log.info(
            "weights: cycle %d, step %d (revision %s)",
            snapshot.state.cycle,
            snapshot.state.step,
            snapshot.revision[:12],
        )


class Worker:
    def __init__(self, hub: Hub, options: WorkerOptions, producer: Producer) -> None:
        self.options = options
        self.producer = producer
        self.experiment = Experiment(hub, options.experiment)
        spool_dir = options.spool_dir or Path(".zeb/spool")
        self.spool = Spool(spool_dir / options.experiment / options.worker_id)
        self.follower = WeightsFollower(self.experiment, options.play.device)
        self.stop = StopFlag()
        self.pending: list[Produced] = []
        self.link: HubLink | None = None  # started once the first weights are in
        check_s = options.play.weights_check_s
        if check_s is None:
            check_s = self.experiment.hub.weights_poll_s(options.play.fleet_size)
        self.weights_check_s = check_s
        self.seq = self.spool.last_seq()  # a leftover of an earlier run keeps its name
        now = datetime.now(UTC)
        self.beat = Heartbeat(
            worker_id=options.worker_id,
            pid=os.getpid(),
            phase="starting",
            started_at=now,
            updated_at=now,
            device=options.play.device,
        )

    @property
    def batches(self) -> int:
        return self.beat.batches

    @property
    def games(self) -> int:
        return self.beat.games

    def run(self) -> None:
        """Play and upload until max_batches or a stop request; the played games always reach the
        spool, whatever ends the run."""
        self.stop.install()
        self._heartbeat(phase="starting")
        try:
            self._start()
            self._play()
        except BaseException as exc:
            self._spool_pending()
            self._close_link()
            self._heartbeat(phase="error", message=f"{type(exc).__name__}: {exc}"[:500])
            raise
        self._spool_pending()
        self._close_link()  # one last upload of the spool
        self._heartbeat(phase="stopped")
        if self.stop.signal is not None:
            log.info("stopped by signal %d after %d batches", self.stop.signal, self.batches)

    def _play(self) -> None:
        rng = np.random.default_rng(self.options.seed)
        last_spool = time.monotonic()
        while not self._done():
            self._take_new_weights()
            started = time.perf_counter()
            try:
                produced = self.producer.produce(self._evaluator(), rng)
            except StopRequested:
                break  # nothing of this batch was complete
            if produced.n_games:
                self.pending.append(produced)
                self._count(produced, time.perf_counter() - started)
            if self._spool_due(last_spool):
                self._spool_pending()
                self.link.upload_soon()
                last_spool = time.monotonic()

    def _spool_due(self, last_spool: float) -> bool:
        """The upload interval passed, or enough examples wait: by time or size, first wins."""
        play = self.options.play
        waiting = sum(len(p.examples) for p in self.pending) * bytes_per_example()
        return (
            time.monotonic() - last_spool >= play.upload_interval_s
            or waiting >= play.upload_max_mb * 2**20
        )

    def _take_new_weights(self) -> None:
        if self.weights_check_s == 0:
            self.link.check_weights()  # before every batch
        snapshot = self.link.take_weights()
        if snapshot is None:
            return
        before = self.follower.snapshot
        self.follower.adopt(snapshot)
        if self.pending:
            self._spool_pending(before)  # the older model's games make their own shard
            self.link.upload_soon()

    def _done(self) -> bool:
        limit = self.options.max_batches
        return self.stop.is_set() or (limit is not None and self.batches >= limit)

    def _evaluator(self) -> InterruptibleEvaluator:
        return InterruptibleEvaluator(self.follower.evaluator, self.stop)

    def _count(self, produced: Produced, seconds: float) -> None:
        rate = produced.n_games / max(seconds, 1e-9)
        log.info(
            "batch %d: %d games, %d examples in %.1fs (%.2f games/s)",
            self.batches + 1,
            produced.n_games,
            len(produced.examples),
            seconds,
            rate,
        )
        self._heartbeat(
            phase="playing",
            batches=self.batches + 1,
            games=self.games + produced.n_games,
            games_per_s=rate,
            last_batch_at=datetime.now(UTC),
        )

    def _heartbeat(self, **changes) -> None:
        if self.follower.snapshot is not None:
            changes.setdefault("model_cycle", self.follower.snapshot.state.cycle)
        if self.link is not None:
            changes.setdefault("message", self.link.trouble)
        spooled = self.spool.pending()
        changes |= {"spooled": len(spooled), "spooled_games": self.spool.games(spooled)}
        self.beat = self.beat.with_(**changes)
        write_heartbeat(self.spool.folder, self.beat)

    def _start(self) -> None:
        """Wait out hub outages; fail at once on what waiting cannot fix."""
        while not self.stop.is_set():
            try:
                self.follower.pull_current()
                break
            except (HubAuthError, HubNotFoundError) as exc:
                raise WorkerError(str(exc)) from None
            except HubError as exc:
                log.warning("hub unavailable at start-up (%s); retrying", exc)
                self._heartbeat(phase="waiting", message=str(exc)[:200])
                self.stop.wait(self.options.retry_wait_s * (0.5 + random.random()))
        self.link = HubLink(
            self.experiment,
            self.spool,
            self.producer.source,
            self.options.play.upload_interval_s,
            self.weights_check_s,
            self.options.retry_wait_s,
            fingerprint=self.follower.fingerprint,
        ).start()
        leftovers = self.spool.pending()
        if leftovers:
            log.info("uploading %d shard(s) left in the spool by an earlier run", len(leftovers))
            self.link.upload_soon()

    def _close_link(self) -> None:
        if self.link is not None:
            self.link.close()
        elif self.spool.pending() and self.follower.snapshot is not None:
            HubLink(self.experiment, self.spool, self.producer.source, 0, 0, 0, None).upload()

    def _spool_pending(self, snapshot: WeightsSnapshot | None = None) -> None:
        if not self.pending:
            return
        snapshot = snapshot or self.follower.snapshot
        examples = Examples.concat([p.examples for p in self.pending])
        n_games = sum(p.n_games for p in self.pending)
        eq = [p for p in self.pending if p.eq_wins is not None]
        now = datetime.now(UTC)
        meta = ShardMeta(
            source=self.producer.source,
            model_cycle=snapshot.state.cycle,
            model_step=snapshot.state.step,
            weights_revision=snapshot.revision,
            worker_id=self.options.worker_id,
            created_at=now,
            n_games=n_games,
            n_examples=len(examples),
            eq_win_rate=sum(p.eq_wins for p in eq) / n_games if eq else None,
            eq_margin=sum(p.eq_margin_sum for p in eq) / n_games if eq else None,
            value_root_mix=self.producer.value_root_mix,
        )
        self.seq += 1
        self.spool.put(shard_name(self.options.worker_id, now, self.seq), examples, meta)
        self.pending = []
