"""A real `prefect server` and process worker on 127.0.0.1 for deployment tests, and the few REST
calls the tests make (flow runs by deployment, their states)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PrefectServer:
    url: str  # the API URL (".../api")
    env: dict[str, str]  # the environment every client and worker of this server uses
    logs: Path

    def prefect(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*PREFECT, "--no-prompt", *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def cancel(self, run_id: str) -> None:
        """Cancel a run through the CLI; a run that reached a terminal state between the listing
        and the cancel (a concurrency-limited run the server cancelled itself) is fine."""
        done = subprocess.run(
            [*PREFECT, "--no-prompt", "flow-run", "cancel", run_id],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        settled = "already in terminal state" in done.stdout + done.stderr
        assert done.returncode == 0 or settled, f"cancel {run_id}:\n{done.stdout}\n{done.stderr}"

    def post(self, path: str, body: dict) -> list | dict:
        response = httpx.post(f"{self.url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def flow_runs(self, deployment: str) -> list[dict]:
        """Flow runs of a deployment (`flow/name`), oldest first."""
        flow, name = deployment.split("/")
        runs = self.post(
            "/flow_runs/filter",
            {
                "flows": {"name": {"any_": [flow]}},
                "deployments": {"name": {"any_": [name]}},
                "sort": "EXPECTED_START_TIME_ASC",
            },
        )
        return list(runs)

    def state_of(self, run_id: str) -> str:
        return httpx.get(f"{self.url}/flow_runs/{run_id}", timeout=30).json()["state"]["type"]


@contextmanager
def prefect_server(tmp: Path, **extra_env: str) -> Iterator[PrefectServer]:
    """A server with its own PREFECT_HOME and SQLite file; stopped (and waited for) on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp / "prefect-home"),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{tmp / 'prefect.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_WORKER_QUERY_SECONDS="1",  # pick up scheduled and cancelled runs quickly
        PREFECT_WORKER_PREFETCH_SECONDS="1",
        **extra_env,
    )
    logs = tmp / "prefect-logs"
    logs.mkdir(parents=True, exist_ok=True)
    server = start_process(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        logs / "server.log",
    )
    try:
        wait_until(lambda: _healthy(env["PREFECT_API_URL"]), 90, "the Prefect server", server)
        yield PrefectServer(env["PREFECT_API_URL"], env, logs)
    finally:
        stop_process(server)


@contextmanager
def prefect_worker(server: PrefectServer, pool: str) -> Iterator[subprocess.Popen]:
    worker = start_process(
        [*PREFECT, "worker", "start", "--pool", pool, "--type", "process"],
        server.env,
        server.logs / "worker.log",
    )
    try:
        yield worker
    finally:
        stop_process(worker, grace_s=40)  # its flow runs get Prefect's own 30 s to stop


def start_process(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM the process group, then SIGKILL it: nothing it started is left running."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def wait_until(condition, timeout: float, what: str, *watched: subprocess.Popen) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        for proc in watched:
            assert proc.poll() is None, f"{what}: a process exited with {proc.returncode}"
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
