"""Reading artifacts: `open_artifact` (checks type, schema and completion), `Artifact` and
`RaggedGroup` (CSR ragged per-image access)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from weakhoi.errors import ArtifactError

from .backends import _open_handle
from .layout import _RERUN_HINT, _format_of
from .provenance import _COMPLETE_ATTR, _decode_attrs, _default_schema


@contextmanager
def _reading(source: Any, what: str) -> Iterator[None]:
    """Storage read errors (h5py's OSError "filter returned failure during read", a Zarr codec
    error, a truncated chunk file, ...) -> ArtifactError naming the artifact and the entry: the
    file is damaged and the stage that produces it must be re-run. Applied to every read the
    reader does, so no call site has to catch storage exceptions."""
    try:
        yield
    except (ArtifactError, MemoryError):
        raise
    except Exception as e:
        raise ArtifactError(f"{source}: cannot read {what} ({type(e).__name__}: {e}); the "
                            f"artifact is damaged, {_RERUN_HINT}") from e


class RaggedGroup:
    """Read access to a CSR ragged group. ``group[i]`` -> ``{column: rows of image i}``.

    ``indptr`` is loaded once. Each column keeps one decoded block of whole storage chunks, so
    reading images in order decodes every chunk once; ``load()`` gives an in-memory copy for
    fast random access (e.g. a shuffling data loader), ``column(name)`` the whole flat column.
    """

    def __init__(self, name: str, indptr: np.ndarray, columns: Mapping[str, Any],
                 source: str = "") -> None:
        self.name = name
        self.indptr = indptr                            # [n+1] int64
        self._columns = dict(columns)                   # name -> h5py/zarr array or ndarray
        self._source = source
        self._blocks: dict[str, tuple[int, int, np.ndarray]] = {}
        self._chunk = {}
        for col, arr in self._columns.items():
            chunks = getattr(arr, "chunks", None)
            self._chunk[col] = int(chunks[0]) if chunks else 4096

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._columns)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)                     # [n]

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def _rows(self, col: str, start: int, stop: int) -> np.ndarray:
        arr = self._columns[col]
        if isinstance(arr, np.ndarray):
            return arr[start:stop]
        block = self._blocks.get(col)
        if block is None or start < block[0] or stop > block[1]:
            chunk = self._chunk[col]
            total = arr.shape[0]
            lo = (start // chunk) * chunk
            hi = min(total, max(stop, -(-stop // chunk) * chunk))
            with _reading(self._source, f"rows {lo}:{hi} of {self.name}/{col}"):
                block = (lo, hi, np.asarray(arr[lo:hi]))
            self._blocks[col] = block
        lo, _, data = block
        return data[start - lo:stop - lo]

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self._source}: image {i} out of range for ragged group "
                             f"{self.name!r} with {n} images")
        i = i % n
        start, stop = int(self.indptr[i]), int(self.indptr[i + 1])
        return {col: self._rows(col, start, stop).copy() for col in self._columns}

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(len(self)):
            yield self[i]

    def column(self, name: str) -> np.ndarray:
        """The whole flat column [indptr[-1], ...]."""
        if name not in self._columns:
            raise ArtifactError(f"{self._source}: ragged group {self.name!r} has no column "
                                f"{name!r} (columns: {sorted(self._columns)})")
        with _reading(self._source, f"{self.name}/{name}"):
            return np.asarray(self._columns[name][...])

    def load(self) -> "RaggedGroup":
        """In-memory copy (all columns read at once); cheap random access afterwards."""
        return RaggedGroup(self.name, self.indptr,
                           {c: self.column(c) for c in self._columns}, self._source)


class Artifact:
    """A read-only artifact opened by `open_artifact`; use as a context manager.

    Holds an open file handle: with multi-process data loading open the artifact inside each
    worker (not before forking), or read what you need (`RaggedGroup.load`) up front.
    """

    def __init__(self, path: Path, fmt: str, handle: Any, attrs: dict[str, Any]) -> None:
        self.path = path
        self.format = fmt
        self._handle = handle           # h5py.File or zarr.Group
        self.attrs = attrs
        self.artifact_type: str = attrs["artifact_type"]
        self.schema_version: int = int(attrs["schema_version"])

    def __enter__(self) -> "Artifact":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.format == "hdf5" and self._handle.id.valid:
            self._handle.close()

    def __contains__(self, name: str) -> bool:
        return name in self._handle

    def _node(self, name: str, what: str) -> Any:
        with _reading(self.path, f"{what} {name!r}"):
            if name not in self._handle:
                raise ArtifactError(f"{self.path}: {self.artifact_type} artifact has no {what} "
                                    f"{name!r}; {_RERUN_HINT}")
            return self._handle[name]

    def array(self, name: str) -> np.ndarray:
        node = self._node(name, "array")
        with _reading(self.path, f"array {name!r}"):
            return np.asarray(node[...])

    def strings(self, name: str) -> list[str]:
        node = self._node(name, "string array")
        with _reading(self.path, f"string array {name!r}"):
            if self.format == "hdf5":
                if node.dtype.kind != "O":
                    raise ArtifactError(f"{self.path}: {name!r} is not a string array")
                return list(node.asstr()[...])
            values = node[...]
            if values.dtype.kind not in "TUO":
                raise ArtifactError(f"{self.path}: {name!r} is not a string array")
            return [str(v) for v in values.tolist()]

    def ragged(self, group: str) -> RaggedGroup:
        node = self._node(group, "ragged group")
        with _reading(self.path, f"ragged group {group!r}"):
            names = list(node.keys()) if self.format == "hdf5" else list(node.array_keys())
            if "indptr" not in names:
                raise ArtifactError(f"{self.path}: {group!r} is not a ragged group (no indptr)")
            indptr = np.asarray(node["indptr"][...], dtype=np.int64)        # [n+1]
            columns = {c: node[c] for c in sorted(names) if c != "indptr"}
        bad = (indptr.ndim != 1 or len(indptr) < 1 or indptr[0] != 0
               or (np.diff(indptr) < 0).any()
               or any(col.shape[0] != indptr[-1] for col in columns.values()))
        if bad:
            raise ArtifactError(f"{self.path}: ragged group {group!r} is corrupt (indptr does "
                                f"not match its columns); {_RERUN_HINT}")
        return RaggedGroup(group, indptr, columns, str(self.path))


def open_artifact(path: Path | str, artifact_type: str,
                  schema_version: int | None = None) -> Artifact:
    """Open an artifact read-only after checking it exists, is complete and has the expected
    type and schema version (default ``SCHEMA_VERSIONS[artifact_type]``)."""
    path = Path(path)
    expected = _default_schema(artifact_type, schema_version)
    fmt = _format_of(path)
    if fmt is None:
        raise ArtifactError(f"{path}: unsupported artifact suffix {path.suffix!r} (expected "
                            f"a {artifact_type!r} artifact in .h5/.hdf5 or .zarr)")
    if not path.exists():
        raise ArtifactError(f"{path}: artifact not found (expected a {artifact_type!r} "
                            f"artifact); {_RERUN_HINT}")
    handle = _open_handle(path, fmt)
    try:
        with _reading(path, "its attributes"):
            raw = dict(handle.attrs)
        if "artifact_type" not in raw or "schema_version" not in raw:
            raise ArtifactError(f"{path}: not a weakhoi artifact (no provenance attributes; "
                                f"expected a {artifact_type!r} artifact); {_RERUN_HINT}")
        if not bool(raw.get(_COMPLETE_ATTR, False)):
            raise ArtifactError(f"{path}: incomplete artifact (no completion marker; the "
                                f"writing stage did not finish); {_RERUN_HINT}")
        attrs = _decode_attrs(raw)
        found_type = attrs["artifact_type"]
        if found_type != artifact_type:
            raise ArtifactError(f"{path}: expected a {artifact_type!r} artifact, found "
                                f"{found_type!r}")
        found_schema = int(attrs["schema_version"])
        if found_schema != expected:
            raise ArtifactError(f"{path}: {artifact_type!r} artifact: found schema "
                                f"{found_schema}, this weakhoi reads {expected}; {_RERUN_HINT}")
    except BaseException:
        if fmt == "hdf5":
            handle.close()
        raise
    return Artifact(path, fmt, handle, attrs)
