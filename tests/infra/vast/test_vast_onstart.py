"""What a Vast worker starts with: the onstart command, its environment and the script that execs
the worker (fixtures in conftest.py).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from infra.fleet.base import FleetError, WorkerLabel, WorkerSettings
from infra.fleet.onstart import render_onstart
from tests.conftest import REPO
from tests.infra.vast.vast_helpers import HF_TOKEN, ours

# -- onstart ----------------------------------------------------------------------------------


def test_onstart_holds_no_value_and_the_env_holds_what_the_worker_needs(fleet, settings):
    command, env = render_onstart(fleet.spec, settings, WorkerLabel.parse(ours(3)))
    assert command.startswith("exec ") and HF_TOKEN not in command
    assert env == {
        "ZEB_HUB": "hf",
        "ZEB_HF_WEIGHTS_REPO": "zeb-test/weights",
        "ZEB_HF_EXAMPLES_REPO": "zeb-test/examples",
        "HF_TOKEN": HF_TOKEN,
        "ZEB_EXP": "a",
        "ZEB_ROLE": "selfplay",
        "ZEB_WORKER_LABEL": ours(3),
        "ZEB_WORKER_ARGS": "",  # default settings: the worker's own defaults
    }
    custom = fleet.spec.model_copy(
        update={"worker": WorkerSettings(sims=50, device="cuda", upload_interval_s=60)}
    )
    _, env = render_onstart(custom, settings, WorkerLabel.parse(ours(3)))
    assert env["ZEB_WORKER_ARGS"] == "--sims 50 --upload-interval-s 60.0 --device cuda"
    with_endpoint = settings.model_copy(update={"hf_endpoint": "https://hub.example"})
    assert (
        render_onstart(fleet.spec, with_endpoint, WorkerLabel.parse(ours(3)))[1]["ZEB_HF_ENDPOINT"]
        == "https://hub.example"
    )


def test_onstart_refuses_a_local_hub_and_foreign_labels(fleet, settings):
    with pytest.raises(FleetError, match="ZEB_HUB=hf"):
        local = settings.model_copy(update={"hub": "local"})
        render_onstart(fleet.spec, local, WorkerLabel.parse(ours(0)))
    with pytest.raises(FleetError, match="not a worker of fleet"):
        render_onstart(fleet.spec, settings, WorkerLabel.parse(ours(0, experiment="a-2")))


@pytest.mark.parametrize("role", ["selfplay", "evalaux"])
def test_onstart_script_execs_the_worker_with_the_rendered_env(tmp_path, fleet, settings, role):
    stub = tmp_path / "bin" / "zeb"
    stub.parent.mkdir()
    stub.write_text('#!/usr/bin/env bash\necho "pid $$"\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    worker = WorkerSettings(worlds=16, eq_worlds=24, device="cuda:1")
    spec = fleet.spec.model_copy(update={"role": role, "worker": worker})
    _, env = render_onstart(spec, settings, WorkerLabel.parse(ours(2, role=role)))
    script = REPO / "infra" / "docker" / "onstart.sh"
    shell = f'echo "pid $$"; exec bash {script}'  # exec all the way: the worker keeps the pid
    path = f"{stub.parent}{os.pathsep}{os.environ['PATH']}"
    run_env = {"PATH": path, **env}
    done = subprocess.run(
        ["bash", "-c", shell], env=run_env, capture_output=True, text=True, timeout=10, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0] == lines[2]  # the same pid before and after: exec, not a child
    args = lines[3:]
    assert args[:4] == ["worker", role, "--exp", "a"]
    assert args[args.index("--worker-id") + 1] == ours(2, role=role)
    if role == "selfplay":
        assert args[args.index("--worlds") + 1] == "16" and "--eq-worlds" not in args
    else:
        assert args[args.index("--eq-worlds") + 1] == "24" and "--worlds" not in args
    assert args[args.index("--device") + 1] == "cuda:1"
    assert ("--worlds" in args) == (role == "selfplay")
    assert "--deals-per-batch" not in args  # defaults are left to the worker
    assert HF_TOKEN not in done.stdout
