"""The learning rate over one run of known length: constant, then a linear anneal to its end.

A run of fixed length (the learning benchmark's minutes, a `max_minutes` or `max_cycles` learner)
plateaued from about the middle of 90 minutes at a constant lr: Adam's steps stay as large late as
early, and dropping lr late is the usual cure (AlphaZero, KataGo). Measured here it did not lift
that plateau (README, "Self-play defaults, and why": 90 minutes annealed from minute 45), so it is
an option, off by default. A learner with no end cannot anneal towards one and keeps its lr.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinearAnneal:
    start: float  # share of the run (0..1) at which the anneal begins
    final_scale: float  # lr multiple reached at the run's end

    def __post_init__(self) -> None:
        if not 0 <= self.start < 1:
            raise ValueError(f"anneal start {self.start} must be in [0, 1)")
        if not 0 < self.final_scale <= 1:
            raise ValueError(f"final lr scale {self.final_scale} must be in (0, 1]")

    def scale(self, progress: float) -> float:
        """The lr multiple at `progress`, the share of the run done (clipped to [0, 1])."""
        progress = min(max(progress, 0.0), 1.0)
        if progress <= self.start:
            return 1.0
        done = (progress - self.start) / (1.0 - self.start)
        return 1.0 + done * (self.final_scale - 1.0)
