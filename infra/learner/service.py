"""The learner: a resumable service that turns shards on the hub into published weights.

    start:  seed the namespace if it is new (the hub is authoritative afterwards); resume the
            weights, optimizer and AMP scaler (local training state if it is newer than the hub's)
            and the example intake (replay snapshot and ledger); open (or resume) the
            experiment's W&B run
    cycle:  read the live controls; ingest new shards and wait while the intake's gate is shut
            (min buffer, idle hub, replay ratio: see intake); train N steps; save the local
            training state; publish every K cycles; snapshot the replay buffer and prune every
            `local_replay_cache_save_every` cycles; log to W&B; evaluate every M cycles

Hub trouble is waited out (the hub client retries; what still fails is retried next round), so a
flaky hub slows the learner down but never kills it or loses a shard.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import torch

from infra.experiment import Experiment
from infra.experiment_state import Controls, ExperimentState
from infra.hub.base import Hub, HubAuthError, HubError, HubNotFoundError
from infra.learner.evaluation import evaluate_model
from infra.learner.intake import ExampleIntake
from infra.learner.local_state import LearnerLockError, LocalState
from infra.learner.options import LearnerOptions
from infra.learner.publisher import Publisher, Weights
from infra.learner.stopping import StopSignal
from infra.tracking import NullTracker, Tracker
from zeb_core.data.train import LossWeights, SourceWeights, TrainConfig, Trainer
from zeb_core.network.checkpoint import (
    Checkpoint,
    checkpoint_from_dict,
    checkpoint_from_model,
    resolve_device,
)
from zeb_core.network.model import ZebModel

log = logging.getLogger("zeb.learner")


class LearnerError(RuntimeError):
    """The learner cannot run (unknown experiment, bad checkpoint); one-line message."""


class Learner:
    def __init__(
        self,
        hub: Hub,
        options: LearnerOptions,
        tracker_factory=None,
        parent_pid: int | None = None,  # a supervisor: stop (and save) when it is gone
    ) -> None:
        self.options = options.on_device(resolve_device(options.device).type)
        self.parent_pid = parent_pid
        self.experiment = Experiment(hub, options.experiment)
        self.tracker_factory = tracker_factory or (lambda exp: NullTracker())
        self.rng = np.random.default_rng(options.seed)
        self.stop = StopSignal()
        self.last_status: dict[str, object] = {}  # what the last cycle wrote to status.json

    # -- start-up ----------------------------------------------------------------------------------

    def start(self) -> None:
        state = self._retry(self._seed_or_check)
        self.lineage = state.created_at.isoformat()
        self.local = LocalState(self.options.cache_folder(), self.lineage)
        try:
            self.local.lock()
        except LearnerLockError as exc:
            raise LearnerError(str(exc)) from None
        self.state = state
        self.model, self.trainer = self._resume_model(state)
        self.intake = ExampleIntake.resume(
            self.experiment, self.options, self.local, self.state, self.counted_until
        )
        self.state = self.state.model_copy(update={"total_games": self.intake.total_games})
        self.publisher = Publisher(self.experiment, retry_wait_s=self.options.poll_interval_s)
        self.tracker: Tracker = self.tracker_factory(self.experiment)
        replay = self.intake.replay
        log.info(
            "learner ready: %s at cycle %d, step %d; replay %d self-play / %d eval-aux",
            self.experiment.name,
            self.state.cycle,
            self.state.step,
            len(replay.selfplay),
            len(replay.eval_aux),
        )

    def _seed_or_check(self) -> ExperimentState:
        if self.options.checkpoint is not None:
            if not self.options.checkpoint.is_file():
                raise LearnerError(f"{self.options.checkpoint}: no such checkpoint file")
            self.experiment.seed(self.options.checkpoint)  # logs when it ignores the file
        elif not self.experiment.exists():
            raise LearnerError(
                f"experiment {self.experiment.name} not found on "
                f"{self.experiment.hub.description}: pass --checkpoint to create it"
            )
        overrides = self.options.control_overrides()
        if overrides:
            return self.experiment.update_controls(by="learner flags", **overrides)
        return self.experiment.read_state()

    def _resume_model(self, hub_state: ExperimentState) -> tuple[ZebModel, Trainer]:
        local = self.local.load_training()
        if local is not None and local["step"] >= hub_state.step:
            ckpt = checkpoint_from_dict(local["checkpoint"], str(self.local.training_path))
            self.state = hub_state.model_copy(
                update={k: local[k] for k in ("cycle", "step", "total_games")}
            )
            source = "local training state"
            self.counted_until = _aware(local.get("saved_at"))
        else:
            snapshot = self._retry(self.experiment.pull_weights)
            ckpt = checkpoint_from_dict(snapshot.load_checkpoint(), snapshot.checkpoint_path.name)
            self.state = snapshot.state
            source = f"hub weights (revision {snapshot.revision[:12]})"
            self.counted_until = snapshot.state.published_at
            local = None
        # Dropout is a training setting, not a property of the weights (checkpoints omit it).
        ckpt = replace(ckpt, config=replace(ckpt.config, dropout=self.options.dropout))
        model = ckpt.build_model(self.options.device)
        selfplay_weights = LossWeights(belief=self.options.belief_weight)
        config = TrainConfig(
            lr=self.options.lr,
            amp=self.options.amp,
            belief_soft_mix=self.options.belief_soft_mix,
            belief_lr_scale=self.options.belief_lr_scale,
            loss_weights=SourceWeights(selfplay=selfplay_weights),
        )
        trainer = Trainer(model, config, self.options.device)
        if local is not None:
            try:
                trainer.load_state_dict(local["trainer"])
                log.info("resumed from %s: optimizer and scaler continue warm", source)
                return model, trainer
            except ValueError as exc:  # another zeb's or another head's: the moments cannot fit
                log.warning("the saved optimizer state does not fit (%s)", exc)
        log.info("resumed from %s: optimizer starts cold", source)
        return model, trainer

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self.start()
        except BaseException:
            if hasattr(self, "local"):
                self.local.unlock()
            raise
        self.stop.install_handlers()
        self.stop.watch_parent(self.parent_pid)
        self._ingest()  # what the hub holds now feeds the first cycle
        self.intake.start_fetching()  # from here on, training never waits for a hub read
        cycles_run = 0
        started = time.monotonic()
        try:
            while not self.stop.requested:
                if self.options.max_cycles is not None and cycles_run >= self.options.max_cycles:
                    break
                if self._out_of_time(started):
                    log.info("stopping: max_minutes=%s reached", self.options.max_minutes)
                    break
                if self._ready_to_train():
                    self._anneal_lr(started, cycles_run)
                    self._train_cycle()
                    cycles_run += 1
                else:
                    self.stop.sleep(self.options.poll_interval_s)
        finally:
            self._shutdown()

    def _ready_to_train(self) -> bool:
        self._apply_controls()
        self._ingest()
        return self.intake.ready()

    def _apply_controls(self) -> None:
        hub_state = self._live_state()
        if hub_state is None:
            return
        controls = hub_state.controls
        self.state = self.state.model_copy(
            update={"controls": controls, "wandb_run_id": hub_state.wandb_run_id}
        )
        self.intake.apply_controls(controls)
        self.trainer.loss_weights = SourceWeights(
            selfplay=self.trainer.config.loss_weights.selfplay,
            eval_aux=LossWeights(
                policy=controls.eval_aux_policy_weight,
                value=controls.eval_aux_value_weight,
                belief=controls.eval_aux_belief_weight,
            ),
        )

    def _live_state(self) -> ExperimentState | None:
        """The newest state: what the fetcher read last, or (before it runs) the hub's now."""
        if self.intake.fetcher is not None:
            return self.intake.fetcher.state
        try:
            return self.experiment.read_state()
        except HubError as exc:
            log.warning("could not read the live controls (%s); keeping the current ones", exc)
            return None

    def _ingest(self) -> None:
        if self.intake.ingest(self.state.cycle, self.rng):
            self.state = self.state.model_copy(update={"total_games": self.intake.total_games})

    def _train_cycle(self) -> None:
        controls = self.state.controls
        fraction = controls.eval_aux_batch_fraction if controls.eval_aux_enabled else 0.0
        sums: dict[str, float] = defaultdict(float)
        eval_rows = 0
        started = time.perf_counter()
        for _ in range(self.options.training_steps_per_cycle):
            batch = self.intake.replay.sample(self.options.batch, fraction, self.rng)
            eval_rows += int(batch.is_eval_aux.sum())
            for key, value in self.trainer.step(batch).items():
                sums[key] += value
            if self.stop.requested:
                return  # an interrupted cycle is not counted; the saved state is the last cycle's
        seconds = time.perf_counter() - started
        steps = self.options.training_steps_per_cycle
        self.intake.trained(steps * self.options.batch, seconds)
        self.state = self.state.model_copy(
            update={"cycle": self.state.cycle + 1, "step": self.state.step + steps}
        )
        self._save_training()
        cycle = self.state.cycle
        if cycle % self.options.push_every == 0:
            self._publish()
        if cycle % self.options.local_replay_cache_save_every == 0:
            self.intake.save_snapshot_and_prune(cycle)
        metrics = {k: v / steps for k, v in sums.items()}
        metrics |= self._cycle_metrics(steps / seconds, eval_rows / (steps * self.options.batch))
        if self.options.eval_every and cycle % self.options.eval_every == 0:
            metrics |= evaluate_model(
                self.model, self.options.eval_games, self.options.eval_heuristic_games
            )
        metrics |= _control_metrics(controls)
        self.tracker.log(metrics, step=cycle)
        self.last_status = {
            "cycle": cycle,
            "step": self.state.step,
            "updated_at": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
            **self.publisher.published,
            **metrics,
            **self.intake.status(),
        }
        self.local.write_status(self.last_status)
        log.info(
            "cycle %d: %d steps in %.1fs (%.1f steps/s), loss %.4f, mix %.3f, lr %.3g",
            cycle,
            steps,
            seconds,
            steps / seconds,
            metrics.get("loss/total", float("nan")),
            metrics["train/eval_aux_fraction"],
            self.trainer.lr,
        )

    def _cycle_metrics(self, steps_per_s: float, mix: float) -> dict[str, float]:
        out = {
            "train/steps_per_s": steps_per_s,
            "train/lr": self.trainer.lr,
            "train/replay_ratio": self.intake.replay_ratio(),
            "train/eval_aux_fraction": mix,
            "train/step": float(self.state.step),
            "games/total": float(self.state.total_games),
        }
        return out | self.intake.metrics()

    # -- persistence -------------------------------------------------------------------------------

    def _checkpoint(self) -> Checkpoint:
        return checkpoint_from_model(
            self.model, epoch=self.state.cycle, total_games=self.state.total_games
        )

    def _save_training(self) -> None:
        self.local.save_training(
            {
                "checkpoint": self._checkpoint().to_dict(),
                "trainer": self.trainer.state_dict(),
                "cycle": self.state.cycle,
                "step": self.state.step,
                "total_games": self.state.total_games,
                "saved_at": datetime.now(UTC).isoformat(),  # when that total was taken
            }
        )

    def _publish(self) -> None:
        """Offer this cycle's weights to the publisher thread: training never waits for the
        hub's commit budget or an outage (publisher.py)."""
        buf = io.BytesIO()
        torch.save(self._checkpoint().to_dict(include_extra=False), buf)
        config = self.model.config.to_checkpoint_dict()
        throughput = self.intake.meter.snapshot()
        state = self.state.model_copy(
            update={"published_at": datetime.now(UTC), "throughput": throughput}
        )
        self.publisher.offer(Weights(buf.getvalue(), config, state))

    def _shutdown(self) -> None:
        """A clean stop (SIGTERM, Ctrl-C, max_cycles) saves everything; SIGKILL saves nothing,
        and a restart still loses no shard (see local_state)."""
        if hasattr(self, "intake"):
            self.intake.stop_fetching()
            self._ingest()  # what the fetcher read goes into the snapshot, not lost
        if hasattr(self, "publisher"):
            self.publisher.close()  # the newest weights go out before the learner exits
            if self.last_status:  # and the status says so
                self.local.write_status(self.last_status | self.publisher.published)
        if hasattr(self, "intake"):
            self.intake.save_snapshot_and_prune(self.state.cycle)
        if hasattr(self, "tracker"):
            self.tracker.finish()
        if hasattr(self, "local"):
            self.local.unlock()
        log.info("learner stopped at cycle %d", self.state.cycle)

    # -- helpers -----------------------------------------------------------------------------------

    def _anneal_lr(self, started: float, cycles_run: int) -> None:
        """The lr for the next cycle, from the share of this run done (by minutes or cycles,
        whichever is further along)."""
        anneal = self.options.lr_anneal()
        if anneal is None:
            return
        shares = [0.0]
        if self.options.max_minutes is not None:
            shares.append((time.monotonic() - started) / (60 * self.options.max_minutes))
        if self.options.max_cycles is not None:
            shares.append(cycles_run / self.options.max_cycles)
        self.trainer.set_lr_scale(anneal.scale(max(shares)))

    def _out_of_time(self, started: float) -> bool:
        limit = self.options.max_minutes
        return limit is not None and time.monotonic() - started >= 60 * limit

    def _retry(self, fn):
        """Run `fn` until the hub answers; fail at once on what waiting cannot fix."""
        while True:
            try:
                return fn()
            except (HubAuthError, HubNotFoundError) as exc:
                raise LearnerError(str(exc)) from None
            except HubError as exc:
                log.warning(
                    "hub unavailable (%s); retrying in %.0fs", exc, self.options.poll_interval_s
                )
                time.sleep(self.options.poll_interval_s)


def _control_metrics(controls: Controls) -> dict[str, float]:
    """The live controls a cycle trained with, so W&B shows when a rollback took effect."""
    return {
        "controls/eval_aux_enabled": float(controls.eval_aux_enabled),
        "controls/eval_aux_batch_fraction": controls.eval_aux_batch_fraction,
        "controls/eval_aux_policy_weight": controls.eval_aux_policy_weight,
    }


def _aware(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None
