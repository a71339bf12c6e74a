"""Writing artifacts: `ArtifactWriter` (atomic, with provenance) and `RaggedAppender`
(streaming CSR ragged groups one image at a time)."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from weakhoi.errors import ArtifactError

from . import layout
from .atomic import artifact_kind, atomic_output, check_replaceable
from .backends import _H5Writer, _ZarrWriter
from .layout import _check_name, _chunk_rows, _format_of
from .provenance import _COMPLETE_ATTR, _default_schema, build_provenance


def _column_spec(name: str, spec: Any) -> tuple[np.dtype, tuple[int, ...]]:
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], (tuple, list)):
        dtype, trailing = np.dtype(spec[0]), tuple(int(d) for d in spec[1])
    else:
        dtype, trailing = np.dtype(spec), ()
    if dtype.kind not in "biufc":
        raise TypeError(f"ragged column {name!r}: only numeric dtypes are supported, got {dtype}")
    if any(d <= 0 for d in trailing):
        raise ValueError(f"ragged column {name!r}: trailing shape {trailing} must be positive")
    return dtype, trailing


class RaggedAppender:
    """Streams a CSR ragged group one image at a time (see `ArtifactWriter.ragged_appender`).

    Rows are buffered per column and written in batches of whole chunks, so memory stays
    bounded (~ `_FLUSH_CHUNKS` chunks per column) however many images are appended.
    """

    def __init__(self, backend: Any, group: str,
                 specs: Mapping[str, tuple[np.dtype, tuple[int, ...]]]) -> None:
        self._backend = backend
        self.group = group
        self.specs = dict(specs)
        self._lengths: list[int] = []
        self._handles: dict[str, Any] = {}
        self._chunk: dict[str, int] = {}
        self._buffers: dict[str, list[np.ndarray]] = {c: [] for c in self.specs}
        self._rows: dict[str, int] = {c: 0 for c in self.specs}   # rows buffered per column
        self._buffered = 0
        for col, (dtype, trailing) in self.specs.items():
            rows = _chunk_rows(dtype.itemsize * int(np.prod(trailing, dtype=np.int64)))
            self._chunk[col] = rows
            self._handles[col] = backend.create_extendable(f"{group}/{col}", dtype, trailing, rows)
        self.closed = False

    def __len__(self) -> int:
        return len(self._lengths)

    def append(self, **arrays: np.ndarray) -> None:
        """Add one image: every column, each with the same number of rows (0 is fine)."""
        if self.closed:
            raise RuntimeError(f"ragged appender {self.group!r} is closed")
        if set(arrays) != set(self.specs):
            raise ValueError(f"ragged group {self.group!r}: append() needs exactly the columns "
                             f"{sorted(self.specs)}, got {sorted(arrays)}")
        rows = None
        checked = {}
        for col, value in arrays.items():
            dtype, trailing = self.specs[col]
            a = np.asarray(value)
            if a.ndim == 1 and a.shape[0] == 0 and trailing:
                a = a.reshape(0, *trailing)
            if a.shape[1:] != trailing:
                raise ValueError(f"ragged group {self.group!r}, column {col!r}: expected rows of "
                                 f"shape {trailing}, got array of shape {a.shape}")
            if not np.can_cast(a.dtype, dtype, "same_kind"):
                raise TypeError(f"ragged group {self.group!r}, column {col!r}: cannot store "
                                f"{a.dtype} as {dtype}")
            if rows is not None and a.shape[0] != rows:
                raise ValueError(f"ragged group {self.group!r}: columns have different row "
                                 f"counts ({rows} vs {a.shape[0]} for {col!r})")
            rows = a.shape[0]
            checked[col] = a.astype(dtype, copy=True)
        for col, a in checked.items():
            if len(a):
                self._buffers[col].append(a)
                self._rows[col] += len(a)
        self._lengths.append(int(rows or 0))
        self._buffered += int(rows or 0)
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        for col, parts in self._buffers.items():
            total = self._rows[col]              # a running count: appends stay O(1)
            chunk = self._chunk[col]
            if not final and total < chunk * layout._FLUSH_CHUNKS:
                continue
            data = np.concatenate(parts) if len(parts) > 1 else (parts[0] if parts else None)
            if data is None:
                continue
            n = len(data) if final else (len(data) // chunk) * chunk   # whole chunks only
            if n:
                self._backend.extend(self._handles[col], data[:n])
            self._buffers[col] = [data[n:]] if n < len(data) else []
            self._rows[col] = len(data) - n

    def close(self) -> None:
        """Flush the buffers and write ``indptr`` (called by the writer on success)."""
        if self.closed:
            return
        self._flush(final=True)
        indptr = np.zeros(len(self._lengths) + 1, dtype=np.int64)   # [n+1]
        np.cumsum(self._lengths, out=indptr[1:])
        self._backend.create_array(f"{self.group}/indptr", indptr, None)
        self._backend.set_attrs({"layout": "csr"}, group=self.group)
        self.closed = True


class ArtifactWriter:
    """Writes one artifact atomically; use as a context manager (see the package docstring).

    The root attributes are `build_provenance(...)`; inputs are hashed when the writer is
    created. On a clean ``with`` exit the appenders are closed, ``complete=True`` is set last,
    the file is closed and renamed onto ``path``. On an exception nothing is left behind.
    ``path`` may hold an artifact of the same type and format (it is replaced); anything else
    there raises OutputError when the writer is created, before any work
    (`weakhoi.artifacts.atomic`).
    """

    def __init__(self, path: Path | str, artifact_type: str, params: Mapping[str, Any],
                 inputs: Sequence[Path | str] = (), extra: Mapping[str, Any] | None = None,
                 schema_version: int | None = None,
                 known_hashes: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self.format = _format_of(self.path)
        if self.format is None:
            raise ArtifactError(f"{self.path}: unsupported artifact suffix {self.path.suffix!r} "
                                f"(use .h5/.hdf5 for HDF5 or .zarr for Zarr)")
        self.artifact_type = artifact_type
        self.kind = artifact_kind(self.path, artifact_type)
        check_replaceable(self.path, self.kind, inputs)
        self.schema_version = _default_schema(artifact_type, schema_version)
        self.provenance = build_provenance(artifact_type, self.schema_version, params, inputs,
                                           extra, known_hashes)
        self._stack: ExitStack | None = None
        self._backend: Any = None
        self._appenders: list[RaggedAppender] = []

    # context management
    def __enter__(self) -> "ArtifactWriter":
        stack = ExitStack()
        tmp = stack.enter_context(atomic_output(self.path, self.kind))
        try:
            self._backend = _H5Writer(tmp) if self.format == "hdf5" else _ZarrWriter(tmp)
            self._backend.set_attrs(self.provenance)
        except BaseException as e:
            stack.__exit__(type(e), e, e.__traceback__)
            raise
        self._stack = stack
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack, self._stack = self._stack, None
        assert stack is not None
        if exc_type is None:
            try:
                for app in self._appenders:
                    app.close()
                self._backend.set_attrs({_COMPLETE_ATTR: True})
                self._backend.close()
            except BaseException as e:
                self._close_quietly()
                stack.__exit__(type(e), e, e.__traceback__)
                raise
            stack.close()          # rename temp -> path
        else:
            self._close_quietly()
            stack.__exit__(exc_type, exc, tb)   # removes the temp
        return False

    def _close_quietly(self) -> None:
        try:
            self._backend.close()
        except Exception:
            pass

    def _check(self, name: str) -> str:
        if self._stack is None:
            raise RuntimeError("ArtifactWriter must be used inside a `with` block")
        _check_name(name)
        if self._backend.exists(name):
            raise ValueError(f"{self.path}: entry {name!r} written twice")
        return name

    # content
    def write_array(self, name: str, array: np.ndarray, chunk_rows: int | None = None) -> None:
        """Store a numeric array, chunked (``chunk_rows`` rows, default ~256 KiB) and compressed
        along axis 0."""
        self._check(name)
        array = np.asarray(array)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"{name!r}: write_array stores numeric arrays, got dtype "
                            f"{array.dtype} (use write_strings for text)")
        self._backend.create_array(name, np.asarray(array, order="C"), chunk_rows)

    def write_strings(self, name: str, values: Sequence[str]) -> None:
        """Store a 1-d list of unicode strings (HDF5 vlen UTF-8 / Zarr variable-length UTF-8)."""
        self._check(name)
        values = list(values)
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise TypeError(f"{name!r}[{i}]: expected str, got {type(v).__name__}")
            if "\0" in v:
                raise ValueError(f"{name!r}[{i}]: strings must not contain NUL characters")
        self._backend.create_strings(name, values)

    def write_ragged(self, group: str, lengths: Sequence[int], **columns: np.ndarray) -> None:
        """Store CSR ragged data: ``<group>/indptr`` [n+1] int64 from ``lengths`` [n] and each
        column [sum(lengths), ...] as given (rows of all images concatenated in order)."""
        self._check(group)
        if not columns:
            raise ValueError(f"ragged group {group!r}: at least one column is required")
        lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)         # [n]
        if (lengths < 0).any():
            raise ValueError(f"ragged group {group!r}: negative lengths")
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)               # [n+1]
        np.cumsum(lengths, out=indptr[1:])
        arrays = {}
        for col, value in columns.items():
            _check_name(col)
            if col == "indptr":
                raise ValueError(f"ragged group {group!r}: 'indptr' is not a valid column name")
            a = np.asarray(value)
            _column_spec(col, (a.dtype, a.shape[1:] if a.ndim else ()))
            if a.ndim == 0 or a.shape[0] != indptr[-1]:
                raise ValueError(f"ragged group {group!r}, column {col!r}: {indptr[-1]} rows "
                                 f"expected from lengths, got shape {a.shape}")
            arrays[col] = np.asarray(a, order="C")
        self._backend.require_group(group)
        self._backend.create_array(f"{group}/indptr", indptr, None)
        for col, a in arrays.items():
            self._backend.create_array(f"{group}/{col}", a, None)
        self._backend.set_attrs({"layout": "csr"}, group=group)

    def ragged_appender(self, group: str, **column_specs: Any) -> RaggedAppender:
        """Streaming CSR writer: ``column=(dtype, trailing_shape)`` (or just a dtype for 1-d
        columns); call ``.append(**arrays_of_one_image)`` per image. Closed by the writer."""
        self._check(group)
        if not column_specs:
            raise ValueError(f"ragged group {group!r}: at least one column is required")
        specs = {}
        for col, spec in column_specs.items():
            _check_name(col)
            if col == "indptr":
                raise ValueError(f"ragged group {group!r}: 'indptr' is not a valid column name")
            specs[col] = _column_spec(col, spec)
        self._backend.require_group(group)
        app = RaggedAppender(self._backend, group, specs)
        self._appenders.append(app)
        return app
