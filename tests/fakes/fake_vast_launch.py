"""What a Vast instance's container would execute, from the create request and the image, as the
docs describe it (sources as in fake_vast_rules.py):

- docs: api-reference/creating-instances-with-api.mdx "Entrypoint Behavior": SSH and Jupyter
  runtypes replace the image's entrypoint with Vast's, and `onstart` runs after Vast's entrypoint
  has initialized; the `args` runtype keeps the image's ENTRYPOINT, `args`/`args_str` replace its
  CMD and are passed to the ENTRYPOINT (or replace the command when there is no ENTRYPOINT).
- docs: yaml/create_instance.yaml runtype: when omitted, "defaults to 'ssh' unless `args/args_str`
  is provided" (then args).
- docs: cli/reference/create-instance.mdx "--entrypoint: override entrypoint for args launch
  instance"; the CLI sends it as `onstart` ("If you use the args launch mode, you can override the
  entrypoint with --entrypoint"; its example `--onstart-cmd 'bash' --args -c '...'` overrides the
  entrypoint to bash). So in args mode a non-empty `onstart` is the entrypoint, one executable as
  Docker's --entrypoint takes it, not a script Vast runs.

Tests read the result in `FakeVastServer.launches`; the listing never shows it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

VAST_ENTRYPOINT = ["<vast entrypoint>"]  # what SSH/Jupyter runtypes run instead of the image's
SSH_FAMILY = ("ssh", "jupyter")  # runtype words that mean Vast's entrypoint (their prefixes)


@dataclass(frozen=True)
class Image:
    entrypoint: list[str]
    cmd: list[str]


# An image no test registered: its ENTRYPOINT and CMD are unknown, shown as placeholders.
UNREGISTERED = Image(entrypoint=["<image entrypoint>"], cmd=["<image cmd>"])


@dataclass(frozen=True)
class Launch:
    runtype: str  # as sent, or the documented default when it was not
    argv: list[str]  # what the container's main process executes
    onstart: str | None  # the script Vast's entrypoint runs once up (None without one)
    vast_entrypoint: bool  # True when Vast's entrypoint replaced the image's
    env: dict[str, str] = field(default_factory=dict)


def resolved_runtype(body: dict) -> str:
    """docs: yaml/create_instance.yaml runtype ("If omitted, defaults to 'ssh' unless
    `args/args_str` is provided")."""
    runtype = body.get("runtype")
    if runtype:
        return runtype
    return "args" if body.get("args") is not None or body.get("args_str") is not None else "ssh"


def launch_of(body: dict, image: Image, env: dict[str, str]) -> Launch:
    runtype = resolved_runtype(body)
    words = runtype.split()
    onstart = body.get("onstart") or None
    if any(w.startswith(SSH_FAMILY) for w in words):
        # args/args_str are "Only used with runtype: args" (creating-instances-with-api.mdx)
        return Launch(runtype, list(VAST_ENTRYPOINT), onstart, True, dict(env))
    cmd = image.cmd
    if body.get("args") is not None:
        cmd = list(body["args"])
    elif body.get("args_str") is not None:
        cmd = shlex.split(body["args_str"])
    entrypoint = [onstart] if onstart else image.entrypoint
    return Launch(runtype, [*entrypoint, *cmd], None, False, dict(env))


def read_env(env: object) -> dict[str, str] | None:
    """The create body's env as a dict; None if it is neither documented form.

    docs: api-reference/creating-instances-with-api.mdx "Environment Variables and Ports" (a JSON
    object; ports as `"-p 8000:8000": "1"`); yaml/create_instance.yaml env (a string in Docker
    flag format, "-e HF_TOKEN=hf_xxx -e MODEL_ID=... -p 8000:8000").
    """
    if env is None:
        return {}
    if isinstance(env, dict):
        if not all(isinstance(k, str) for k in env):
            return None
        return {k: v if isinstance(v, str) else str(v) for k, v in env.items()}
    if isinstance(env, str):
        return _docker_flags(env)
    return None


def _docker_flags(text: str) -> dict[str, str] | None:
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    env: dict[str, str] = {}
    while words:
        flag = words.pop(0)
        if not flag.startswith("-") or not words:
            return None
        value = words.pop(0)
        if flag in ("-e", "--env"):
            key, _, val = value.partition("=")
            env[key] = val
        else:  # -p 8000:8000, -h host: kept as the dict form keeps them
            env[f"{flag} {value}"] = "1"
    return env
