"""The README's first commands are what newcomers and CI run: keep them in agreement."""

from __future__ import annotations

from tests.conftest import REPO


def _readme_commands() -> list[str]:
    lines = (REPO / "README.md").read_text().splitlines()
    return [line.strip() for line in lines[:12] if line.startswith("    ")]


def test_ci_runs_the_readme_test_command():
    main_job, test_command = _readme_commands()[:2]
    ci_lines = [ln for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln.strip()]
    assert ci_lines[-1].strip() == test_command
    assert "pytest" in test_command and "ruff" in test_command
    assert main_job.startswith("python3.11 -m venv .venv") and "zeb " in main_job
