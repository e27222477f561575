"""W&B lineage: wandb runs for real in offline mode; two processes must extend one run."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

from infra.experiment import Experiment
from infra.experiment_state import ExperimentState, Origin
from infra.hub import LocalHub
from infra.tracking import NullTracker, code_version, open_run

ROOT = Path(__file__).resolve().parents[2]

# One learner process: open the experiment's run, log some cycles, finish.
LEARNER = """
import sys
from infra.experiment import Experiment
from infra.settings import load_settings, make_hub
from infra.tracking import open_run

settings = load_settings()
exp = Experiment(make_hub(settings), "exp1")
run = open_run(exp, mode=settings.wandb_mode, project="zeb-test", config={"lr": 0.001})
for cycle in range(int(sys.argv[1]), int(sys.argv[2])):
    run.log({"loss": 1.0 / (cycle + 1)}, step=cycle)
run.finish()
print(run.run_id)
"""


def _records(path: Path):
    """Decode a .wandb file: W&B's leveldb-style log of protobuf `Record`s (32 KiB blocks,
    7-byte record headers: crc32, little-endian length, type 1=full 2=first 3=middle 4=last)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block, pos, pending = path.read_bytes(), 32768, 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # trailer too short for a header: skip to the next block
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:
            break
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            yield pb.Record.FromString(pending)
            pending = b""


def _run_summary(run_dir: Path) -> tuple[str, list[int], dict]:
    """(run id, history steps, config) from one offline run directory."""
    (wandb_file,) = run_dir.glob("run-*.wandb")
    run_id, steps, config = "", [], {}
    for record in _records(wandb_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run_id = record.run.run_id
        elif kind == "history":
            items = {i.key or "/".join(i.nested_key): i.value_json for i in record.history.item}
            steps.append(int(items["_step"]))
        if kind in ("run", "config"):  # the initial config rides in the run record
            updates = record.run.config.update if kind == "run" else record.config.update
            config |= {item.key: json.loads(item.value_json) for item in updates}
    return run_id, steps, config


def _seed(hub_dir: Path) -> Experiment:
    exp = Experiment(LocalHub(hub_dir), "exp1")
    origin = Origin(checkpoint="boot.pt", sha256="0" * 64)
    exp.publish_weights(b"ckpt", {}, ExperimentState(experiment="exp1", created_from=origin))
    return exp


def test_two_processes_extend_one_lineage(tmp_path: Path) -> None:
    exp = _seed(tmp_path / "hub")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "ZEB_"))},
        "ZEB_HUB_DIR": str(tmp_path / "hub"),
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path / "wandb"),
        "WANDB_SILENT": "true",
        "PYTHONPATH": str(ROOT),
    }
    ids = []
    for first, last in ((0, 3), (3, 6)):  # a learner, killed and restarted
        out = subprocess.run(
            [sys.executable, "-c", LEARNER, str(first), str(last)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        ids.append(out.stdout.strip().splitlines()[-1])
    state = exp.read_state()
    assert ids[0] == ids[1] == state.wandb_run_id and state.wandb_project == "zeb-test"
    runs = sorted((tmp_path / "wandb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    summaries = [_run_summary(r) for r in runs]
    assert {s[0] for s in summaries} == {state.wandb_run_id}  # both files extend one run
    assert sorted(step for s in summaries for step in s[1]) == list(range(6))
    config = summaries[1][2]
    assert config["lr"] == 0.001 and config["experiment"] == "exp1"
    assert "code_version" in config


def test_disabled_tracking_writes_nothing(tmp_path: Path) -> None:
    exp = _seed(tmp_path / "hub")
    head = exp.hub.head("weights")
    run = open_run(exp, mode="disabled")
    assert isinstance(run, NullTracker) and run.run_id is None
    run.log({"loss": 1.0}, step=0)
    run.finish()
    assert exp.hub.head("weights") == head and exp.read_state().wandb_run_id is None


def test_code_version_is_the_git_commit() -> None:
    version = code_version(ROOT)
    if version is not None:  # a checkout without git history has none
        assert len(version.removesuffix("-dirty")) == 40
    assert code_version(Path("/")) is None
