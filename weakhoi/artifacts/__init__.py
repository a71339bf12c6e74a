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

Everything is written to a hidden temp sibling (``.<name>.tmp-<pid>-<random>``) and renamed onto
the final path only when the ``with`` block exits without an exception; the completion marker
attribute ``complete`` is set last. An existing path is replaced only when it holds an artifact
of the same type (see `atomic` for the replace policy of every output); stale temp siblings of
killed writers are removed. The bytes are a function of the content only (no timestamps).
Reading::

    with open_artifact(path, "pair_features") as art:
        pairs = art.ragged("pairs")
        pairs[i]["spatial"]                                     # [P_i, 36] float32

Ragged layout (CSR): ``<group>/indptr`` [n+1] int64 with ``indptr[0] == 0``, and one flat array
``<group>/<column>`` [indptr[-1], ...] per column; rows of image i are
``indptr[i]:indptr[i+1]``. All arrays are chunked and compressed along axis 0 (rows).

Modules (imports only go downward, in this order): `layout` (formats, entry names, chunking
knobs), `atomic` (`atomic_output`), `provenance` (`build_provenance`, `hash_path`, `params_hash`,
`SCHEMA_VERSIONS`), `backends` (HDF5/Zarr), `writer` (`ArtifactWriter`, `RaggedAppender`),
`reader` (`open_artifact`, `Artifact`, `RaggedGroup`).
"""
from __future__ import annotations

from .atomic import (JSON_KIND, OUTPUT_MARKER, PNG_KIND, artifact_kind, atomic_output,
                     check_replaceable, describe, directory_kind, remove_stale_siblings, write_json)
from .provenance import PROVENANCE_KEYS, SCHEMA_VERSIONS, build_provenance, hash_path, params_hash
from .reader import Artifact, RaggedGroup, open_artifact
from .writer import ArtifactWriter, RaggedAppender

__all__ = [
    "PROVENANCE_KEYS",
    "SCHEMA_VERSIONS",
    "atomic_output",
    "write_json",
    "check_replaceable",
    "describe",
    "artifact_kind",
    "directory_kind",
    "remove_stale_siblings",
    "JSON_KIND",
    "PNG_KIND",
    "OUTPUT_MARKER",
    "build_provenance",
    "hash_path",
    "params_hash",
    "ArtifactWriter",
    "RaggedAppender",
    "open_artifact",
    "Artifact",
    "RaggedGroup",
]
