"""`LocalHub`: the hub as a folder, with atomic multi-file commits and pinnable revisions.

Layout, per repo (`<root>/weights/`, `<root>/examples/`):

    HEAD                 the current revision id (one line), replaced atomically
    revs/<rev>.json      an immutable manifest: {path: {blob, size, revision}} plus parent and seq
    blobs/<sha256>       immutable file contents, named by their hash
    .lock                flock'ed by writers only

A commit writes the new blobs, then the new manifest, then flips HEAD with `os.replace`. Every file
is written to a temporary name and renamed, so a process killed at any point leaves either the old
head or the new one; a reader that read HEAD (or was given a revision) then sees that revision's
files forever (until garbage collection), never half a commit. Readers take no lock.

Writers serialise on `.lock` (several workers commit shards while the learner prunes) so that no
commit is built on a stale parent and lost. After each commit the oldest manifests beyond
`keep_revisions` and the blobs that no kept manifest references are removed; a pinned revision thus
stays readable for at least `keep_revisions` later commits. The revision that last wrote a file
still at head stays readable too, as long as that file is unchanged: `Experiment.weights_revision()`
names the commit that last wrote the weights however many commits (examples, a ladder) came after
it, and Hugging Face keeps every revision.

The revision id is the SHA-1 of the commit's content (parent, sequence number, time, message and
changes): 40 hex digits like a git commit id, so logs and shard metadata look the same for both
backends.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from infra.hub.base import (
    REPOS,
    Content,
    FileInfo,
    Fingerprint,
    HubError,
    HubNotFoundError,
    Repo,
    check_path,
)
from zeb_core.atomic_files import atomic_write_bytes

MANIFEST_FORMAT = "zeb-localhub-1"
_CHUNK = 1 << 20


class LocalHub:
    """A `Hub` in a folder (default `./.zeb/hub`), one subfolder per repo."""

    def __init__(self, root: Path | str, keep_revisions: int = 64) -> None:
        self.root = Path(root).expanduser().absolute()
        self.keep_revisions = max(2, keep_revisions)

    @property
    def description(self) -> str:
        return f"local:{self.root}"

    def weights_poll_s(self, fleet_size: int) -> float:
        return 0.0  # a file read

    # -- reading ---------------------------------------------------------------------------------

    def head(self, repo: Repo) -> str | None:
        try:
            return (self._dir(repo) / "HEAD").read_text().strip() or None
        except FileNotFoundError:
            return None

    def read(self, repo: Repo, path: str, revision: str | None = None) -> bytes:
        return self.download(repo, path, revision).read_bytes()

    def download(self, repo: Repo, path: str, revision: str | None = None) -> Path:
        entry = self._files(repo, revision).get(check_path(path))
        if entry is None:
            raise HubNotFoundError(f"{path} not found in {repo} at revision {revision or 'head'}")
        blob = self._dir(repo) / "blobs" / entry["blob"]
        if not blob.exists():
            raise HubNotFoundError(f"{path} at {revision} was garbage-collected from {repo}")
        return blob

    def list(self, repo: Repo, folder: str = "", revision: str | None = None) -> list[FileInfo]:
        prefix = check_path(folder.rstrip("/")) + "/" if folder else ""
        return [
            FileInfo(path, entry["size"], entry["revision"])
            for path, entry in sorted(self._files(repo, revision).items())
            if path.startswith(prefix)
        ]

    def revision(self, repo: Repo, path: str) -> str | None:
        entry = self._files(repo, None).get(check_path(path))
        return None if entry is None else entry["revision"]

    # -- writing ---------------------------------------------------------------------------------

    def fingerprint(self, repo: Repo, path: str) -> Fingerprint | None:
        revision = self.revision(repo, path)  # a local read: as cheap as anything
        return None if revision is None else Fingerprint(revision)

    def commit(
        self,
        repo: Repo,
        puts: Mapping[str, Content] | None = None,
        deletes: Iterable[str] = (),
        message: str = "zeb commit",
    ) -> str | None:
        puts = {check_path(p): data for p, data in (puts or {}).items()}
        deletes = sorted({check_path(p) for p in deletes} - set(puts))
        with self._locked(repo):
            parent = self.head(repo)
            manifest = self._manifest(repo, parent) if parent else {"seq": 0, "files": {}}
            files = dict(manifest["files"])
            blobs = {path: self._store_blob(repo, data) for path, data in puts.items()}
            changed = {p: b for p, b in blobs.items() if files.get(p, {}).get("blob") != b[0]}
            removed = [p for p in deletes if p in files]
            if not changed and not removed:
                return parent  # nothing to do: no empty commits (as on Hugging Face)
            seq = manifest["seq"] + 1
            header = {"parent": parent, "seq": seq, "time": time.time(), "message": message}
            body = {"put": {p: b[0] for p, b in changed.items()}, "delete": removed}
            rev = hashlib.sha1(json.dumps([header, body], sort_keys=True).encode()).hexdigest()
            for path in removed:
                del files[path]
            for path, (blob, size) in changed.items():
                files[path] = {"blob": blob, "size": size, "revision": rev}
            new = {"format": MANIFEST_FORMAT, "revision": rev, **header, "files": files}
            atomic_write_bytes(self._dir(repo) / "revs" / f"{rev}.json", json.dumps(new).encode())
            atomic_write_bytes(self._dir(repo) / "HEAD", f"{rev}\n".encode())  # the commit point
            self._collect_garbage(repo, rev)
            return rev

    # -- internals -------------------------------------------------------------------------------

    def _dir(self, repo: Repo) -> Path:
        if repo not in REPOS:
            raise HubError(f"unknown repo {repo!r}; expected one of {REPOS}")
        return self.root / repo

    def _manifest(self, repo: Repo, revision: str) -> dict:
        if not all(c in "0123456789abcdef" for c in revision) or not revision:
            raise HubNotFoundError(f"revision {revision!r} is not a revision id")
        try:
            data = json.loads((self._dir(repo) / "revs" / f"{revision}.json").read_bytes())
        except FileNotFoundError:
            raise HubNotFoundError(
                f"revision {revision} not found in {repo} (unknown or garbage-collected)"
            ) from None
        if data.get("format") != MANIFEST_FORMAT:
            raise HubError(f"{repo} revision {revision}: unknown manifest format")
        return data

    def _files(self, repo: Repo, revision: str | None) -> dict[str, dict]:
        if revision is not None:
            return self._manifest(repo, revision)["files"]
        # Unpinned: resolve head, then read its manifest; if garbage collection raced us (the head
        # moved on by `keep_revisions` commits in between), resolve again.
        for _ in range(3):
            head = self.head(repo)
            if head is None:
                return {}
            try:
                return self._manifest(repo, head)["files"]
            except HubNotFoundError:
                continue
        raise HubError(f"{repo}: head keeps moving; cannot read a consistent revision")

    def _store_blob(self, repo: Repo, data: Content) -> tuple[str, int]:
        """Copy `data` into blobs/ under its SHA-256 (idempotent); return (hash, size)."""
        blobs = self._dir(repo) / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=blobs, prefix=".blob.", suffix=".tmp")
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in _chunks(data):
                    digest.update(chunk)
                    size += len(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            name = digest.hexdigest()
            os.chmod(tmp, 0o444)  # readers get paths to blobs (`download`): keep them read-only
            os.replace(tmp, blobs / name)
            return name, size
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def _locked(self, repo: Repo) -> Iterator[None]:
        lock_path = self._dir(repo) / ".lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _collect_garbage(self, repo: Repo, head: str) -> None:
        """Keep the newest `keep_revisions` manifests along the parent chain, the revisions that
        last wrote a file at head, and their blobs."""
        repo_dir = self._dir(repo)
        kept: list[dict] = []
        rev: str | None = head
        while rev is not None and len(kept) < self.keep_revisions:
            try:
                kept.append(self._manifest(repo, rev))
            except HubNotFoundError:
                break
            rev = kept[-1]["parent"]
        if rev is None or not kept:
            return  # the whole history fits (or head is unreadable): nothing to collect
        kept += self._writers_of_head(repo, kept[0], {m["revision"] for m in kept})
        kept_revs = {m["revision"] for m in kept}
        live = {entry["blob"] for m in kept for entry in m["files"].values()}
        for manifest in (repo_dir / "revs").glob("*.json"):
            if manifest.stem not in kept_revs:
                manifest.unlink(missing_ok=True)
        for blob in (repo_dir / "blobs").iterdir():
            if not blob.name.startswith(".") and blob.name not in live:
                blob.unlink(missing_ok=True)
        for tmp in (repo_dir / "blobs").glob(".blob.*.tmp"):
            # A leftover from a writer killed mid-copy (writers hold the lock, so none is live).
            tmp.unlink(missing_ok=True)

    def _writers_of_head(self, repo: Repo, head: dict, kept: set[str]) -> list[dict]:
        """The manifests of the older revisions that wrote a file still at head (one collected
        by an earlier version of this class stays collected)."""
        writers = {entry["revision"] for entry in head["files"].values()} - kept
        found = []
        for rev in sorted(writers):
            try:
                found.append(self._manifest(repo, rev))
            except HubNotFoundError:
                continue
        return found


def _chunks(data: Content) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
        return
    with open(data, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk
