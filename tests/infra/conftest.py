"""Fixtures for infra tests: a LocalHub in tmp, a fake Hugging Face server and an HfHub on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.fake_hf_server import FakeHfServer

TOKEN = "hf_zebTestTokenDoNotPrint0123456789"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the real environment's hub, token, HF cache or W&B settings."""
    for var in list(__import__("os").environ):
        if var.startswith(("ZEB_", "WANDB_", "HF_")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture
def fake_hf() -> Iterator[FakeHfServer]:
    with FakeHfServer(token=TOKEN) as server:
        yield server


def make_hf_hub(server: FakeHfServer, tmp_path: Path, **kwargs):
    from infra.hub.hf import HfHub
    from infra.hub.retry import RetryPolicy

    kwargs.setdefault("retry", RetryPolicy(attempts=6, base_s=0.001, max_s=0.01))
    kwargs.setdefault("timeout_s", 1.0)
    return HfHub(
        "zeb-test/weights",
        "zeb-test/examples",
        token=TOKEN,
        endpoint=server.url,
        cache_dir=tmp_path / "hf-cache",
        **kwargs,
    )


@pytest.fixture
def hf_hub(fake_hf: FakeHfServer, tmp_path: Path):
    return make_hf_hub(fake_hf, tmp_path)


@pytest.fixture
def hf_hub_factory():
    """`factory(server, tmp_path, **HfHub kwargs)`: more HfHubs on a fake server."""
    return make_hf_hub


@pytest.fixture
def hf_token() -> str:
    return TOKEN


@pytest.fixture
def local_hub(tmp_path: Path):
    from infra.hub.local import LocalHub

    return LocalHub(tmp_path / "hub")


@pytest.fixture(params=["local", "hf"])
def any_hub(request: pytest.FixtureRequest, tmp_path: Path):
    """Each backend in turn: the protocol tests must pass on both."""
    if request.param == "local":
        from infra.hub.local import LocalHub

        yield LocalHub(tmp_path / "hub")
        return
    with FakeHfServer(token=TOKEN) as server:
        yield make_hf_hub(server, tmp_path)
