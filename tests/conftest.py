"""Shared fixtures: the original system's reference data (../shared/reference)."""

from __future__ import annotations

import gzip
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# `tests/` is not a package; make `tests.fakes` and the helpers importable however pytest started.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
REFERENCE = Path(os.environ.get("ZEB_REFERENCE_DIR", REPO.parent / "shared" / "reference"))
REFERENCE_CKPT = REFERENCE / "zeb-557k-1m.pt"
EARLIER_CKPT = REFERENCE / "zeb-e2839.pt"


@pytest.fixture(scope="session")
def golden() -> dict:
    path = REFERENCE / "golden-games.json.gz"
    assert path.is_file(), f"reference data missing: {path} (shared/ must sit beside the repo)"
    with gzip.open(path) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def reference_ckpt() -> Path:
    assert REFERENCE_CKPT.is_file(), f"reference checkpoint missing: {REFERENCE_CKPT}"
    return REFERENCE_CKPT


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """A command run in-process configures the root logger as its process would
    (`logging.basicConfig(force=True)` onto the test's captured stderr); later tests must not
    log into that closed stream, so each test gets the root logger back as it found it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
