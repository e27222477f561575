"""The learner's intake of examples: shards from the hub into the replay buffer, and the gate on
training.

    resume:  the replay snapshot and its ledger from the local state; without one, every shard
             still on the hub is ingested again
    ingest:  every new shard, once; the ledger counts the self-play games behind them
    gate:    wait for `min_buffer` self-play examples; pause while no shard arrived for
             `max_example_age_s`; wait while a cycle would pass `max_replay_ratio`
    save:    snapshot the replay buffer with its ledger, then prune the hub's shards that the
             saved ledger holds

A hub failure mid-ingest keeps what was read before it; the rest is ingested next round.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import numpy as np

from infra.experiment import Experiment
from infra.experiment_state import Controls, ExperimentState
from infra.hub.base import HubError
from infra.learner.fetcher import Fetcher
from infra.learner.ingest import Fetched, Ingestor, IngestReport, prune
from infra.learner.local_state import Ledger, LocalState
from infra.learner.options import LearnerOptions
from infra.learner.throughput import ThroughputMeter
from zeb_core.data.replay import ReplayBuffer, ReplayConfig

log = logging.getLogger("zeb.learner")


class ExampleIntake:
    """The replay buffer, the ledger of the shards behind it, and what gates training on it."""

    def __init__(
        self,
        experiment: Experiment,
        options: LearnerOptions,
        local: LocalState,
        replay: ReplayBuffer,
        ledger: Ledger,
        ingestor: Ingestor,
    ) -> None:
        self.experiment = experiment
        self.options = options
        self.local = local
        self.replay = replay
        self.ledger = ledger  # the last saved (or a fresh) one; its total_games is kept current
        self.ingestor = ingestor
        self.saved_shards = set(ledger.ingested) | set(ledger.rejected)
        self.pruned: set[str] = set()  # shards this process deleted already
        # Replay ratio bookkeeping of this run (a restored buffer was trained on already).
        self.added_at_start = replay.selfplay.total_added
        self.samples_trained = 0
        self.meter = ThroughputMeter(options.useful_reuse)  # what fleets size themselves by
        self.last_ingest: IngestReport | None = None  # the latest look at the hub's shards
        self.newest_shard_at: datetime | None = None  # creation time of the newest shard seen
        self.fetcher: Fetcher | None = None  # reads the hub beside training once started
        self.leftover: list[Fetched] = []  # read by a stopped fetcher, not taken yet
        self.surplus_shards = 0  # set aside unread by this run: the fleet made more than enough

    @classmethod
    def resume(
        cls,
        experiment: Experiment,
        options: LearnerOptions,
        local: LocalState,
        state: ExperimentState,
        counted_until: datetime | None,  # when the weights' total_games was taken
    ) -> ExampleIntake:
        config = replay_config(options, state.controls)
        snap = local.load_snapshot(config, options.local_replay_cache_enabled)
        if snap is None:
            # No snapshot: every shard still on the hub is ingested again. The count goes on
            # from the weights' own total; shards made before that total was taken were most
            # likely counted in it already, so they train again but are not counted again.
            replay = ReplayBuffer(config)
            ledger = Ledger(lineage=local.lineage, total_games=state.total_games)
            ingestor = Ingestor(experiment, set(), {}, count_after=counted_until)
        else:
            replay, ledger = snap.replay, snap.ledger
            ingestor = Ingestor(experiment, snap.ingested, dict(snap.ledger.rejected))
            log.info("replay snapshot restored: %d shards already ingested", len(snap.ingested))
        return cls(experiment, options, local, replay, ledger, ingestor)

    @property
    def total_games(self) -> int:
        return self.ledger.total_games

    def apply_controls(self, controls: Controls) -> None:
        self.replay.config = replay_config(self.options, controls)

    # -- ingest ------------------------------------------------------------------------------------

    def start_fetching(self) -> None:
        """Read the hub beside training from now on (fetcher.py): `ingest` then takes what the
        fetcher read and never waits for the hub."""
        backlog = max(self.options.replay_buffer_size // 2, self.options.min_buffer)
        self.fetcher = Fetcher(
            self.experiment, self.ingestor, self.options.poll_interval_s, backlog
        ).start()

    def stop_fetching(self) -> None:
        """Stop reading the hub; what was read is still taken by the next `ingest`."""
        if self.fetcher is not None:
            self.fetcher.close()
            self.leftover = self.fetcher.take()
            self.fetcher = None

    def ingest(self, cycle: int, rng: np.random.Generator) -> int:
        """New shards into the replay buffer (what the fetcher read, or, without one, every new
        shard on the hub now); the self-play games they counted."""
        if self.fetcher is not None:
            report = self.ingestor.apply(self.fetcher.take(), self.replay, cycle, rng)
            report.interrupted = self.fetcher.trouble
        elif self.leftover:
            report = self.ingestor.apply(self.leftover, self.replay, cycle, rng)
            self.leftover = []
        else:
            report = self.ingestor.ingest(self.replay, cycle, rng)
        if report.interrupted:  # what was read before the hub failed still counts
            log.warning("ingest interrupted by the hub (%s); will retry", report.interrupted)
        self.last_ingest = report
        self.meter.ingested(report.shard_examples, report.shard_games)
        self.surplus_shards += report.surplus
        if report.shards or report.rejected or report.surplus:
            self.ledger.total_games += report.games  # the Learner's state mirrors this count
            log.info(
                "ingested %d shard(s) (%s), set aside %d, surplus %d",
                report.shards,
                ", ".join(f"{k}: {v}" for k, v in report.examples.items()) or "no examples",
                report.rejected,
                report.surplus,
            )
        if report.newest_created is not None:
            self.newest_shard_at = report.newest_created
        return report.games

    # -- the gate ----------------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the buffer may be trained on now; logs why not."""
        have, need = len(self.replay.selfplay), self.options.min_buffer
        if have < need:
            log.info("waiting for self-play examples: %d of %d", have, need)
            return False
        idle = time.monotonic() - self.ingestor.last_new_at
        if idle > self.options.max_example_age_s:
            log.info(
                "paused: no new shard for %.0fs (max_example_age_s=%.0f)",
                idle,
                self.options.max_example_age_s,
            )
            return False
        return self._replay_ratio_allows()

    def _replay_ratio_allows(self) -> bool:
        """At most `max_replay_ratio` samples trained per self-play example added in this run:
        a slow fleet makes the learner wait rather than overfit a small buffer."""
        limit = self.options.max_replay_ratio
        if limit is None:
            return True
        cycle_samples = self.options.training_steps_per_cycle * self.options.batch
        allowed = limit * self._examples_added()
        if self.samples_trained + cycle_samples <= allowed:
            return True
        log.info(
            "waiting for self-play examples: replay ratio %.1f of %.1f reached",
            self.replay_ratio(),
            limit,
        )
        return False

    def trained(self, samples: int, seconds: float) -> None:
        """Count the samples a finished cycle trained on, for the replay ratio and the meter."""
        self.samples_trained += samples
        self.meter.trained(samples, seconds)

    def replay_ratio(self) -> float:
        return self.samples_trained / max(self._examples_added(), 1)

    def _examples_added(self) -> int:
        return self.replay.selfplay.total_added - self.added_at_start

    # -- snapshot and prune ------------------------------------------------------------------------

    def save_snapshot_and_prune(self, cycle: int) -> None:
        ledger = self.ledger.model_copy(
            update={
                "ingested": sorted(self.ingestor.ingested),
                "rejected": dict(self.ingestor.rejected),
            }
        )
        if self.options.local_replay_cache_enabled:
            self.local.save_snapshot(ledger, self.replay, cycle)
            self.ledger = ledger
            self.saved_shards = set(ledger.ingested) | set(ledger.rejected)
        else:  # nothing survives a restart anyway: every ingested shard may go
            self.saved_shards = set(self.ingestor.ingested) | set(self.ingestor.rejected)
        keep = self.options.keep_example_files
        if self.fetcher is not None:  # hub I/O: beside training
            self.fetcher.prune_later(self.saved_shards, keep, self.pruned)
            return
        try:
            prune(self.experiment, self.saved_shards, keep, self.pruned)
        except HubError as exc:
            log.warning("pruning failed (%s); will try again", exc)

    # -- status and metrics ------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        return {
            "ingested": sorted(self.ingestor.ingested),
            "rejected": dict(self.ingestor.rejected),
            "replay_selfplay": len(self.replay.selfplay),
            "replay_eval_aux": len(self.replay.eval_aux),
            "selfplay_added": self.replay.selfplay.total_added,
        }

    def metrics(self) -> dict[str, float]:
        """The ingest metrics and the replay buffer's stats of a cycle."""
        out = {
            "ingest/shards_total": float(len(self.ingestor.ingested)),
            "ingest/rejected_total": float(len(self.ingestor.rejected)),
            "ingest/surplus_total": float(self.surplus_shards),
            "ingest/idle_s": time.monotonic() - self.ingestor.last_new_at,
        }
        if self.newest_shard_at is not None:
            age = datetime.now(UTC) - self.newest_shard_at
            out["ingest/newest_shard_age_s"] = age.total_seconds()
        if self.last_ingest is not None and self.last_ingest.selfplay_lag:
            out["ingest/selfplay_lag_mean"] = float(np.mean(self.last_ingest.selfplay_lag))
        return out | self.replay.stats()


def replay_config(options: LearnerOptions, controls: Controls) -> ReplayConfig:
    return ReplayConfig(
        selfplay_capacity=options.replay_buffer_size,
        eval_aux_capacity=options.eval_aux_replay_buffer_size,
        max_lag=controls.eval_aux_max_model_lag,
        lag_half_life=controls.eval_aux_lag_half_life,
        min_keep=controls.eval_aux_min_keep_weight,
    )
