"""What a learn run shows in Prefect while it lives: a log line per cycle, and every few cycles a
progress artifact (when the run has a cycle limit) and a small table of recent cycles; an event
per cycle and per weights publish (`zeb.weights.published`, which the ladder's deployment
triggers on). Never a task per cycle: a run that lasts days must not pile up task states."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.events import emit_event

from flows.common import artifact_key

TABLE_ROWS = 20
CYCLE_EVENT = "zeb.learner.cycle"
PUBLISHED_EVENT = "zeb.weights.published"


def experiment_resource(exp: str) -> dict[str, str]:
    return {"prefect.resource.id": f"zeb.experiment.{exp}", "prefect.resource.name": exp}


class CycleReporter:
    def __init__(
        self, exp: str, start_cycle: int, max_cycles: int | None, every: int, logger: Any
    ) -> None:
        self.exp = exp
        self.start_cycle = start_cycle  # the experiment's cycle when this run's learner started
        self.max_cycles = max_cycles
        self.every = every
        self.logger = logger
        self.rows: deque[dict[str, Any]] = deque(maxlen=TABLE_ROWS)
        self.reported_cycle = start_cycle  # artifacts are up to date until this cycle
        self.last: dict[str, Any] = {}
        self.published_cycle: int | None = None
        self.progress_id = None
        self._games_at: tuple[float, float] | None = None  # (time, total games)

    @property
    def cycles(self) -> int:
        """Cycles this run's learner trained (a fast learner may finish several between looks
        at its status, so this counts cycle numbers, not reports)."""
        return max(self.last.get("cycle", self.start_cycle) - self.start_cycle, 0)

    def on_cycle(self, status: dict[str, Any]) -> None:
        self.last = status
        row = self._row(status)
        self.rows.append(row)
        self.logger.info(
            "cycle %d: loss %s, eval mix %s, %s self-play examples, %s games/s",
            row["cycle"],
            row["loss"],
            row["eval mix"],
            row["self-play examples"],
            row["games/s"],
        )
        emit_event(CYCLE_EVENT, resource=experiment_resource(self.exp), payload=row)
        self._maybe_published(status)
        if status["cycle"] - self.reported_cycle >= self.every:
            self._artifacts()

    def finish(self) -> None:
        if self.cycles:
            self._artifacts()

    def summary(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "first_cycle": self.start_cycle + 1,
            "last_cycle": self.last.get("cycle"),
            "loss": self.last.get("loss/total"),
            "eval_mix": self.last.get("train/eval_aux_fraction"),
            "published_cycle": self.published_cycle,
        }

    def _row(self, status: dict[str, Any]) -> dict[str, Any]:
        return {
            "cycle": status["cycle"],
            "loss": _round(status.get("loss/total")),
            "policy": _round(status.get("loss/selfplay/policy")),
            "value": _round(status.get("loss/selfplay/value")),
            "belief": _round(status.get("loss/selfplay/belief")),
            "eval mix": _round(status.get("train/eval_aux_fraction")),
            "self-play examples": status.get("replay_selfplay"),
            "eval-aux examples": status.get("replay_eval_aux"),
            "games/s": _round(self._games_per_s(status.get("games/total"))),
        }

    def _games_per_s(self, total: float | None) -> float | None:
        if total is None:
            return None
        now, before = time.monotonic(), self._games_at
        self._games_at = (now, total)
        if before is None or now <= before[0]:
            return None
        return (total - before[1]) / (now - before[0])

    def _maybe_published(self, status: dict[str, Any]) -> None:
        cycle = status.get("published_cycle")
        if cycle is None or cycle == self.published_cycle:
            return
        self.published_cycle = cycle
        payload = {"cycle": cycle, "revision": status.get("published_revision")}
        emit_event(PUBLISHED_EVENT, resource=experiment_resource(self.exp), payload=payload)

    def _artifacts(self) -> None:
        self.reported_cycle = self.last.get("cycle", self.reported_cycle)
        create_table_artifact(
            list(self.rows),
            key=artifact_key(self.exp, "learner-cycles"),
            description=f"{self.exp}: the last {len(self.rows)} learner cycles",
        )
        if self.max_cycles is None:
            return
        progress = min(100.0, 100.0 * self.cycles / self.max_cycles)
        if self.progress_id is None:
            self.progress_id = create_progress_artifact(
                progress,
                key=artifact_key(self.exp, "learner-progress"),
                description=f"{self.exp}: cycles of this run out of {self.max_cycles}",
            )
        else:
            update_progress_artifact(self.progress_id, progress)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
