"""On-disk layout shared by writer, reader and backends: formats by suffix, entry names,
chunking knobs.

The tuning knobs ``_TARGET_CHUNK_BYTES`` and ``_FLUSH_CHUNKS`` are read from this module at
call time; setting them on the ``weakhoi.artifacts`` package forwards here (tests shrink them).
"""
from __future__ import annotations

from pathlib import Path

_H5_SUFFIXES = (".h5", ".hdf5")
_ZARR_SUFFIXES = (".zarr",)
_TARGET_CHUNK_BYTES = 256 * 2**10  # rows per chunk ~ 256 KiB: cheap random access per image
_FLUSH_CHUNKS = 8                  # appender writes in batches of whole chunks
_RERUN_HINT = "re-run the stage that produces it"


def _format_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in _H5_SUFFIXES:
        return "hdf5"
    if suffix in _ZARR_SUFFIXES:
        return "zarr"
    return None


def _chunk_rows(row_bytes: int) -> int:
    """Rows per storage chunk so that a chunk holds ~`_TARGET_CHUNK_BYTES`."""
    return max(1, _TARGET_CHUNK_BYTES // max(1, row_bytes))


def _check_name(name: str) -> str:
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in name.split("/")):
        raise ValueError(f"invalid artifact entry name {name!r}")
    return name
