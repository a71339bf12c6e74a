"""Format backends with the same small interface: `_H5Writer` (h5py) and `_ZarrWriter`
(Zarr v3) for writing, `_open_handle` for read-only access."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from weakhoi.errors import ArtifactError

from .layout import _RERUN_HINT, _chunk_rows

_H5_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
_H5_READ_CACHE = 64 * 2**20        # HDF5 raw chunk cache per open file (bytes)
# File-format range of written HDF5 files: fixed so the bytes do not depend on which HDF5 the
# installed h5py bundles ("latest" would follow it); v1.10 readers and newer open them.
_H5_LIBVER = ("LIBVER_EARLIEST", "LIBVER_V110")   # names in h5py.h5f


class _H5Writer:
    """HDF5 writer whose bytes depend on the content only: no object timestamps (the file's
    creation plist, every group and every dataset are created with ``track_times`` off; HDF5
    tracks them by default) and a fixed file-format range (:data:`_H5_LIBVER`), so the same
    content written twice, at any time, gives the same file."""

    def __init__(self, path: Path) -> None:
        import h5py

        self._h5py = h5py
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
        fapl.set_libver_bounds(*(getattr(h5py.h5f, b) for b in _H5_LIBVER))
        fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
        fcpl.set_obj_track_times(False)                  # the root group
        fid = h5py.h5f.create(str(path).encode(), h5py.h5f.ACC_EXCL, fcpl=fcpl, fapl=fapl)
        self.f = h5py.File(fid)
        self._gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        self._gcpl.set_obj_track_times(False)

    def exists(self, name: str) -> bool:
        return name in self.f

    def set_attrs(self, attrs: Mapping[str, Any], group: str | None = None) -> None:
        node = self.f if group is None else self.f[group]
        for k, v in attrs.items():
            node.attrs[k] = v

    def require_group(self, name: str) -> None:
        """Create ``name`` and its missing parents explicitly (h5py's implicit intermediate
        groups would track times)."""
        path = ""
        for part in name.split("/"):
            path = f"{path}/{part}" if path else part
            if path not in self.f:
                self._h5py.h5g.create(self.f.id, path.encode(), gcpl=self._gcpl)

    def _parent(self, name: str) -> None:
        head = name.rpartition("/")[0]
        if head:
            self.require_group(head)

    def create_array(self, name: str, array: np.ndarray, chunk_rows: int | None) -> None:
        self._parent(name)
        if array.ndim == 0 or array.size == 0:
            # contiguous (HDF5 cannot chunk these)
            self.f.create_dataset(name, data=array, track_times=False)
            return
        rows = min(chunk_rows or _chunk_rows(array[0].nbytes), array.shape[0])
        self.f.create_dataset(name, data=array, chunks=(rows, *array.shape[1:]), track_times=False,
                              **_H5_COMPRESSION)

    def create_strings(self, name: str, values: list[str]) -> None:
        self._parent(name)
        dtype = self._h5py.string_dtype("utf-8")
        self.f.create_dataset(name, data=np.array(values, dtype=object), dtype=dtype,
                              track_times=False)

    def create_extendable(self, name: str, dtype: np.dtype, trailing: tuple[int, ...],
                          chunk_rows: int) -> Any:
        self._parent(name)
        return self.f.create_dataset(name, shape=(0, *trailing), maxshape=(None, *trailing),
                                     dtype=dtype, chunks=(chunk_rows, *trailing),
                                     track_times=False, **_H5_COMPRESSION)

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
