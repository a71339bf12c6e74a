"""Training checkpoints: atomic, complete (weights + optimizer + schedule position + RNG +
sampler position + log history), read with ``torch.load(weights_only=True)``, and kept in a
directory keyed by everything that determines the run, so a run never resumes another one's
checkpoint.

Layout: ``<root>/<key>/ckpt-<iteration:08d>.pt`` and ``<root>/<key>/run.json`` (what the key
was computed from, for humans). ``key`` = sha256 of the canonical JSON of the training params,
the input artifacts' content hashes and the code version (:func:`run_key`).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from ..artifacts import atomic_output, write_json
from ..errors import ArtifactError

_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")


def run_key(params: Mapping[str, Any], input_hashes: Mapping[str, str], code: str = "") -> str:
    """Hex key of a training run (params, input content hashes, code version)."""
    doc = {"params": params, "inputs": dict(sorted(input_hashes.items())), "code": code}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"),
                                     default=str).encode()).hexdigest()[:24]


class CheckpointDir:
    """Checkpoints of one run (one key) under ``root``."""

    def __init__(self, root: Path | str, key: str, describe: Mapping[str, Any] | None = None,
                 keep: int = 1) -> None:
        self.dir = Path(root) / key
        self.keep = max(1, int(keep))
        self.describe = dict(describe or {})

    def _existing(self) -> list[tuple[int, Path]]:
        if not self.dir.is_dir():
            return []
        found = []
        for p in self.dir.iterdir():
            m = _NAME.match(p.name)
            if m and p.is_file():
                found.append((int(m.group(1)), p))
        return sorted(found)

    def save(self, iteration: int, state: Mapping[str, Any]) -> Path:
        """Write ``state`` as the checkpoint of ``iteration`` (atomically), then drop older ones
        beyond ``keep``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.dir / "run.json").exists():
            write_json(self.dir / "run.json", self.describe, sort_keys=True, default=str)
        path = self.dir / f"ckpt-{iteration:08d}.pt"
        with atomic_output(path) as tmp:
            torch.save(dict(state), tmp)
        for _, old in self._existing()[:-self.keep]:
            old.unlink(missing_ok=True)
        return path

    def latest(self) -> tuple[int, dict[str, Any]] | None:
        """(iteration, state) of the newest readable checkpoint, or None."""
        for it, path in reversed(self._existing()):
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 - a damaged file is reported, never trusted
                raise ArtifactError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e}); "
                                    f"delete it to restart that run from the previous one") from None
            if int(state.get("iteration", -1)) != it:
                raise ArtifactError(f"{path}: checkpoint says iteration "
                                    f"{state.get('iteration')}, its name {it}")
            return it, state
        return None
