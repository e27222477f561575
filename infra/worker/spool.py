"""A worker's local spool: shards are written here first, uploaded, then removed.

A worker can be killed at any moment. A shard is written atomically to the spool before its upload
starts and removed only after the hub commit succeeded, so a shard is never lost: a restarted
worker uploads what its spool still holds. If the kill came after the commit but before the
removal, the re-upload writes the same name with the same bytes (a no-op on the hub), and the
learner ingests each shard name once.
"""

from __future__ import annotations

from pathlib import Path

from zeb_core.atomic_files import atomic_write_bytes
from zeb_core.data.examples import Examples
from zeb_core.data.shards import SHARD_SUFFIX, ShardMeta, shard_to_bytes


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def put(self, name: str, examples: Examples, meta: ShardMeta) -> Path:
        return atomic_write_bytes(self.folder / name, shard_to_bytes(examples, meta))

    def pending(self) -> list[Path]:
        """Shards waiting for upload, oldest first (names sort by time)."""
        return sorted(p for p in self.folder.glob(f"*{SHARD_SUFFIX}") if not p.name.startswith("."))

    def remove(self, paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)
