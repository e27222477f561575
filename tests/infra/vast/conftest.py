"""Fixtures of the VastFleet tests: the real `vastai` SDK against a fake Vast API
(tests/fakes/fake_vast_server.py) on 127.0.0.1. The client timeout is 1 s and retries are fast,
so every fault is handled in a few seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.experiment import Experiment
from infra.fleet.base import FleetSpec
from infra.fleet.memory import FleetPaths, FleetStore
from infra.fleet.vast import VastFleet
from infra.settings import Settings
from tests.fakes.fake_vast_server import FakeVastServer
from tests.infra.vast.vast_helpers import ENTRYPOINT, FAST, HF_TOKEN, MARKET, PACE, VAST_KEY


@pytest.fixture
def vast():
    with FakeVastServer(api_key=VAST_KEY, time_scale=PACE) as server:
        server.register_image(MARKET.image, entrypoint=[ENTRYPOINT], cmd=[])
        yield server


@pytest.fixture
def settings(vast: FakeVastServer, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "zeb",
        hub="hf",
        hf_weights_repo="zeb-test/weights",
        hf_examples_repo="zeb-test/examples",
        hf_token=HF_TOKEN,
        vast_api_key=VAST_KEY,
        vast_url=vast.url,
        vast_timeout_s=1.0,
        vast_pace_scale=PACE,
    )


@pytest.fixture
def make_fleet(settings: Settings, local_hub):
    def make(
        experiment="a", role="selfplay", settings=settings, worker=None, target=2, **vast_changes
    ) -> VastFleet:
        spec = FleetSpec(
            experiment=experiment,
            role=role,
            provider="vast",
            target=target,
            worker=worker or {},
            vast=MARKET.model_copy(update=vast_changes),
        )
        store = FleetStore(FleetPaths(settings.home, experiment, role))
        experiment_ns = Experiment(local_hub, experiment)
        return VastFleet(spec, experiment_ns, store, settings, policy=FAST, logs_budget_s=2.0)

    return make


@pytest.fixture
def fleet(make_fleet) -> VastFleet:
    return make_fleet()
