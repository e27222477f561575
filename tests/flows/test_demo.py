"""`zeb demo` (the README's main job) in miniature, under the test harness's Prefect API: every
step runs, both verifies pass, the plot and the W&B run exist, nothing is left running."""

from __future__ import annotations

import os

import psutil
import pytest
from typer.testing import CliRunner

from zeb_cli.app import app


@pytest.mark.slow
def test_the_demo_runs_every_step_and_leaves_nothing_running(tmp_path, monkeypatch):
    for var in ("ZEB_HOME", "ZEB_HUB", "ZEB_HUB_DIR", "WANDB_DIR", "WANDB_MODE"):
        monkeypatch.setenv(var, os.environ.get(var, ""))  # restored after the demo sets them
    home = tmp_path / "demo"
    args = ["demo", "--home", str(home), "--minutes", "1.5", "--eval-games", "100"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output[-4000:]
    out = result.output
    assert "verify during eval-aux: passed; after the rollback: passed" in out
    assert (home / "learning.png").stat().st_size > 10_000
    assert "W&B run:" in out and str(home / "wandb") in out
    assert "learned:" in out
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if str(home) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []
