"""The `Hub` protocol: the only channel between zeb processes.

A hub holds two repos, `weights` (checkpoint, config and state of each experiment) and `examples`
(example shards). Every change is a *commit* of several files at once that readers see entirely or
not at all, and every commit has a revision id that readers can pin. Two backends implement it:
`LocalHub` (a folder, the default) and `HfHub` (two Hugging Face repos).

Paths are POSIX, relative to the repo root (`EXP.pt`, `EXP/selfplay-mcts/w0-1700000000-3.npz`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

Repo = Literal["weights", "examples"]
REPOS: tuple[Repo, ...] = ("weights", "examples")

# What a commit may put: bytes in memory, or a local file (streamed, never read whole by LocalHub).
Content = bytes | Path

# One path segment: no slashes, no leading dot (hidden files and `..`), printable ASCII only, so the
# same path is valid as a local file name, a Hugging Face repo path and a URL segment.
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,199}$")


class HubError(RuntimeError):
    """A hub operation failed in a way that retrying will not fix (bad path, auth, not found)."""


class HubNotFoundError(HubError):
    """The file, revision or repo does not exist (or the token cannot see it)."""


class HubAuthError(HubError):
    """The hub rejected the credentials (401) or the token lacks a permission (403)."""


class HubUnavailableError(HubError):
    """Transient failures (429, 5xx, timeouts, connection errors) outlasted every retry."""


@dataclass(frozen=True)
class Fingerprint:
    """What `Hub.fingerprint` answers: `tag` changes whenever the file does; `head` is the
    repo's head revision it was read at, when the answer says so (Hugging Face's X-Repo-Commit),
    so that a pull at it needs no request of its own for the head."""

    tag: str
    head: str | None = None


@dataclass(frozen=True)
class FileInfo:
    """A file in a repo at some revision. `revision` is the commit that last wrote it, if known."""

    path: str
    size: int
    revision: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def check_path(path: str) -> str:
    """Return `path` if it is a safe repo path, else raise HubError naming the bad part."""
    parts = path.split("/")
    if not path or any(not _SEGMENT.match(part) for part in parts):
        raise HubError(
            f"invalid hub path {path!r}: use '/'-separated segments of letters, digits, '.', '_', "
            "'+', '-' that do not start with '.' or '-'"
        )
    return path


@runtime_checkable
class Hub(Protocol):
    """Read, list and commit files in the `weights` and `examples` repos.

    `revision=None` means the current head. Writes go through `commit`, which applies every put and
    delete atomically and returns the new revision; deleting a path that does not exist is a no-op
    (so a retried prune is harmless); a commit that changes nothing returns the current head.
    """

    @property
    def description(self) -> str:
        """Where the hub lives, for humans (`local:/path` or `hf:user/weights,user/examples`)."""
        ...

    def weights_poll_s(self, fleet_size: int) -> float:
        """How often a worker of a fleet this size should look for new weights by default: 0
        (before every batch) where a look costs nothing, longer where every look counts
        against a rate limit that the whole fleet shares."""
        ...

    def head(self, repo: Repo) -> str | None:
        """The current revision of `repo`, or None while it has no commit."""
        ...

    def read(self, repo: Repo, path: str, revision: str | None = None) -> bytes:
        """The bytes of `path` at `revision`. Raises HubNotFoundError if absent."""
        ...

    def download(self, repo: Repo, path: str, revision: str | None = None) -> Path:
        """A local, read-only file holding `path` at `revision` (cached; do not modify it)."""
        ...

    def list(self, repo: Repo, folder: str = "", revision: str | None = None) -> list[FileInfo]:
        """Every file under `folder` (recursively; "" is the whole repo), sorted by path."""
        ...

    def revision(self, repo: Repo, path: str) -> str | None:
        """The revision of the commit that last wrote `path` at head, or None if it is absent."""
        ...

    def fingerprint(self, repo: Repo, path: str) -> Fingerprint | None:
        """Something that changes whenever `path` changes (an ETag, a revision), by the
        cheapest request the hub has; None if the file is absent."""
        ...

    def commit(
        self,
        repo: Repo,
        puts: Mapping[str, Content] | None = None,
        deletes: Iterable[str] = (),
        message: str = "zeb commit",
    ) -> str | None:
        """Write `puts` and remove `deletes` in one atomic commit; return the new head revision."""
        ...


def write(hub: Hub, repo: Repo, path: str, data: Content, message: str | None = None) -> str | None:
    """Write one file (a commit of one put)."""
    return hub.commit(repo, {path: data}, message=message or f"write {path}")


def delete(hub: Hub, repo: Repo, paths: Iterable[str], message: str | None = None) -> str | None:
    """Delete many files in one commit (missing paths are ignored)."""
    paths = list(paths)
    return hub.commit(repo, deletes=paths, message=message or f"delete {len(paths)} file(s)")
