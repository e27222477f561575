"""Example shards in S3-compatible object storage: Hugging Face Storage Buckets (through their S3
gateway, https://s3.hf.co), Amazon S3, Cloudflare R2, GCS interoperability, MinIO.

Why boto3: one well-kept client speaks to every S3-compatible store (Hugging Face documents its
buckets' gateway for boto3), it signs, pages and retries the way each store expects, and moto's
real server speaks the same protocol for the tests. Credentials come from the standard AWS
variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`; a bucket's S3 keys on Hugging Face are
derived from a token) and are never printed.

Layout: the hub path `EXP/<source>/<worker>-<time>-<seq>.npz` is stored under the key
`<prefix>EXP/<source>/<worker>/<worker>-<time>-<seq>.npz`: a prefix per experiment, role and
worker. A worker's keys sort by time, so the learner lists only what is new: the workers of a
source with one delimiter listing, then each worker's keys after the last one it saw
(`list_after`). Objects are not versioned: a delete frees the bytes at once.

S3's documented throttling (503 SlowDown, and 500/503 InternalError / ServiceUnavailable) and
transport errors are retried with the hub's backoff (`infra.hub.limits`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from infra.hub.base import Content, FileInfo, HubError, HubNotFoundError, HubUnavailableError
from infra.hub.limits import S3_DELETE_BATCH, s3_transient
from infra.hub.retry import RetryPolicy, call_with_retry, describe
from zeb_core.data.shards import shard_worker

log = logging.getLogger("zeb.hub")
Cursor = dict[str, str]  # worker folder -> the last key seen in it


class ObjectStore:
    """The examples of every experiment in one bucket (under an optional key prefix)."""

    def __init__(
        self,
        client: Any,  # a boto3 S3 client
        bucket: str,
        prefix: str = "",
        retry: RetryPolicy | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.retry = retry or RetryPolicy()
        self.cache_dir = cache_dir

    @property
    def description(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    # -- keys -------------------------------------------------------------------------------------

    def key(self, path: str) -> str:
        """The object key of a hub path: shards go under their worker's folder."""
        folder, _, name = path.rpartition("/")
        worker = shard_worker(name)
        inner = f"{folder}/{worker}/{name}" if worker and folder else path
        return self.prefix + inner

    def path(self, key: str) -> str:
        """The hub path of an object key (the inverse of `key`)."""
        inner = key[len(self.prefix) :]
        folder, _, name = inner.rpartition("/")
        parent, _, worker = folder.rpartition("/")
        if parent and worker and shard_worker(name) == worker:
            return f"{parent}/{name}"
        return inner

    # -- the store --------------------------------------------------------------------------------

    def put(self, puts: dict[str, Content]) -> None:
        for path, content in puts.items():
            body = content.read_bytes() if isinstance(content, Path) else content
            self._put(self.key(path), body)

    def _put(self, key: str, body: bytes) -> None:
        self._call(
            f"put {key}", lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
        )

    def read(self, path: str) -> bytes:
        key = self.key(path)

        def get() -> bytes:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

        return self._call(f"get {key}", get)

    def delete(self, paths: Iterable[str]) -> int:
        """Delete objects for real (their bytes are freed); missing ones are ignored."""
        keys = [self.key(p) for p in paths]
        for i in range(0, len(keys), S3_DELETE_BATCH):
            batch = [{"Key": k} for k in keys[i : i + S3_DELETE_BATCH]]
            request = {"Objects": batch, "Quiet": True}
            answer = self._call(
                f"delete {len(batch)} object(s)",
                lambda r=request: self.client.delete_objects(Bucket=self.bucket, Delete=r),
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise HubError(f"s3 delete failed for {first.get('Key')}: {first.get('Code')}")
        return len(keys)

    def list(self, folder: str = "") -> list[FileInfo]:
        """Every object under `folder` (recursively), as hub paths sorted by path."""
        start = self.prefix + (folder.strip("/") + "/" if folder.strip("/") else "")
        infos = [self._info(obj) for obj in self._pages(Prefix=start)]
        return sorted(infos, key=lambda f: f.path)

    def list_after(self, folder: str, cursor: Cursor) -> tuple[list[FileInfo], Cursor]:
        """What is new under `folder` since `cursor`: one listing of its worker folders, then
        each worker's keys after the last one seen. Returns the new files and the new cursor."""
        start = self.prefix + folder.strip("/") + "/"
        cursor = dict(cursor)
        found: list[FileInfo] = []
        for worker_prefix in self._folders(start):
            after = cursor.get(worker_prefix, "")
            objects = list(self._pages(Prefix=worker_prefix, StartAfter=after))
            if objects:
                cursor[worker_prefix] = max(obj["Key"] for obj in objects)
                found += [self._info(obj) for obj in objects]
        return sorted(found, key=lambda f: f.path), cursor

    # -- S3 calls ---------------------------------------------------------------------------------

    def _folders(self, start: str) -> list[str]:
        """The worker folders under a source folder (one delimiter listing, paged)."""
        folders: list[str] = []
        token = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": start, "Delimiter": "/"}
            if token:
                args["ContinuationToken"] = token
            page = self._call(f"list {start}", lambda a=args: self.client.list_objects_v2(**a))
            folders += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            token = page.get("NextContinuationToken")
            if not token:
                return folders

    def _pages(self, **query: Any) -> Iterator[dict]:
        token = None
        while True:
            args = {"Bucket": self.bucket, **query}
            if token:
                args["ContinuationToken"] = token
            page = self._call("list objects", lambda a=args: self.client.list_objects_v2(**a))
            yield from page.get("Contents", [])
            token = page.get("NextContinuationToken")
            if not token:
                return

    def _info(self, obj: dict) -> FileInfo:
        return FileInfo(path=self.path(obj["Key"]), size=int(obj.get("Size", 0)))

    def _call(self, what: str, fn):
        try:
            return call_with_retry(
                fn, what=f"s3 {what}", policy=self.retry, transient=s3_transient, give_up=_give_up
            )
        except HubError:
            raise
        except Exception as err:  # noqa: BLE001 - a permanent S3 error, one line
            raise _permanent(what, err) from None


def _permanent(what: str, err: BaseException) -> HubError:
    code = _code(err)
    if code in ("NoSuchKey", "404", "NoSuchBucket"):
        return HubNotFoundError(f"s3 {what}: not found ({code})")
    return HubError(f"s3 {what}: {describe(err)} {code or ''}".strip())


def _give_up(what: str, err: BaseException) -> HubError:
    return HubUnavailableError(f"{what}: still failing after retries ({describe(err)})")


def _code(err: BaseException) -> str:
    response = getattr(err, "response", None)
    return str((response or {}).get("Error", {}).get("Code", "")) if response else ""
