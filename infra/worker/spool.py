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
from zeb_core.data.shards import (
    SHARD_SUFFIX,
    ShardError,
    ShardMeta,
    read_shard,
    shard_seq,
    shard_to_bytes,
)


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._games: dict[str, int] = {}  # shard name -> its games, read once per shard

    def put(self, name: str, examples: Examples, meta: ShardMeta) -> Path:
        if (self.folder / name).exists():  # another run's games: never written over
            raise ValueError(f"spool {self.folder} holds {name} already")
        self._games[name] = meta.n_games
        return atomic_write_bytes(self.folder / name, shard_to_bytes(examples, meta))

    def games(self, paths: list[Path]) -> int:
        """The games in these spooled shards (what a worker destroyed now would lose)."""
        total = 0
        for path in paths:
            if path.name not in self._games:  # left by an earlier run: read it once
                try:
                    self._games[path.name] = read_shard(path).meta.n_games
                except (OSError, ShardError):
                    self._games[path.name] = 0
            total += self._games[path.name]
        return total

    def pending(self) -> list[Path]:
        """Shards waiting for upload, oldest first (names sort by time)."""
        return sorted(p for p in self.folder.glob(f"*{SHARD_SUFFIX}") if not p.name.startswith("."))

    def last_seq(self) -> int:
        """The highest sequence number among the spooled shards (0 when none): a restarted
        worker numbers on from it, so a shard of its own never takes a leftover's name."""
        return max((shard_seq(p.name) or 0 for p in self.pending()), default=0)

    def remove(self, paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)
            self._games.pop(path.name, None)
