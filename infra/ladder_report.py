"""What a ladder shows outside the hub: new ratings logged to the experiment's W&B run, and a
plot of rating against cycle."""

from __future__ import annotations

from pathlib import Path

from infra.tracking import Tracker
from zeb_core.evaluation.elo_ladder import Ladder


def log_ratings(tracker: Tracker, ladder: Ladder, names: list[str], step: int) -> None:
    """Log the ratings of newly added checkpoint players: `ladder/<rung>_elo` (+ `_lo`, `_hi`;
    rung `greedy` or `mcts<sims>`) and `ladder/cycle`, the cycle of the checkpoint rated.

    The learner logs to the same run at step = its cycle, and W&B drops a point whose step goes
    back, so the ratings go at `step` (the experiment's cycle now, at least the checkpoint's);
    plot them against `ladder/cycle` in W&B.
    """
    ratings = {r.player: r for r in ladder.ratings}
    by_cycle: dict[int, dict[str, float]] = {}
    for name in names:
        player = ladder.player(name)
        if player.cycle is None or name not in ratings:
            continue
        rung, r = name.split("-", 1)[1], ratings[name]
        metrics = by_cycle.setdefault(player.cycle, {"ladder/cycle": float(player.cycle)})
        metrics |= {f"ladder/{rung}_elo": r.rating}
        metrics |= {f"ladder/{rung}_elo_lo": r.lo, f"ladder/{rung}_elo_hi": r.hi}
    for cycle in sorted(by_cycle):
        tracker.log(by_cycle[cycle], step=max(step, cycle))


def plot_ladder(ladder: Ladder, path: Path) -> Path:
    """A PNG of rating against cycle: one line per rung with its 95% band, anchors as levels."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    ratings = {r.player: r for r in ladder.ratings}
    fig, ax = plt.subplots(figsize=(8, 5))
    rungs: dict[str, list[tuple[int, float, float, float]]] = {}
    for p in ladder.players:
        r = ratings.get(p.name)
        if r is not None and p.cycle is not None:
            rungs.setdefault(p.name.split("-", 1)[1], []).append((p.cycle, r.rating, r.lo, r.hi))
    for rung, points in sorted(rungs.items()):
        cycles, mid, lo, hi = zip(*sorted(points), strict=True)
        ax.plot(cycles, mid, marker="o", label=rung)
        ax.fill_between(cycles, lo, hi, alpha=0.2)
    for p in ladder.players:
        if p.anchor and p.name in ratings:
            ax.axhline(ratings[p.name].rating, color="grey", linestyle="--", linewidth=0.8)
            level = (1.0, ratings[p.name].rating)
            ax.annotate(p.name, level, xycoords=("axes fraction", "data"), ha="right", va="bottom")
    ax.set(xlabel="cycle", ylabel=f"Elo ({ladder.anchor} = 0)", title=f"{ladder.experiment} ladder")
    if rungs:
        ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
