"""Flow tests: one Prefect test harness for the whole run (it takes ~10 s to start), and an
isolated zeb home, hub and W&B folder per test; no worker process outlives a test."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def zeb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness) -> Iterator[Path]:
    for var in list(os.environ):
        if var.startswith(("ZEB_", "WANDB_", "HF_", "VAST_")):
            monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("ZEB_HOME", str(home))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    yield home
    for table in home.glob("experiments/*/fleets/*/processes.json"):
        for entry in json.loads(table.read_text())["workers"]:
            try:
                psutil.Process(entry["pid"]).kill()
            except psutil.NoSuchProcess:
                pass
