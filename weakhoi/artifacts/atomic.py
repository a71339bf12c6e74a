"""Atomic output: write into a hidden temp sibling, fsync, rename onto the final path."""
from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def _fsync_path(path: Path) -> None:
    """fsync a file or a directory entry (best effort: some filesystems refuse dir fsync)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    if path.is_dir():
        for root, _dirs, files in os.walk(path):
            for name in files:
                _fsync_path(Path(root) / name)
            _fsync_path(Path(root))
    elif path.exists():
        _fsync_path(path)


def _remove(path: Path) -> None:
    """Remove a file, symlink or directory tree if it exists."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{secrets.token_hex(4)}")


@contextmanager
def atomic_output(path: Path | str) -> Iterator[Path]:
    """Yield a temp sibling path (``.<name>.tmp-<random>``, not yet created) to write into.

    On normal exit the temp file or directory is fsynced and moved onto ``path`` (replacing an
    existing file atomically with ``os.replace``; an existing directory is first moved aside to
    ``.<name>.old-<random>``, then deleted after the swap, so the final path never holds a
    half-written result). On an exception the temp is deleted and an existing ``path`` is left
    untouched. Parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        yield tmp
        if not tmp.exists() and not tmp.is_symlink():
            raise FileNotFoundError(f"{path}: nothing was written to the temporary {tmp.name}")
        _fsync_tree(tmp)
        if tmp.is_file() and (path.is_file() or path.is_symlink() or not path.exists()):
            os.replace(tmp, path)
        else:
            old = None
            if path.exists() or path.is_symlink():
                old = _sibling(path, "old")
                os.rename(path, old)
            try:
                os.rename(tmp, path)
            except BaseException:
                if old is not None:
                    os.rename(old, path)
                raise
            if old is not None:
                _remove(old)
        _fsync_path(path.parent)
    except BaseException:
        _remove(tmp)
        raise


def write_json(path: Path | str, doc: Any, **dumps_kwargs: Any) -> None:
    """Write ``doc`` as JSON to ``path`` atomically (via :func:`atomic_output`); a trailing
    newline is added. ``dumps_kwargs`` go to :func:`json.dumps` (default ``indent=1``)."""
    dumps_kwargs.setdefault("indent", 1)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(doc, **dumps_kwargs) + "\n", encoding="utf-8")
