"""Run `zeb` commands as real processes for end-to-end and kill tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.infra.conftest import TOKEN

ZEB = [sys.executable, "-c", "from zeb_cli.app import app; app()"]
REPO = Path(__file__).resolve().parents[2]


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEB_", "WANDB_", "HF_"))}
    env.update(
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",  # two processes share two cores
        WANDB_MODE="offline",
        WANDB_DIR=str(tmp_path),
        WANDB_SILENT="true",
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    env.update(extra)
    return env


def hf_env(tmp_path: Path, url: str) -> dict[str, str]:
    return base_env(
        tmp_path,
        ZEB_HUB="hf",
        ZEB_HF_WEIGHTS_REPO="zeb-test/weights",
        ZEB_HF_EXAMPLES_REPO="zeb-test/examples",
        ZEB_HF_ENDPOINT=url,
        HF_TOKEN=TOKEN,
        ZEB_HF_RETRY_BASE_S="0.05",
        ZEB_HF_TIMEOUT_S="10",
    )


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen([*ZEB, *args], env=env, cwd=log.parent, stdout=out, stderr=out)


def learner_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "learner", "--exp", "exp", "--batch-size", "16", "--training-steps-per-cycle", "25",
        "--min-buffer", "100", "--replay-buffer-size", "20000",
        "--eval-aux-replay-buffer-size", "1000", "--poll-interval-s", "0.2", "--eval-every", "0",
        "--local-replay-cache-dir", str(tmp_path / "cache"), "--device", "cpu", *extra,
    ]  # fmt: skip


def worker_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "worker", "selfplay", "--exp", "exp", "--worker-id", "w1", "--sims", "8",
        "--games-in-flight", "8", "--games-per-batch", "8", "--upload-interval-s", "0",
        "--spool-dir", str(tmp_path / "spool"), "--device", "cpu", "--seed", "3", *extra,
    ]  # fmt: skip


def learner_status(tmp_path: Path) -> dict:
    path = tmp_path / "cache" / "exp" / "status.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def wait_for(condition: Callable[[], bool], timeout: float, what: str, procs=(), logs=()) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        for proc in procs:
            if proc.poll() not in (None, 0):
                break
        else:
            time.sleep(0.2)
            continue
        break
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def finish(proc: subprocess.Popen, timeout: float, log: Path) -> None:
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        raise AssertionError(f"{log.name} did not finish:\n{log.read_text()[-3000:]}") from None
    assert code == 0, f"{log.name} exited {code}:\n{log.read_text()[-3000:]}"
