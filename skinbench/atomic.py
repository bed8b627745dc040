"""Atomic file writes: the one place in skinbench that replaces a file.

:func:`atomic_path` yields a temporary path next to the destination; whatever writes
there (``open``, ``torch.save``, ``DataFrame.to_csv``, ``Figure.savefig``,
``np.lib.format.open_memmap``) runs unchanged. When the block ends without an error the
file is flushed to disk (``fsync``) and renamed over the destination with
``os.replace``, then the folder is synced so the rename itself is durable. A kill at any
moment leaves the old file or the new one, never a truncated one; an error removes the
temporary file and leaves the destination untouched.

:func:`write_text` and :func:`write_json` cover the common cases.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_json", "write_text"]


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory file descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse to sync a directory
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The temporary file sits in the destination's folder (a rename is atomic only within
    one file system), named ``.<name>.<pid>.<random>.tmp``; missing parent folders are
    created. The writer creates the file, so it gets the usual permissions.

    Args:
        path: The destination file.

    Yields:
        The temporary path (not yet existing).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a" / "x.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
        ('done', ['x.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON with a final newline to ``path`` atomically; return the path.

    Example:
        >>> import tempfile
        >>> p = write_json(Path(tempfile.mkdtemp()) / "m.json", {"a": 1})
        >>> print(p.read_text(), end="")
        {
          "a": 1
        }
    """
    return write_text(path, json.dumps(obj, indent=2) + "\n")
