"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Every file that crosses a process boundary is written this way (shards, replay snapshots, run
and status records, fleet memory). It imports nothing of zeb's, so every layer may use it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    with atomic_open(path) as f:
        f.write(data)
    return path


@contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """A temporary file beside `path`, renamed onto it only if the block finishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the rename must not publish a file whose bytes are not on disk
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
