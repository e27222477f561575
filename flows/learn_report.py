"""What a learn run shows in Prefect while it lives: a log line per cycle, and every few cycles a
progress artifact (when the run has a cycle limit) and a small table of recent cycles; an event
per cycle, per weights publish (`zeb.weights.published`) and every LADDER_EVERY_PUBLISHES
publishes (`zeb.ladder.due`, which the ladder's deployment triggers on at threshold 1: Prefect's
reactive triggers fire at their threshold and then wait out their window, so counting publishes
in a trigger fired once a day). Never a task per cycle: a run that lasts days must not pile up
task states."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.events import emit_event

from flows.common import artifact_key

TABLE_ROWS = 20
RATE_WINDOW_S = 120.0  # games/s is measured over about this long
RATE_MIN_SPAN_S = 20.0  # and not before this long was seen (a cycle may ingest nothing)
CYCLE_EVENT = "zeb.learner.cycle"
PUBLISHED_EVENT = "zeb.weights.published"
LADDER_DUE_EVENT = "zeb.ladder.due"
LADDER_EVERY_PUBLISHES = 5


def experiment_resource(exp: str) -> dict[str, str]:
    return {"prefect.resource.id": f"zeb.experiment.{exp}", "prefect.resource.name": exp}


class CycleReporter:
    def __init__(
        self,
        exp: str,
        start_cycle: int,
        max_cycles: int | None,
        every: int,
        logger: Any,
        publish_every: int = 1,  # the learner's push_every: cycles between publishes
        emit: Callable[..., Any] = emit_event,
    ) -> None:
        self.emit = emit
        self.exp = exp
        self.start_cycle = start_cycle  # the experiment's cycle when this run's learner started
        self.max_cycles = max_cycles
        self.every = every
        self.logger = logger
        self.rows: deque[dict[str, Any]] = deque(maxlen=TABLE_ROWS)
        self.reported_cycle = start_cycle  # artifacts are up to date until this cycle
        self.last: dict[str, Any] = {}
        self.published_cycle: int | None = None
        self.ladder_cycles = LADDER_EVERY_PUBLISHES * publish_every  # cycles between ladder runs
        self.ladder_bucket = start_cycle // self.ladder_cycles
        self.progress_id = None
        self.games_rate = RateWindow(RATE_WINDOW_S, RATE_MIN_SPAN_S)

    @property
    def cycles(self) -> int:
        """Cycles this run's learner trained (a fast learner may finish several between looks
        at its status, so this counts cycle numbers, not reports)."""
        return max(self.last.get("cycle", self.start_cycle) - self.start_cycle, 0)

    def on_cycle(self, status: dict[str, Any]) -> None:
        if status.get("cycle") == self.last.get("cycle"):  # the same cycle, published since
            self.last = status
            self._maybe_published(status)
            return
        self.last = status
        row = self._row(status)
        self.rows.append(row)
        rate = row["games/s"]
        self.logger.info(
            "cycle %d: loss %s, eval mix %s, %s self-play examples, %s",
            row["cycle"],
            row["loss"],
            row["eval mix"],
            row["self-play examples"],
            "measuring games/s" if rate is None else f"{rate:.1f} games/s",
        )
        self.emit(CYCLE_EVENT, resource=experiment_resource(self.exp), payload=row)
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
        return self.games_rate.add(time.monotonic(), float(total))

    def _maybe_published(self, status: dict[str, Any]) -> None:
        cycle = status.get("published_cycle")
        if cycle is None or cycle == self.published_cycle:
            return
        self.published_cycle = cycle
        payload = {"cycle": cycle, "revision": status.get("published_revision")}
        self.emit(PUBLISHED_EVENT, resource=experiment_resource(self.exp), payload=payload)
        # by cycle numbers, not events seen: several publishes may land between two looks
        if cycle // self.ladder_cycles > self.ladder_bucket:
            self.ladder_bucket = cycle // self.ladder_cycles
            self.emit(LADDER_DUE_EVENT, resource=experiment_resource(self.exp), payload=payload)

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


class RateWindow:
    """A rate over the last `window_s` seconds of (time, total) samples: steady whether or not a
    given cycle ingested anything, and None until `min_span_s` seconds were seen."""

    def __init__(self, window_s: float, min_span_s: float) -> None:
        self.window_s, self.min_span_s = window_s, min_span_s
        self.samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, total: float) -> float | None:
        self.samples.append((now, total))
        while len(self.samples) > 2 and self.samples[1][0] <= now - self.window_s:
            self.samples.popleft()  # keep one sample at or before the window's start
        first_time, first_total = self.samples[0]
        span = now - first_time
        if span < self.min_span_s:
            return None
        return max(total - first_total, 0.0) / span
