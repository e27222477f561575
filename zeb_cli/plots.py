"""The learning plot of an experiment: win rates (with 95% intervals) against random and the
heuristic, and the loss terms, over learner cycles (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOSS_TERMS = (
    "loss/selfplay/policy",
    "loss/selfplay/value",
    "loss/selfplay/belief",
    "loss/eval_aux/value",
    "loss/eval_aux/belief",
)


@dataclass(frozen=True)
class WinRate:
    cycle: int
    opponent: str  # "random" or "heuristic"
    rate: float
    lo: float
    hi: float


def history_win_rates(history: list[dict[str, Any]]) -> list[WinRate]:
    """The learner's periodic evaluations found in its history (`history.jsonl`)."""
    points = []
    for row in history:
        for opponent in ("random", "heuristic"):
            rate = row.get(f"eval/vs_{opponent}_win_rate")
            if rate is not None:
                lo = row.get(f"eval/vs_{opponent}_ci_lo", rate)
                hi = row.get(f"eval/vs_{opponent}_ci_hi", rate)
                points.append(WinRate(int(row["cycle"]), opponent, rate, lo, hi))
    return points


def learning_plot(
    history: list[dict[str, Any]], win_rates: list[WinRate], path: Path, title: str
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for opponent, color in (("random", "tab:blue"), ("heuristic", "tab:orange")):
        points = sorted((p for p in win_rates if p.opponent == opponent), key=lambda p: p.cycle)
        if points:
            xs = [p.cycle for p in points]
            ys = [p.rate for p in points]
            errors = [[p.rate - p.lo for p in points], [p.hi - p.rate for p in points]]
            top.errorbar(
                xs,
                ys,
                yerr=errors,
                marker="o",
                capsize=3,
                color=color,
                label=f"greedy vs {opponent}",
            )
    top.axhline(0.5, color="gray", linewidth=0.8, linestyle="--")
    top.set_ylabel("win rate (95% CI)")
    top.legend(loc="lower right")
    top.set_title(title)
    cycles = [row["cycle"] for row in history]
    for term in LOSS_TERMS:
        # A source absent from a cycle's batches reports 0: leave a gap, not a dive to 0.
        values = [row.get(term) or float("nan") for row in history]
        if any(v == v for v in values):
            bottom.plot(cycles, values, label=term.removeprefix("loss/"), linewidth=1)
    bottom.set_xlabel("learner cycle")
    bottom.set_ylabel("loss")
    bottom.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
