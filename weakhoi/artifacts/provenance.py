"""Provenance root attributes: schema versions, params hash, input hashes, library versions;
and decoding them back when reading.

An artifact's bytes are a function of its inputs, params and code only, so that re-running a
stage on the same inputs writes the same bytes (the hash in ``dvc.lock`` does not change and
DVC sees downstream stages as up to date). Hence no creation time, no git commit (``dvc.lock``
is committed: an artifact holding the commit, or a '-dirty' flag, would differ on every fresh
clone from the bytes the lock records), no host or path of the checkout. Those go to the
per-run record the pipeline writes next to the outputs (``pipeline/runlog.py``).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from weakhoi.errors import DataError

SCHEMA_VERSIONS: dict[str, int] = {"proposals": 1, "knowledge_bank": 1, "pair_features": 1,
                                   "hoi_scores": 1}

# Root attributes written by build_provenance (extra keys must not collide with these).
PROVENANCE_KEYS = (
    "artifact_type", "schema_version", "params", "params_hash", "weakhoi_version",
    "input_hashes", "library_versions",
)
_JSON_KEYS_ATTR = "json_attrs"     # JSON list of root attrs that hold JSON-encoded values
_COMPLETE_ATTR = "complete"        # completion marker, written last
_RESERVED = set(PROVENANCE_KEYS) | {_JSON_KEYS_ATTR, _COMPLETE_ATTR}
# Keys of earlier versions that made the bytes run-dependent; refused as `extra` too.
_RUN_DEPENDENT = ("git_commit", "created_utc")
_ALWAYS_JSON = ("params", "input_hashes", "library_versions")

_LIBRARIES = ("numpy", "h5py", "zarr", "numcodecs", "torch", "torchvision", "open_clip_torch")


def _canonical_json(value: Any) -> str:
    """Canonical JSON: sorted keys, compact separators, non-JSON values via ``str``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def params_hash(params: Mapping[str, Any]) -> str:
    """sha256 hex digest of the canonical JSON of ``params`` (the ``params_hash`` attribute)."""
    return hashlib.sha256(_canonical_json(dict(params)).encode()).hexdigest()


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
                     extra: Mapping[str, Any] | None = None,
                     known_hashes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Root attributes of an artifact.

    ``known_hashes`` ({path: sha256}) are inputs already hashed by the caller (e.g. a large
    checkpoint); they are recorded as given and not read again.

    Keys: artifact_type, schema_version, params (canonical JSON str), params_hash (sha256 of
    it, see :func:`params_hash`), weakhoi_version, input_hashes (JSON str ``{path: sha256}``,
    see `hash_path`; paths as given, so pass them relative to the project like ``dvc.yaml``
    does), library_versions (JSON str), ``json_attrs`` (JSON list of the keys holding JSON
    strings) and ``extra`` (str/bool/int/float stored as is, anything else JSON-encoded).
    Nothing run-dependent (time, commit, host): see the module docstring.
    """
    params_json = _canonical_json(dict(params))
    input_hashes = {Path(p).as_posix(): str(h) for p, h in (known_hashes or {}).items()}
    input_hashes.update({Path(p).as_posix(): hash_path(p) for p in inputs
                         if Path(p).as_posix() not in input_hashes})
    attrs: dict[str, Any] = {
        "artifact_type": str(artifact_type),
        "schema_version": int(schema_version),
        "params": params_json,
        "params_hash": hashlib.sha256(params_json.encode()).hexdigest(),  # == params_hash(params)
        "weakhoi_version": _weakhoi_version(),
        "input_hashes": json.dumps(input_hashes, sort_keys=True, ensure_ascii=False),
        "library_versions": json.dumps(_library_versions(), sort_keys=True),
    }
    json_keys = list(_ALWAYS_JSON)
    for key, value in (extra or {}).items():
        if key in _RESERVED:
            raise ValueError(f"provenance extra key {key!r} is reserved")
        if key in _RUN_DEPENDENT:
            raise ValueError(f"provenance extra key {key!r} is run-dependent and would make the "
                             f"artifact's bytes differ between runs; it belongs in the run "
                             f"record (pipeline/runlog.py)")
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


def _default_schema(artifact_type: str, schema_version: int | None) -> int:
    if schema_version is not None:
        return int(schema_version)
    if artifact_type not in SCHEMA_VERSIONS:
        raise ValueError(f"unknown artifact type {artifact_type!r} (known: "
                         f"{sorted(SCHEMA_VERSIONS)}); pass schema_version explicitly")
    return SCHEMA_VERSIONS[artifact_type]
