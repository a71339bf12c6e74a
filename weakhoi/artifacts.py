"""Artifact store: HDF5 (``.h5``/``.hdf5``, h5py) and Zarr v3 (``.zarr`` directory) files with
provenance attributes, CSR ragged per-image data and atomic writes.

Writing::

    with ArtifactWriter("artifacts/pairs/test.zarr", "pair_features", params=cfg,
                        inputs=["artifacts/proposals/test.h5"]) as w:
        w.write_strings("file_names", names)
        w.write_array("image_sizes", sizes)                     # [n, 2] int64
        app = w.ragged_appender("pairs", human=(np.int64, ()), object=(np.int64, ()),
                                spatial=(np.float32, (36,)))
        for ...:
            app.append(human=h, object=o, spatial=s)            # one image at a time

Everything is written to a hidden temp sibling (``.<name>.tmp-<random>``) and renamed onto the
final path only when the ``with`` block exits without an exception; the completion marker
attribute ``complete`` is set last. Reading::

    with open_artifact(path, "pair_features") as art:
        pairs = art.ragged("pairs")
        pairs[i]["spatial"]                                     # [P_i, 36] float32

Ragged layout (CSR): ``<group>/indptr`` [n+1] int64 with ``indptr[0] == 0``, and one flat array
``<group>/<column>`` [indptr[-1], ...] per column; rows of image i are
``indptr[i]:indptr[i+1]``. All arrays are chunked and compressed along axis 0 (rows).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import subprocess
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from weakhoi.errors import ArtifactError, DataError

__all__ = [
    "SCHEMA_VERSIONS",
    "atomic_output",
    "build_provenance",
    "hash_path",
    "ArtifactWriter",
    "RaggedAppender",
    "open_artifact",
    "Artifact",
    "RaggedGroup",
]

SCHEMA_VERSIONS: dict[str, int] = {"proposals": 1, "knowledge_bank": 1, "pair_features": 1}

# Root attributes written by build_provenance (extra keys must not collide with these).
PROVENANCE_KEYS = (
    "artifact_type", "schema_version", "params", "params_hash", "weakhoi_version", "git_commit",
    "input_hashes", "library_versions", "created_utc",
)
_JSON_KEYS_ATTR = "json_attrs"     # JSON list of root attrs that hold JSON-encoded values
_COMPLETE_ATTR = "complete"        # completion marker, written last
_RESERVED = set(PROVENANCE_KEYS) | {_JSON_KEYS_ATTR, _COMPLETE_ATTR}
_ALWAYS_JSON = ("params", "input_hashes", "library_versions")

_H5_SUFFIXES = (".h5", ".hdf5")
_ZARR_SUFFIXES = (".zarr",)
_H5_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
_H5_READ_CACHE = 64 * 2**20        # HDF5 raw chunk cache per open file (bytes)
_TARGET_CHUNK_BYTES = 256 * 2**10  # rows per chunk ~ 256 KiB: cheap random access per image
_FLUSH_CHUNKS = 8                  # appender writes in batches of whole chunks
_RERUN_HINT = "re-run the stage that produces it (e.g. `dvc repro`)"
_LIBRARIES = ("numpy", "h5py", "zarr", "numcodecs", "torch", "torchvision", "open_clip_torch")


# --------------------------------------------------------------------------------------------
# atomic output


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


# --------------------------------------------------------------------------------------------
# provenance


def _canonical_json(value: Any) -> str:
    # Same canonical form as pipeline.params.params_hash (keep in sync).
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def hash_path(path: Path | str) -> str:
    """sha256 hex digest of a file, or of a directory.

    A directory's digest is the sha256 over its files (recursively; symlinked files are read,
    symlinked directories are not descended into) in sorted
    order of their POSIX relative paths, feeding for each file
    ``relpath.encode() + b"\\0" + sha256hex(file).encode() + b"\\n"``.
    """
    path = Path(path)
    if path.is_file():
        return _file_sha256(path)
    if path.is_dir():
        files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
        h = hashlib.sha256()
        for rel, p in files:
            h.update(rel.encode() + b"\0" + _file_sha256(p).encode() + b"\n")
        return h.hexdigest()
    raise DataError(f"{path}: provenance input not found (cannot hash it)")


def _weakhoi_version() -> str:
    try:
        return importlib.metadata.version("weakhoi")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _git_commit() -> str:
    """HEAD of the weakhoi checkout this module lives in (+ '-dirty'), else 'unknown'."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return "unknown"
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        commit = head.stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=30)
        if status.returncode == 0 and status.stdout.strip():
            commit += "-dirty"
        return commit or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def _attr_value(key: str, value: Any) -> tuple[Any, bool]:
    """(storable value, was JSON-encoded) for an `extra` attribute."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (str, bool, int, float)):
        return value, False
    if isinstance(value, np.ndarray):
        value = value.tolist()
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False), True
    except (TypeError, ValueError) as e:
        raise TypeError(f"provenance extra {key!r}: value is not JSON-serialisable ({e})") from e


def build_provenance(artifact_type: str, schema_version: int, params: Mapping[str, Any],
                     inputs: Sequence[Path | str] = (),
                     extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Root attributes of an artifact.

    Keys: artifact_type, schema_version, params (canonical JSON str), params_hash (sha256 of
    it, equal to ``pipeline.params.params_hash``), weakhoi_version, git_commit, input_hashes
    (JSON str ``{path: sha256}``, see `hash_path`), library_versions (JSON str), created_utc
    (ISO 8601), ``json_attrs`` (JSON list of the keys holding JSON strings) and ``extra``
    (str/bool/int/float stored as is, anything else JSON-encoded).
    """
    params_json = _canonical_json(dict(params))
    input_hashes = {Path(p).as_posix(): hash_path(p) for p in inputs}
    attrs: dict[str, Any] = {
        "artifact_type": str(artifact_type),
        "schema_version": int(schema_version),
        "params": params_json,
        "params_hash": hashlib.sha256(params_json.encode()).hexdigest(),
        "weakhoi_version": _weakhoi_version(),
        "git_commit": _git_commit(),
        "input_hashes": json.dumps(input_hashes, sort_keys=True, ensure_ascii=False),
        "library_versions": json.dumps(_library_versions(), sort_keys=True),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    json_keys = list(_ALWAYS_JSON)
    for key, value in (extra or {}).items():
        if key in _RESERVED:
            raise ValueError(f"provenance extra key {key!r} is reserved")
        attrs[key], encoded = _attr_value(key, value)
        if encoded:
            json_keys.append(key)
    attrs[_JSON_KEYS_ATTR] = json.dumps(json_keys)
    return attrs


def _decode_attrs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Root attrs -> python values; JSON-encoded ones decoded; bookkeeping keys dropped."""
    out = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in raw.items()}
    json_keys = json.loads(out.pop(_JSON_KEYS_ATTR, "[]"))
    out.pop(_COMPLETE_ATTR, None)
    for key in json_keys:
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out


# --------------------------------------------------------------------------------------------
# backends (same small interface for HDF5 and Zarr)


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


class _H5Writer:
    def __init__(self, path: Path) -> None:
        import h5py

        self._h5py = h5py
        self.f = h5py.File(path, "w-")

    def exists(self, name: str) -> bool:
        return name in self.f

    def set_attrs(self, attrs: Mapping[str, Any], group: str | None = None) -> None:
        node = self.f if group is None else self.f[group]
        for k, v in attrs.items():
            node.attrs[k] = v

    def require_group(self, name: str) -> None:
        self.f.require_group(name)

    def create_array(self, name: str, array: np.ndarray, chunk_rows: int | None) -> None:
        if array.ndim == 0 or array.size == 0:
            self.f.create_dataset(name, data=array)       # contiguous (HDF5 cannot chunk these)
            return
        rows = min(chunk_rows or _chunk_rows(array[0].nbytes), array.shape[0])
        self.f.create_dataset(name, data=array, chunks=(rows, *array.shape[1:]), **_H5_COMPRESSION)

    def create_strings(self, name: str, values: list[str]) -> None:
        dtype = self._h5py.string_dtype("utf-8")
        self.f.create_dataset(name, data=np.array(values, dtype=object), dtype=dtype)

    def create_extendable(self, name: str, dtype: np.dtype, trailing: tuple[int, ...],
                          chunk_rows: int) -> Any:
        return self.f.create_dataset(name, shape=(0, *trailing), maxshape=(None, *trailing),
                                     dtype=dtype, chunks=(chunk_rows, *trailing),
                                     **_H5_COMPRESSION)

    @staticmethod
    def extend(handle: Any, data: np.ndarray) -> None:
        n = handle.shape[0]
        handle.resize(n + data.shape[0], axis=0)
        handle[n:] = data

    def close(self) -> None:
        if self.f.id.valid:
            self.f.flush()
            self.f.close()


class _ZarrWriter:
    def __init__(self, path: Path) -> None:
        import zarr

        self.root = zarr.open_group(path, mode="w-", zarr_format=3)

    def exists(self, name: str) -> bool:
        return name in self.root

    def set_attrs(self, attrs: Mapping[str, Any], group: str | None = None) -> None:
        node = self.root if group is None else self.root[group]
        node.attrs.update(dict(attrs))

    def _parent(self, name: str) -> tuple[Any, str]:
        head, _, leaf = name.rpartition("/")
        return (self.root.require_group(head) if head else self.root), leaf

    def require_group(self, name: str) -> None:
        self.root.require_group(name)

    def create_array(self, name: str, array: np.ndarray, chunk_rows: int | None) -> None:
        parent, leaf = self._parent(name)
        if array.ndim == 0:
            arr = parent.create_array(leaf, shape=(), dtype=array.dtype)
        else:
            rows = chunk_rows or _chunk_rows(array[0].nbytes if array.shape[0] else 0)
            rows = max(1, min(rows, array.shape[0]))
            chunks = (rows, *(max(1, d) for d in array.shape[1:]))
            arr = parent.create_array(leaf, shape=array.shape, dtype=array.dtype, chunks=chunks)
        if array.size:
            arr[...] = array

    def create_strings(self, name: str, values: list[str]) -> None:
        parent, leaf = self._parent(name)
        rows = max(1, min(len(values), 4096))
        arr = parent.create_array(leaf, shape=(len(values),), dtype=str, chunks=(rows,))
        if values:
            arr[...] = np.array(values, dtype=object)

    def create_extendable(self, name: str, dtype: np.dtype, trailing: tuple[int, ...],
                          chunk_rows: int) -> Any:
        parent, leaf = self._parent(name)
        return parent.create_array(leaf, shape=(0, *trailing), dtype=dtype,
                                   chunks=(chunk_rows, *trailing))

    @staticmethod
    def extend(handle: Any, data: np.ndarray) -> None:
        n = handle.shape[0]
        handle.resize((n + data.shape[0], *handle.shape[1:]))
        handle[n:] = data

    def close(self) -> None:
        pass   # zarr's local store writes synchronously


# --------------------------------------------------------------------------------------------
# writer


def _default_schema(artifact_type: str, schema_version: int | None) -> int:
    if schema_version is not None:
        return int(schema_version)
    if artifact_type not in SCHEMA_VERSIONS:
        raise ValueError(f"unknown artifact type {artifact_type!r} (known: "
                         f"{sorted(SCHEMA_VERSIONS)}); pass schema_version explicitly")
    return SCHEMA_VERSIONS[artifact_type]


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
        self._lengths.append(int(rows or 0))
        self._buffered += int(rows or 0)
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        for col, parts in self._buffers.items():
            total = sum(len(p) for p in parts)
            chunk = self._chunk[col]
            if not final and total < chunk * _FLUSH_CHUNKS:
                continue
            data = np.concatenate(parts) if len(parts) > 1 else (parts[0] if parts else None)
            if data is None:
                continue
            n = len(data) if final else (len(data) // chunk) * chunk   # whole chunks only
            if n:
                self._backend.extend(self._handles[col], data[:n])
            self._buffers[col] = [data[n:]] if n < len(data) else []

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
    """Writes one artifact atomically; use as a context manager (see module docstring).

    The root attributes are `build_provenance(...)`; inputs are hashed when the writer is
    created. On a clean ``with`` exit the appenders are closed, ``complete=True`` is set last,
    the file is closed and renamed onto ``path``. On an exception nothing is left behind.
    """

    def __init__(self, path: Path | str, artifact_type: str, params: Mapping[str, Any],
                 inputs: Sequence[Path | str] = (), extra: Mapping[str, Any] | None = None,
                 schema_version: int | None = None) -> None:
        self.path = Path(path)
        self.format = _format_of(self.path)
        if self.format is None:
            raise ArtifactError(f"{self.path}: unsupported artifact suffix {self.path.suffix!r} "
                                f"(use .h5/.hdf5 for HDF5 or .zarr for Zarr)")
        self.artifact_type = artifact_type
        self.schema_version = _default_schema(artifact_type, schema_version)
        self.provenance = build_provenance(artifact_type, self.schema_version, params, inputs,
                                           extra)
        self._stack: ExitStack | None = None
        self._backend: Any = None
        self._appenders: list[RaggedAppender] = []

    # context management
    def __enter__(self) -> "ArtifactWriter":
        stack = ExitStack()
        tmp = stack.enter_context(atomic_output(self.path))
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


# --------------------------------------------------------------------------------------------
# reader


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
        if name not in self._handle:
            raise ArtifactError(f"{self.path}: {self.artifact_type} artifact has no {what} "
                                f"{name!r}; {_RERUN_HINT}")
        return self._handle[name]

    def array(self, name: str) -> np.ndarray:
        return np.asarray(self._node(name, "array")[...])

    def strings(self, name: str) -> list[str]:
        node = self._node(name, "string array")
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


def _open_handle(path: Path, fmt: str) -> Any:
    if fmt == "hdf5":
        import h5py

        if not path.is_file():
            raise ArtifactError(f"{path}: expected an HDF5 file, found a directory; {_RERUN_HINT}")
        try:
            return h5py.File(path, "r", rdcc_nbytes=_H5_READ_CACHE)
        except OSError as e:
            raise ArtifactError(f"{path}: not a readable HDF5 file ({e}); {_RERUN_HINT}") from e
    import zarr

    if not path.is_dir():
        raise ArtifactError(f"{path}: expected a Zarr v3 directory, found a file; {_RERUN_HINT}")
    try:
        return zarr.open_group(path, mode="r", zarr_format=3)
    except Exception as e:
        raise ArtifactError(f"{path}: not a Zarr v3 group ({type(e).__name__}: {e}); "
                            f"{_RERUN_HINT}") from e


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
