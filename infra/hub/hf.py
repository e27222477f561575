"""`HfHub`: the hub as two Hugging Face repos (weights and examples), through `huggingface_hub`.

What it adds to the client library:
- one commit for many files (`create_commit`), so a worker's whole upload interval or a learner's
  prune costs one of the ~128 commits per hour Hugging Face allows per repo, plus a `CommitBudget`
  that keeps each process well under that limit;
- retries with exponential backoff and jitter on 429, 412 (a concurrent commit moved the branch),
  408, 5xx, timeouts, connection errors and garbled JSON, at start-up (repo creation) as well as
  mid-run; 401, 403 and 404 are not retried and become a `HubAuthError` / `HubNotFoundError` that
  says what to check;
- reads pinned to a commit id (a branch name is resolved once, then every file is fetched at that
  commit), so a reader never mixes files from two commits;
- quiet logs: progress bars are off, and errors are described by class and status only. The token
  is only ever given to `HfApi`; it is never formatted into a message.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

import httpx2
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_url
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
)
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import disable_progress_bars, set_client_factory
from huggingface_hub.utils._http import default_client_factory

from infra.hub.base import (
    Content,
    FileInfo,
    Fingerprint,
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubUnavailableError,
    Repo,
    check_path,
)
from infra.hub.limits import hf_weights_check_s, server_wait
from infra.hub.retry import CommitBudget, RetryPolicy, call_with_retry, describe

T = TypeVar("T")
_PATHS_INFO_CHUNK = 200


class _Retry(Exception):
    """Raised inside an attempt to ask for another try (e.g. a file to delete vanished)."""


def _chain(err: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _status(err: BaseException) -> int | None:
    for e in _chain(err):
        if isinstance(e, HfHubHTTPError) and e.response is not None:
            return e.response.status_code
    return None


def transient(err: BaseException) -> float | None:
    """None if `err` is permanent; else the minimum wait the server asked for (0.0 if none).

    `hf_hub_download` wraps a failed metadata request in LocalEntryNotFoundError, so the cause
    chain is searched for the HTTP or transport error that decides.
    """
    for e in _chain(err):
        if isinstance(e, _Retry | json.JSONDecodeError | httpx2.TransportError):
            return 0.0
        if isinstance(e, HfHubHTTPError) and e.response is not None:
            code = e.response.status_code
            if code in (408, 412, 429) or code >= 500:
                # Retry-After, or the RateLimit window's reset (`t=`): infra.hub.limits
                return server_wait(e.response.headers)
            return None
    return None


def permanent(what: str, err: BaseException) -> HubError:
    """Turn a non-retryable client error into a HubError that says what to check."""
    code = _status(err)
    if code == 401:
        return HubAuthError(f"{what}: Hugging Face rejected the token (HTTP 401); check HF_TOKEN")
    if code == 403:
        return HubAuthError(
            f"{what}: the token is not allowed to do this (HTTP 403); it needs write access"
        )
    if code == 404 or any(isinstance(e, RemoteEntryNotFoundError) for e in _chain(err)):
        return HubNotFoundError(f"{what}: not found (HTTP 404): wrong repo, revision or path")
    detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return HubError(f"{what}: {describe(err)}" + (f": {detail}" if detail else ""))


def _give_up(what: str, err: BaseException) -> HubError:
    return HubUnavailableError(f"{what}: still failing after every retry ({describe(err)})")


def _install_client(timeout_s: float) -> None:
    """Give huggingface_hub's shared HTTP client a timeout (its default has none, so a hung
    server would hang a worker forever). The client is process-global: the last HfHub wins."""

    def factory() -> httpx2.Client:
        client = default_client_factory()
        client.timeout = httpx2.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        return client

    set_client_factory(factory)


class HfHub:
    """A `Hub` on two Hugging Face repos; `weights_repo` and `examples_repo` are `user/name` ids.

    Repos are created (private unless `private=False`) on first use. `cache_dir` holds pinned
    downloads (`download`); `read` fetches into a throwaway folder so shards do not pile up.
    """

    def __init__(
        self,
        weights_repo: str,
        examples_repo: str,
        *,
        token: str | None = None,
        endpoint: str | None = None,
        weights_type: str = "model",
        examples_type: str = "model",
        private: bool = True,
        cache_dir: Path | None = None,
        retry: RetryPolicy | None = None,
        budget: CommitBudget | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self._repos: dict[str, tuple[str, str]] = {
            "weights": (weights_repo, weights_type),
            "examples": (examples_repo, examples_type),
        }
        self._api = HfApi(endpoint=endpoint, token=token, library_name="zeb")
        self._private = private
        self._cache_dir = cache_dir
        self.retry = retry or RetryPolicy()
        self.budget = budget or CommitBudget()
        self._timeout_s = timeout_s
        self._ready: set[str] = set()
        disable_progress_bars()
        _install_client(timeout_s)

    def __repr__(self) -> str:  # never show the token
        return f"HfHub({self.description})"

    @property
    def description(self) -> str:
        w, e = self._repos["weights"], self._repos["examples"]
        return f"hf:{w[0]},{e[0]} at {self._api.endpoint}"

    def weights_poll_s(self, fleet_size: int) -> float:
        return hf_weights_check_s(fleet_size)

    # -- reading ---------------------------------------------------------------------------------

    def head(self, repo: Repo) -> str | None:
        repo_id, repo_type = self._ensure(repo)
        info = self._call(
            f"read head of {repo_id}",
            lambda: self._api.repo_info(repo_id, repo_type=repo_type, timeout=self._timeout_s),
        )
        return info.sha

    def read(self, repo: Repo, path: str, revision: str | None = None) -> bytes:
        with tempfile.TemporaryDirectory(prefix="zeb-hf-read-") as tmp:
            return self._download(repo, path, revision, Path(tmp)).read_bytes()

    def download(self, repo: Repo, path: str, revision: str | None = None) -> Path:
        return self._download(repo, path, revision, self._cache_dir)

    def list(self, repo: Repo, folder: str = "", revision: str | None = None) -> list[FileInfo]:
        repo_id, repo_type = self._ensure(repo)
        folder = check_path(folder.rstrip("/")) if folder else ""

        def attempt() -> list[FileInfo]:
            try:
                entries = list(
                    self._api.list_repo_tree(
                        repo_id,
                        path_in_repo=folder or None,
                        recursive=True,
                        revision=revision,
                        repo_type=repo_type,
                    )
                )
            except RemoteEntryNotFoundError:
                return []  # the folder does not exist (yet): nothing in it
            files = [e for e in entries if isinstance(e, RepoFile) and not _hidden(e.path)]
            return sorted((FileInfo(f.path, f.size) for f in files), key=lambda f: f.path)

        return self._call(f"list {repo_id}/{folder}", attempt)

    def fingerprint(self, repo: Repo, path: str) -> Fingerprint | None:
        """The file's ETag at the branch head, and that head (X-Repo-Commit): one HEAD on its
        /resolve/ URL, which counts in the Resolvers bucket of Hugging Face's limits (5,000 per
        5 minutes on a free account, against 1,000 Hub API calls: infra.hub.limits)."""
        repo_id, repo_type = self._ensure(repo, create=False)
        check_path(path)
        url = hf_hub_url(repo_id, path, repo_type=repo_type, endpoint=self._api.endpoint)

        def attempt() -> Fingerprint | None:
            try:
                meta = self._api.get_hf_file_metadata(url=url, timeout=self._timeout_s)
            except (RemoteEntryNotFoundError, RepositoryNotFoundError):
                return None
            tag = meta.etag or meta.commit_hash
            return None if tag is None else Fingerprint(tag, meta.commit_hash)

        return self._call(f"fingerprint {repo_id}/{path}", attempt)

    def revision(self, repo: Repo, path: str) -> str | None:
        repo_id, repo_type = self._ensure(repo)
        check_path(path)
        infos = self._call(
            f"read revision of {repo_id}/{path}",
            lambda: self._api.get_paths_info(repo_id, [path], expand=True, repo_type=repo_type),
        )
        files = [i for i in infos if isinstance(i, RepoFile)]
        if not files or files[0].last_commit is None:
            return None
        return files[0].last_commit.oid

    # -- writing ---------------------------------------------------------------------------------

    def commit(
        self,
        repo: Repo,
        puts: Mapping[str, Content] | None = None,
        deletes: Iterable[str] = (),
        message: str = "zeb commit",
    ) -> str | None:
        puts = {check_path(p): data for p, data in (puts or {}).items()}
        deletes = sorted({check_path(p) for p in deletes} - set(puts))
        repo_id, repo_type = self._ensure(repo)
        if not puts and not deletes:
            return self.head(repo)
        self.budget.acquire(repo_id)

        def attempt() -> str | None:
            # Operations are rebuilt on every try: huggingface_hub mutates them while committing.
            # Deletes are narrowed to files that still exist, so a retried prune (whose first try
            # may have landed) is not refused for deleting a missing file.
            live = self._existing(repo_id, repo_type, deletes) if deletes else []
            ops: list[CommitOperationAdd | CommitOperationDelete] = [
                CommitOperationAdd(path_in_repo=p, path_or_fileobj=_as_source(d))
                for p, d in puts.items()
            ]
            ops += [CommitOperationDelete(path_in_repo=p) for p in live]
            if not ops:
                return None
            try:
                info = self._api.create_commit(
                    repo_id, ops, commit_message=message, repo_type=repo_type
                )
            except RemoteEntryNotFoundError as err:
                if live:
                    raise _Retry("a file to delete vanished meanwhile") from err
                raise
            return info.oid

        oid = self._call(f"commit {len(puts)}+/{len(deletes)}- files to {repo_id}", attempt)
        return oid if oid is not None else self.head(repo)

    # -- internals -------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return call_with_retry(
                fn, what=what, policy=self.retry, transient=transient, give_up=_give_up
            )
        except HubError:
            raise
        except (HfHubHTTPError, OSError, ValueError) as err:
            raise permanent(what, err) from err

    def _ensure(self, repo: Repo, create: bool = True) -> tuple[str, str]:
        """Create the repo on first use (idempotent: an existing repo is left as it is). Reads
        by /resolve/ URL pass create=False: a worker's looks and pulls must not spend a Hub API
        call each on a repo that was created long ago (a missing repo reads as a missing file)."""
        if repo not in self._repos:
            raise HubError(f"unknown repo {repo!r}; expected 'weights' or 'examples'")
        repo_id, repo_type = self._repos[repo]
        if create and repo not in self._ready:
            self._call(
                f"create {repo_type} repo {repo_id}",
                lambda: self._api.create_repo(
                    repo_id, repo_type=repo_type, private=self._private, exist_ok=True
                ),
            )
            self._ready.add(repo)
        return repo_id, repo_type

    def _download(self, repo: Repo, path: str, revision: str | None, cache: Path | None) -> Path:
        repo_id, repo_type = self._ensure(repo, create=revision is None)
        check_path(path)
        # Resolve the branch to a commit id first: hf_hub_download on a branch would fall back to
        # a stale cached ref when the Hub hiccups; on a commit id the answer is always exact.
        rev = revision or self.head(repo)
        if rev is None:
            raise HubNotFoundError(f"{repo_id} has no commit yet")
        local = self._call(
            f"download {repo_id}/{path}@{rev[:12]}",
            lambda: self._api.hf_hub_download(
                repo_id,
                path,
                repo_type=repo_type,
                revision=rev,
                cache_dir=cache,
                etag_timeout=self._timeout_s,
            ),
        )
        return Path(str(local))

    def _existing(self, repo_id: str, repo_type: str, paths: list[str]) -> list[str]:
        found: set[str] = set()
        for i in range(0, len(paths), _PATHS_INFO_CHUNK):
            chunk = paths[i : i + _PATHS_INFO_CHUNK]
            infos = self._api.get_paths_info(repo_id, chunk, repo_type=repo_type)
            found.update(info.path for info in infos if isinstance(info, RepoFile))
        return [p for p in paths if p in found]


def _hidden(path: str) -> bool:
    # `.gitattributes` and friends belong to git, not to zeb.
    return any(part.startswith(".") for part in path.split("/"))


def _as_source(data: Content) -> bytes | str:
    return str(data) if isinstance(data, Path) else bytes(data)
