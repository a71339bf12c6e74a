"""Output: the HICO-DET-layout JSON dict of a split and deterministic JSON dumping, used by
:func:`~weakhoi.data.synhoi.generate` (which writes atomically via ``atomic_output``)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ...boxes import continuous_to_hico
from ...vocab import Vocabulary
from .config import GENERATOR_NAME, GENERATOR_VERSION, SynHOIConfig
from .scene import ImageRecord

def _hico_box(b: np.ndarray, w: int, h: int) -> list[float]:
    """Continuous box -> integer pixel edges inside the image -> HICO 1-based inclusive."""
    x1 = max(0, math.floor(b[0]))
    y1 = max(0, math.floor(b[1]))
    x2 = min(w, max(math.ceil(b[2]), x1 + 1))
    y2 = min(h, max(math.ceil(b[3]), y1 + 1))
    return [float(v) for v in continuous_to_hico(np.array([[x1, y1, x2, y2]], dtype=np.float64))[0]]


def split_json(cfg: SynHOIConfig, split: str, names: list[str], records: list[ImageRecord],
               vocab: Vocabulary) -> dict[str, Any]:
    """The HICO-DET-layout dict of one split (vocabulary with the rare split included)."""
    ann, sizes, empty, inst = [], [], [], []
    for i, r in enumerate(records):
        ann.append({
            "boxes_h": [_hico_box(p[0], r.width, r.height) for p in r.pairs],
            "boxes_o": [_hico_box(p[1], r.width, r.height) for p in r.pairs],
            "hoi": [int(p[2]) for p in r.pairs],
            "object": [int(p[3]) for p in r.pairs],
            "verb": [int(p[4]) for p in r.pairs],
        })
        inst.append({
            "boxes": [_hico_box(b, r.width, r.height) for b in r.boxes],
            "object": [int(v) for v in r.labels],
            "interacting": [int(v) for v in r.interacting],
        })
        sizes.append([r.width, r.height])
        if not r.pairs:
            empty.append(i)
    out: dict[str, Any] = {"filenames": names, "size": sizes, "annotation": ann, "empty": empty,
                           "instances": inst}
    out.update(vocab.to_hicodet_json_dict())
    out["generator"] = {"name": GENERATOR_NAME, "version": GENERATOR_VERSION, "seed": cfg.seed,
                        "split": split, "params": cfg.params(),
                        "rare_rule": f"HOI class with fewer than {cfg.rare_threshold} train pairs"}
    return out


def dump_json(obj: Any, path: Path) -> None:
    """Deterministic JSON: sorted keys, compact separators, floats via repr, no timestamps."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")

