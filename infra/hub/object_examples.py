"""`ObjectExamplesHub`: a hub whose weights repo is another hub's (a folder or Hugging Face) and
whose examples live in S3-compatible object storage (`object_store.ObjectStore`).

The weights keep their commits and revisions: the trio is published in one commit, pinned
readers see a consistent snapshot. The examples need neither: a shard is written once, read
once by the learner and deleted, so the object store's examples repo has no revisions (`head`
and `revision` are None, a commit returns None) and a delete frees the bytes at once. Its extra
`list_after` lists only what is new, by prefix and cursor.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from infra.hub.base import Content, FileInfo, Fingerprint, Hub, HubError, Repo, check_path
from infra.hub.object_store import Cursor, ObjectStore


class ObjectExamplesHub:
    def __init__(self, weights: Hub, examples: ObjectStore) -> None:
        self.weights = weights
        self.examples = examples

    def __repr__(self) -> str:
        return f"ObjectExamplesHub({self.description})"

    @property
    def description(self) -> str:
        return f"{self.weights.description}; examples {self.examples.description}"

    def weights_poll_s(self, fleet_size: int) -> float:
        return self.weights.weights_poll_s(fleet_size)

    def head(self, repo: Repo) -> str | None:
        return self.weights.head(repo) if repo == "weights" else None

    def read(self, repo: Repo, path: str, revision: str | None = None) -> bytes:
        if repo == "weights":
            return self.weights.read(repo, path, revision)
        self._unpinned(revision)
        return self.examples.read(check_path(path))

    def download(self, repo: Repo, path: str, revision: str | None = None) -> Path:
        if repo == "weights":
            return self.weights.download(repo, path, revision)
        data = self.read(repo, path, revision)
        with tempfile.NamedTemporaryFile(prefix="zeb-shard-", suffix=".npz", delete=False) as f:
            f.write(data)
        return Path(f.name)

    def list(self, repo: Repo, folder: str = "", revision: str | None = None) -> list[FileInfo]:
        if repo == "weights":
            return self.weights.list(repo, folder, revision)
        self._unpinned(revision)
        return self.examples.list(folder)

    def list_after(self, folder: str, cursor: Cursor) -> tuple[list[FileInfo], Cursor]:
        """The examples under `folder` written after `cursor` (see ObjectStore.list_after)."""
        return self.examples.list_after(folder, cursor)

    def revision(self, repo: Repo, path: str) -> str | None:
        return self.weights.revision(repo, path) if repo == "weights" else None

    def fingerprint(self, repo: Repo, path: str) -> Fingerprint | None:
        if repo == "weights":
            return self.weights.fingerprint(repo, path)
        raise HubError("examples in object storage are not followed by fingerprint")

    def commit(
        self,
        repo: Repo,
        puts: Mapping[str, Content] | None = None,
        deletes: Iterable[str] = (),
        message: str = "zeb commit",
    ) -> str | None:
        if repo == "weights":
            return self.weights.commit(repo, puts, deletes, message)
        self.examples.put({check_path(p): c for p, c in (puts or {}).items()})
        doomed = [check_path(p) for p in deletes]
        if doomed:
            self.examples.delete(doomed)
        return None

    @staticmethod
    def _unpinned(revision: str | None) -> None:
        if revision is not None:
            raise HubError("examples in object storage have no revisions: read them unpinned")
