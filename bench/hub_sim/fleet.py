"""Simulated workers of the hub-scale bench: real spools and hub links, play simulated by the
batch.
"""

from __future__ import annotations

import math
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from hub_sim.accounting import BenchExperiment
from hub_sim.clock import SimCancelled, SimEvent
from hub_sim.common import EXP, PLAY, RETRY_WAIT_S, log
from infra.experiment import WeightsSnapshot
from infra.hub.base import HubError
from infra.worker.hub_link import MIN_WAIT_S, HubLink
from infra.worker.spool import Spool
from zeb_core.data.examples import bytes_per_example
from zeb_core.data.shards import SELFPLAY, ShardMeta, shard_name

if TYPE_CHECKING:
    from hub_sim.mode import ModeRun

# -- the fleet -------------------------------------------------------------------------------------


class SimWorker:
    """One worker: its hub link in a thread of its own (HubLink's schedule, on simulated time), its
    play loop as timers (batches of `games_per_batch` games, spooled as Worker._play does)."""

    def __init__(self, run: ModeRun, index: int, start_at: float) -> None:
        self.run, self.sim, self.ledger = run, run.sim, run.ledger
        self.worker_id = f"selfplay-w{index:03d}"
        self.start_at = start_at
        self.experiment = BenchExperiment(run.make_hub(f"w{index:03d}"), run.ledger)
        self.spool = Spool(run.spool_root / self.worker_id)
        self.wake = SimEvent(self.sim)
        self.link: HubLink | None = None
        self.snapshot: WeightsSnapshot | None = None
        self.batch_s = PLAY.games_per_batch / run.args.games_per_s
        self.batch_examples = PLAY.games_per_batch * run.args.examples_per_game
        self.limit_examples = PLAY.upload_max_mb * 2**20 / bytes_per_example()
        self.t0 = 0.0  # when play began
        self.batches = 0  # batches played and counted
        self.pending_games = 0
        self.last_spool = 0.0  # of the play loop's timed spool (Worker._play's `last_spool`)
        self.due_gen = 0
        self.seq = 0
        self.playing = False
        self.stopping = False
        self.done = False
        self.thread = threading.Thread(target=self._main, name=self.worker_id, daemon=True)

    # -- the hub link thread -----------------------------------------------------------------------

    def start(self) -> None:
        self.sim.add_actor(self.thread)
        self.thread.start()

    def _main(self) -> None:
        try:
            self.sim.wait(self.start_at)
            fingerprint = self._start_up()
            self.link = HubLink(
                self.experiment,
                self.spool,
                SELFPLAY,
                PLAY.upload_interval_s,
                self.run.args.weights_check_s,
                RETRY_WAIT_S,
                fingerprint=fingerprint,
            )
            if not self.stopping:
                self.sim.call_at(self.sim.now, self._begin_play)
            self._link_loop()
            self._drain()
        except SimCancelled:
            pass  # the run is over
        except Exception as exc:  # noqa: BLE001 - reported by Sim.run_to
            log.exception("%s failed", self.worker_id)
            self.sim.errors.append(f"{self.worker_id}: {type(exc).__name__}: {exc}")
        finally:
            self.done = True
            self.sim.actor_gone(self.thread)

    def _start_up(self) -> str | None:
        """Worker._start and WeightsFollower.pull_current: wait out the hub until weights are in."""
        while not self.stopping:
            try:
                found = self.experiment.weights_fingerprint()
                if found is None:
                    raise RuntimeError(f"{EXP} has no weights on the hub")
                self.snapshot = self.experiment.pull_weights(found.head)
                return found.tag
            except HubError:
                self.run.counts["worker_start_retries"] += 1
                self.sim.wait(RETRY_WAIT_S * (0.5 + self.run.rng.random()))
        return None

    def _link_loop(self) -> None:
        """HubLink's upload and weights threads, on simulated time, in one actor: requests take
        no simulated time, so a look is late only while an upload waits out a retry."""
        link, sim = self.link, self.sim
        next_upload = sim.now + PLAY.upload_interval_s
        last_check = sim.now
        while not self.stopping:
            next_look = last_check + self.run.args.weights_check_s
            sim.wait(max(min(next_upload, next_look) - sim.now, MIN_WAIT_S), self.wake)
            asked = self.wake.is_set()
            self.wake.clear()
            if self.stopping:
                break
            if asked or sim.now >= next_upload:
                uploaded = link.upload()
                next_upload = sim.now + (PLAY.upload_interval_s if uploaded else RETRY_WAIT_S)
            if sim.now >= next_look:
                last_check = sim.now
                before = link.fingerprint
                link.check_weights()
                if link.fingerprint != before:  # parked: the play loop takes them next batch
                    boundary = self._boundary(self._batch_index(sim.now) + 1)
                    sim.call_at(boundary, self._take_weights)

    def _drain(self) -> None:
        """After the stop: HubLink.close's last upload, then more tries until the drain ends."""
        while self.link is not None:
            if self.link.upload() and not self.spool.pending():
                return
            if self.sim.now >= self.run.drain_until:
                return
            self.sim.wait(RETRY_WAIT_S)

    # -- the play loop (timers on the ticker thread) -----------------------------------------------

    def _begin_play(self) -> None:
        if self.stopping:
            return
        self.playing = True
        self.t0 = self.last_spool = self.sim.now
        self._schedule_due()

    def _batch_index(self, t: float) -> int:
        return int(math.floor((t - self.t0) / self.batch_s + 1e-9))

    def _boundary(self, n: int) -> float:
        return self.t0 + n * self.batch_s

    def _play_to(self, t: float) -> None:
        n = self._batch_index(t)
        if n > self.batches:
            self.pending_games += (n - self.batches) * PLAY.games_per_batch
            self.batches = n

    def _due(self, t: float) -> bool:
        waiting = self.pending_games * self.run.args.examples_per_game
        return t - self.last_spool >= PLAY.upload_interval_s or waiting >= self.limit_examples

    def _schedule_due(self) -> None:
        """A timer at the first batch end where Worker._spool_due would hold."""
        waiting = self.pending_games * self.run.args.examples_per_game
        by_size = self.batches + max(
            math.ceil((self.limit_examples - waiting) / self.batch_examples), 1
        )
        by_time = max(
            math.ceil((self.last_spool + PLAY.upload_interval_s - self.t0) / self.batch_s - 1e-9),
            self.batches + 1,
        )
        self.due_gen += 1
        gen = self.due_gen
        self.sim.call_at(self._boundary(min(by_size, by_time)), lambda: self._on_due(gen))

    def _on_due(self, gen: int) -> None:
        if gen != self.due_gen or not self.playing:
            return
        self._play_to(self.sim.now)
        if self._due(self.sim.now):
            self._spool(self.snapshot)
            self.last_spool = self.sim.now
            self.wake.set()  # HubLink.upload_soon
        self._schedule_due()

    def _take_weights(self) -> None:
        """Worker._take_new_weights: the older model's games make their own shard."""
        if not self.playing or self.link is None:
            return
        self._play_to(self.sim.now)
        snapshot = self.link.take_weights()
        if snapshot is None:
            return
        before, self.snapshot = self.snapshot, snapshot
        if self.pending_games:
            self._spool(before)
            self.wake.set()
        self._schedule_due()

    def stop_playing(self) -> None:
        """The end of the simulated hours: completed batches go to the spool, the link's last
        upload follows (Worker.run's _spool_pending and _close_link)."""
        if self.playing:
            self._play_to(self.sim.now)
            self._spool(self.snapshot)
        self.playing = False
        self.stopping = True
        self.wake.set()

    def _spool(self, snapshot: WeightsSnapshot | None) -> None:
        if not self.pending_games or snapshot is None:
            return
        games = self.pending_games
        examples = round(games * self.run.args.examples_per_game)
        payload = max(1, round(examples / self.run.args.payload_scale))
        created = self.run.epoch + timedelta(seconds=self.sim.now)
        self.seq += 1
        name = shard_name(self.worker_id, created, self.seq)
        meta = ShardMeta(
            source=SELFPLAY,
            model_cycle=snapshot.state.cycle,
            model_step=snapshot.state.step,
            weights_revision=snapshot.revision,
            worker_id=self.worker_id,
            created_at=created,
            n_games=games,
            n_examples=payload,
            value_root_mix=PLAY.value_root_mix,
        )
        self.spool.put(name, self.run.payload(payload), meta)
        self.ledger.spooled(f"{EXP}/{SELFPLAY}/{name}", games, examples)
        self.pending_games = 0
