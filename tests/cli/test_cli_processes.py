"""One-line errors from `zeb worker` and `zeb learner` for bad settings and unknown experiments."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from zeb_cli.app import app


@pytest.mark.parametrize(
    "args",
    [
        ["worker", "selfplay", "--exp", "nope"],
        ["worker", "evalaux", "--exp", "nope"],
        ["learner", "--exp", "nope"],
    ],
)
def test_unknown_experiment(args, tmp_path, monkeypatch):
    monkeypatch.setenv("ZEB_HUB_DIR", str(tmp_path / "hub"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    result = CliRunner().invoke(
        app,
        [
            *args,
            "--spool-dir" if "worker" in args else "--local-replay-cache-dir",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "nope" in lines[0] and "not found" in lines[0]


def test_bad_settings_and_options(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEB_HUB", "s3")
    result = CliRunner().invoke(app, ["worker", "selfplay", "--exp", "x"])
    assert result.exit_code == 2 and "ZEB_HUB" in result.output
    monkeypatch.setenv("ZEB_HUB", "local")
    bad_id = CliRunner().invoke(app, ["worker", "selfplay", "--exp", "x", "--worker-id", "a/b"])
    assert bad_id.exit_code == 2 and "--worker-id" in bad_id.output
    bad_name = CliRunner().invoke(app, ["learner", "--exp", "bad name!"])
    assert bad_name.exit_code == 2 and "invalid experiment name" in bad_name.output
