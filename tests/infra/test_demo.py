"""`zeb demo`, the README's main job, in miniature: a real learner and worker processes."""

from __future__ import annotations

import subprocess

import pytest

from tests.infra.process_helpers import ZEB, base_env


@pytest.mark.slow
def test_demo_runs_an_experiment_end_to_end(tmp_path):
    args = ["demo", "--home", str(tmp_path / "demo"), "--cycles", "2", "--steps-per-cycle", "5"]
    args += ["--sims", "4", "--eval-games", "20", "--eval-aux"]
    done = subprocess.run(
        [*ZEB, *args], env=base_env(tmp_path), cwd=tmp_path, capture_output=True, text=True,
        timeout=420,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cycle 2/2" in done.stderr and "demo at cycle 2 (greedy)" in done.stdout
    assert "heuristic" in done.stdout
    logs = sorted(p.name for p in (tmp_path / "demo").rglob("*.log"))
    assert logs == [
        "learner.log",
        "zeb-demo-evalaux-worker-local-0.log",
        "zeb-demo-selfplay-worker-local-0.log",
    ]
