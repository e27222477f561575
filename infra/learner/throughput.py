"""The learner's consumption and intake over a recent window, for fleet sizing.

Training capacity is counted per second *spent training* (a learner that waits for data still
shows what it could take), intake per wall second. The window is the last hour, or all of the
run when it is younger; what it yields rides in every publish (`ExperimentState.throughput`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from infra.experiment_state import LearnerThroughput

WINDOW_S = 3600.0
HOUR_S = 3600.0


class ThroughputMeter:
    def __init__(self, useful_reuse: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.useful_reuse = useful_reuse
        self._clock = clock
        self._started = clock()
        self._cycles: deque[tuple[float, int, float]] = deque()  # (at, samples, seconds)
        self._intake: deque[tuple[float, str, int, int]] = deque()  # (at, source, examples, games)

    def trained(self, samples: int, seconds: float) -> None:
        self._cycles.append((self._clock(), samples, seconds))
        self._forget()

    def ingested(self, examples: dict[str, int], games: dict[str, int]) -> None:
        now = self._clock()
        for source in examples.keys() | games.keys():
            self._intake.append((now, source, examples.get(source, 0), games.get(source, 0)))
        self._forget()

    def snapshot(self) -> LearnerThroughput | None:
        """The figures so far; None before the first trained cycle (nothing to size by)."""
        self._forget()
        if not self._cycles:
            return None
        window = min(self._clock() - self._started, WINDOW_S)
        per_h = HOUR_S / max(window, 1e-9)
        samples = sum(s for _, s, _ in self._cycles)
        training_s = sum(t for _, _, t in self._cycles)
        examples: dict[str, float] = {}
        games: dict[str, float] = {}
        for _, source, n_examples, n_games in self._intake:
            examples[source] = examples.get(source, 0.0) + n_examples * per_h
            games[source] = games.get(source, 0.0) + n_games * per_h
        return LearnerThroughput(
            measured_at=datetime.now(UTC),
            window_s=window,
            capacity_samples_per_h=samples / max(training_s, 1e-9) * HOUR_S,
            trained_samples_per_h=samples * per_h,
            ingested_examples_per_h=examples,
            ingested_games_per_h=games,
            useful_reuse=self.useful_reuse,
        )

    def _forget(self) -> None:
        cutoff = self._clock() - WINDOW_S
        while self._cycles and self._cycles[0][0] < cutoff:
            self._cycles.popleft()
        while self._intake and self._intake[0][0] < cutoff:
            self._intake.popleft()
