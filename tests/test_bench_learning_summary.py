"""The learning bench's verdicts on a pair of runs: the E[Q] rows of a stage-1 run, read from the
learner's history, and the two final networks head to head."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.learning_run import (  # noqa: E402
    EXP,
    Run,
    RunSettings,
    Snapshot,
    eval_aux_summary,
    head_to_head,
)
from zeb_core.network.checkpoint import init_checkpoint, save_checkpoint  # noqa: E402


def _run(home: Path, batch_size: int | None = None) -> Run:
    settings = RunSettings.build(
        design="zeb",
        worker={},
        learner={"batch_size": batch_size},
        minutes=20.0,
        size="small",
        belief_head=False,
        workers=1,
        points=8,
        seed=0,
        stage1_after=10.0,
    )
    return Run(settings, home, keep_files=True, initial=home / "initial.pt", device="cpu")


def _write_history(home: Path, rows: list[dict]) -> None:
    folder = home / "cache" / EXP
    folder.mkdir(parents=True)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    (folder / "history.jsonl").write_text(text + '{"torn": ')  # a kill's torn last line


def test_rows_trained_follow_each_cycles_mix(tmp_path):
    _write_history(
        tmp_path,
        [
            {"cycle": 0, "pid": 7},  # a row before any training: no step, no mix
            {"cycle": 1, "step": 100, "train/eval_aux_fraction": 0.0, "selfplay_added": 3200},
            {"cycle": 2, "step": 200, "train/eval_aux_fraction": 0.25, "selfplay_added": 6400},
            {
                "cycle": 3,
                "step": 300,
                "train/eval_aux_fraction": 0.5,
                "selfplay_added": 8000,
                "eval_aux/seen": 1000,
                "eval_aux/kept": 800,
                "eval_aux/shards_ingested": 3,
                "eval_aux/lag_mean": 4.5,
                "eval_aux/lag_max": 9,
            },
        ],
    )
    summary = eval_aux_summary(_run(tmp_path, batch_size=32))
    eval_rows = 100 * 32 * (0.25 + 0.5)  # 2400
    selfplay_rows = 100 * 32 * (1 + 0.75 + 0.5)  # 7200
    assert summary == {
        "examples_seen": 1000,
        "examples_kept": 800,
        "shards": 3,
        "lag_mean_cycles": 4.5,
        "lag_max_cycles": 9,
        "rows_trained": round(eval_rows),
        "rows_trained_per_example": pytest.approx(eval_rows / 800),
        "selfplay_rows_trained_per_example": pytest.approx(selfplay_rows / 8000),
    }


def test_the_batch_is_the_devices_default_when_unset(tmp_path):
    row = {"step": 10, "train/eval_aux_fraction": 0.5, "eval_aux/kept": 10, "selfplay_added": 1}
    _write_history(tmp_path, [row])
    summary = eval_aux_summary(_run(tmp_path))
    assert summary["rows_trained"] == 10 * 64 // 2  # 64 a batch on CPU
    assert summary["rows_trained_per_example"] == 32.0


def test_no_history_no_summary(tmp_path):
    assert eval_aux_summary(_run(tmp_path)) is None


def test_head_to_head_plays_the_final_networks_on_shared_deals(tmp_path):
    """A network against its own copy on side-swapped deals: level, within the interval."""
    a, b = _run_with_snapshots(tmp_path / "a"), _run_with_snapshots(tmp_path / "b")
    duel = head_to_head(b, a, games=41)  # odd: one game fewer, so every deal is played twice
    assert duel["games"] == 40
    assert duel["opponent"] == a.settings.label
    assert duel["minutes"] == [20.0, 20.0]
    low, high = duel["ci95"]
    assert low <= 0.5 <= high and low <= duel["win_rate"] <= high


def test_head_to_head_at_a_minute_takes_the_snapshots_nearest_it(tmp_path):
    a, b = _run_with_snapshots(tmp_path / "a"), _run_with_snapshots(tmp_path / "b")
    assert head_to_head(b, a, games=2, minute=11.0)["minutes"] == [10.0, 10.0]


def _run_with_snapshots(home: Path) -> Run:
    """A run with snapshots at minutes 10 and 20, the same weights."""
    home.mkdir()
    weights = save_checkpoint(init_checkpoint("small", seed=3), home / "w.pt")
    run = _run(home)
    run.snapshots += [Snapshot(10.0, 5, 500, 32, weights), Snapshot(20.0, 10, 1000, 64, weights)]
    return run
