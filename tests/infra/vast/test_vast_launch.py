"""What a Vast worker starts with: the create request (launch mode, arguments, environment)
checked against Vast's published input limits, and the image's entrypoint that execs the worker
(fixtures in conftest.py).
"""

from __future__ import annotations

import os
import subprocess

import pytest
from pydantic import SecretStr

from infra.fleet.base import FleetError, WorkerLabel, WorkerSettings
from infra.fleet.vast_launch import MASK, MAX_ENV_VALUE, render_launch
from tests.conftest import REPO
from tests.infra.vast.vast_helpers import HF_TOKEN, MARKET, ours

LOGIN = "-u zebbot -p ghp_registryTokenDoNotPrint42 ghcr.io"

# -- the request ------------------------------------------------------------------------------


def test_the_request_keeps_the_entrypoint_and_the_env_holds_what_the_worker_needs(fleet, settings):
    request = render_launch(fleet.spec, settings, WorkerLabel.parse(ours(3)))
    assert request.args == ["--fleet-size", "2"]  # default settings: only what the fleet adds
    assert (request.runtype, request.image) == ("args", MARKET.image)
    assert "onstart" not in request.sdk_kwargs() and request.image_login is None
    assert request.env == {
        "ZEB_HUB": "hf",
        "ZEB_HF_WEIGHTS_REPO": "zeb-test/weights",
        "ZEB_HF_EXAMPLES_REPO": "zeb-test/examples",
        "HF_TOKEN": HF_TOKEN,
        "ZEB_EXP": "a",
        "ZEB_ROLE": "selfplay",
        "ZEB_WORKER_LABEL": ours(3),
    }
    custom = fleet.spec.model_copy(
        update={"worker": WorkerSettings(sims=50, device="cuda", upload_interval_s=60)}
    )
    args = render_launch(custom, settings, WorkerLabel.parse(ours(3))).args
    assert args == [
        *("--sims", "50", "--upload-interval-s", "60.0"),
        *("--fleet-size", "2", "--device", "cuda"),
    ]
    with_endpoint = settings.model_copy(update={"hf_endpoint": "https://hub.example"})
    env = render_launch(fleet.spec, with_endpoint, WorkerLabel.parse(ours(3))).env
    assert env["ZEB_HF_ENDPOINT"] == "https://hub.example"


def test_every_worker_setting_fits_vast_s_limits(fleet, settings):
    """Every option set away from its default: the arguments carry them, each env value stays
    under Vast's 256 characters (the old single env value reached 323)."""
    worker = WorkerSettings(
        sims=48,
        worlds=3,
        games_in_flight=24,
        games_per_batch=96,
        node_capacity=1024,
        root="puct",
        interior="gumbel",
        exact_tricks_left=4,
        belief_worlds=True,
        dirichlet_fraction=0.3,
        temperature_plays=6,
        forced_move_shortcut=False,
        value_root_mix=0.25,
        deal_mode="selfplay",
        upload_interval_s=90.0,
        device="cuda:0",
    )
    spec = fleet.spec.model_copy(update={"worker": worker})
    request = render_launch(spec, settings, WorkerLabel.parse(ours(999999)))
    assert len(request.args) > 20 and max(len(v) for v in request.env.values()) <= MAX_ENV_VALUE


def test_shards_in_object_storage_go_with_the_worker_and_its_keys_stay_hidden(fleet, settings):
    s3 = settings.model_copy(
        update={
            "examples": "s3",
            "s3_bucket": "zeb-shards",
            "s3_endpoint": "https://s3.hf.co",
            "s3_access_key_id": SecretStr("HFAKzebTestKeyId"),
            "s3_secret_access_key": SecretStr("zebTestSecretDoNotPrint"),
        }
    )
    request = render_launch(fleet.spec, s3, WorkerLabel.parse(ours(0)))
    assert request.env["ZEB_EXAMPLES"] == "s3" and request.env["ZEB_S3_BUCKET"] == "zeb-shards"
    assert request.env["AWS_SECRET_ACCESS_KEY"] == "zebTestSecretDoNotPrint"
    shown = str(request.masked())
    assert "zebTestSecretDoNotPrint" not in shown and "HFAKzebTestKeyId" not in shown
    no_keys = s3.model_copy(update={"s3_secret_access_key": None})
    with pytest.raises(FleetError, match="AWS_ACCESS_KEY_ID"):
        render_launch(fleet.spec, no_keys, WorkerLabel.parse(ours(0)))


def test_a_private_image_login_is_sent_and_never_shown(fleet, settings):
    private = settings.model_copy(update={"vast_image_login": SecretStr(LOGIN)})
    request = render_launch(fleet.spec, private, WorkerLabel.parse(ours(0)))
    assert request.sdk_kwargs()["login"] == LOGIN
    shown = request.masked()
    assert shown["login"] == MASK and shown["env"]["HF_TOKEN"] == MASK
    assert LOGIN not in repr(request) and HF_TOKEN not in repr(request) + str(shown)


def test_the_request_refuses_what_vast_would(fleet, settings):
    with pytest.raises(FleetError, match="ZEB_HUB=hf"):
        local = settings.model_copy(update={"hub": "local"})
        render_launch(fleet.spec, local, WorkerLabel.parse(ours(0)))
    with pytest.raises(FleetError, match="not a worker of fleet"):
        render_launch(fleet.spec, settings, WorkerLabel.parse(ours(0, experiment="a-2")))
    no_image = fleet.spec.model_copy(update={"vast": MARKET.model_copy(update={"image": None})})
    with pytest.raises(FleetError, match="--image"):
        render_launch(no_image, settings, WorkerLabel.parse(ours(0)))
    small = fleet.spec.model_copy(update={"vast": MARKET.model_copy(update={"disk_gb": 4.0})})
    with pytest.raises(FleetError, match="at least 8 GB"):
        render_launch(small, settings, WorkerLabel.parse(ours(0)))
    long_token = settings.model_copy(update={"hf_token": SecretStr("hf_" + "x" * 300)})
    with pytest.raises(FleetError, match="HF_TOKEN: over Vast's 256"):
        render_launch(fleet.spec, long_token, WorkerLabel.parse(ours(0)))


# -- the image's entrypoint -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["selfplay", "evalaux"])
def test_the_entrypoint_execs_the_worker_with_its_arguments(tmp_path, fleet, settings, role):
    stub = tmp_path / "bin" / "zeb"
    stub.parent.mkdir()
    stub.write_text('#!/usr/bin/env bash\necho "pid $$"\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    worker = WorkerSettings(worlds=16, eq_worlds=24, device="cuda:1")
    spec = fleet.spec.model_copy(update={"role": role, "worker": worker})
    request = render_launch(spec, settings, WorkerLabel.parse(ours(2, role=role)))
    script = REPO / "infra" / "docker" / "entrypoint.sh"
    # As Docker runs it: ENTRYPOINT [script] with the request's args; exec all the way, so the
    # worker keeps the pid.
    shell = f'echo "pid $$"; exec bash {script} "$@"'
    path = f"{stub.parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", "-c", shell, "entrypoint", *request.args],
        env={"PATH": path, **request.env},
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
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
    assert "--deals-per-batch" not in args  # defaults are left to the worker
    assert HF_TOKEN not in done.stdout
