"""HOI detections interchange JSON (what ``weakhoi evaluate hicodet`` reads).

Layout (one entry per image; images without detections may be omitted)::

    {"box_convention": "hico",                  # optional, default "hico"
     "images": [{"file_name": "HICO_test2015_00000001.jpg",
                 "boxes_h": [[x1, y1, x2, y2], ...],   # [K, 4] human box of each detection
                 "boxes_o": [[x1, y1, x2, y2], ...],   # [K, 4] object box
                 "hoi":     [int, ...],                # [K] HOI class, 0-BASED (vocabulary order,
                                                       #     like the `hoi` field of instances_*.json)
                 "scores":  [float, ...]}, ...]}       # [K]

One entry per scored (human box, object box, HOI class) triple. Box conventions:

* ``"hico"`` (default): the frame of the HICO-DET annotation files (``anno_bbox.mat``,
  ``instances_*.json``, SynHOI JSON): 1-based inclusive pixel indices. A box covering pixel
  columns 1..10 has x1 = 1, x2 = 10. This is the frame the official MATLAB code compares in.
* ``"continuous"``: weakhoi's internal continuous xyxy (torchvision); x1 = 0, x2 = 10 above.

In memory (:class:`HOIDetections`) boxes are continuous, as everywhere in weakhoi, and rows are
ordered by dataset image order, keeping the file's order within an image (the order the
official evaluation uses to break score ties).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..artifacts import JSON_KIND, atomic_output
from ..boxes import continuous_to_hico, hico_to_continuous
from ..data.io import load_json, numeric_rows
from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from ..data.records import HOIDataset

BOX_CONVENTIONS = ("hico", "continuous")


@dataclass(frozen=True, eq=False)
class HOIDetections:
    """Flat HOI detections of one split; rows sorted by image (stable)."""

    image_index: np.ndarray   # [D] int64, index of the image in the dataset
    boxes_h: np.ndarray       # [D, 4] float64, continuous xyxy
    boxes_o: np.ndarray       # [D, 4] float64, continuous xyxy
    hoi: np.ndarray           # [D] int64, 0-based HOI class
    scores: np.ndarray        # [D] float64
    #: [D, 4] the boxes exactly as read in the 1-based "hico" frame (None if unknown). The
    #: HICO-DET evaluator compares these, so that the x - 1 + 1 round trip of fractional
    #: coordinates (inexact for |x| < 1) cannot move an overlap across 0.5.
    boxes_h_hico: np.ndarray | None = None
    boxes_o_hico: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.hoi.shape[0])

    @classmethod
    def empty(cls) -> "HOIDetections":
        return cls(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0, np.int64),
                   np.zeros(0))

    def select(self, mask: np.ndarray) -> "HOIDetections":
        return HOIDetections(self.image_index[mask], self.boxes_h[mask], self.boxes_o[mask],
                             self.hoi[mask], self.scores[mask],
                             None if self.boxes_h_hico is None else self.boxes_h_hico[mask],
                             None if self.boxes_o_hico is None else self.boxes_o_hico[mask])

    @classmethod
    def from_arrays(cls, image_index, boxes_h, boxes_o, hoi, scores, boxes_h_hico=None,
                    boxes_o_hico=None) -> "HOIDetections":
        """Build from unsorted arrays (continuous boxes; optional original 1-based boxes);
        rows are stably sorted by image."""
        image_index = np.asarray(image_index, dtype=np.int64).reshape(-1)
        order = np.argsort(image_index, kind="stable")

        def boxes(b):
            return None if b is None else np.asarray(b, dtype=np.float64).reshape(-1, 4)[order]
        return cls(image_index[order], boxes(boxes_h), boxes(boxes_o),
                   np.asarray(hoi, dtype=np.int64).reshape(-1)[order],
                   np.asarray(scores, dtype=np.float64).reshape(-1)[order],
                   boxes(boxes_h_hico), boxes(boxes_o_hico))


def _flat_column(values: list, tail: tuple[int, ...], key: str, path: Path, offsets: np.ndarray,
                 names: list[str]) -> np.ndarray:
    """[D, *tail] float64 from the detections of all entries (concatenated); DataError naming
    the image entry, its file name and the detection for a value that is not a number / not a
    list of ``tail[0]`` numbers."""
    want = f"a list of {tail[0]} numbers [x1, y1, x2, y2]" if tail else "a number"

    def message(j: int, v: object) -> str:
        e = int(np.searchsorted(offsets, j, side="right") - 1)
        return (f"{path}: images[{e}] ({names[e]}), detection {j - offsets[e]}: {key} must be "
                f"{want}, got {v!r}")
    return numeric_rows(values, tail, message)


def read_detections_json(path: Path | str, dataset: "HOIDataset") -> HOIDetections:
    """Read the interchange JSON against ``dataset`` (file names -> image indices).

    DataError naming the file and entry (image entry, file name, detection) for: unreadable
    JSON, missing keys, values that are not lists, length mismatches, unknown file names, a
    file name listed twice, a box that is not 4 numbers, a score that is not a number, HOI ids
    that are not integers in ``[0, num_hois)``, non-finite boxes or scores (NaN, +-inf).
    Images of ``dataset`` that the file omits have no detections.
    """
    path = Path(path)
    doc = load_json(path, "detections file")
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise DataError(f"{path}: expected an object with an 'images' list")
    convention = doc.get("box_convention", "hico")
    if convention not in BOX_CONVENTIONS:
        raise DataError(f"{path}: 'box_convention' must be one of {BOX_CONVENTIONS}, got {convention!r}")

    n_hoi = dataset.vocab.num_hois
    seen: set[str] = set()
    img_ids: list[int] = []
    counts: list[int] = []
    bh: list = []
    bo: list = []
    hoi: list = []
    sc: list = []
    for k, entry in enumerate(doc["images"]):
        try:
            name = entry["file_name"]
            eh, eo, ec, es = entry["boxes_h"], entry["boxes_o"], entry["hoi"], entry["scores"]
        except (KeyError, TypeError) as e:
            what = f"lacks key {e.args[0]!r}" if isinstance(e, KeyError) else "is not an object"
            raise DataError(f"{path}: images[{k}] {what}") from None
        try:
            i = dataset.index_of(name)
        except (DataError, TypeError):   # unknown (or unhashable) file name
            raise DataError(f"{path}: images[{k}] file_name {name!r} is not an image of "
                            f"{dataset.source or dataset.name}") from None
        if name in seen:
            raise DataError(f"{path}: images[{k}] file_name {name!r} listed twice")
        seen.add(name)
        for key, value in (("boxes_h", eh), ("boxes_o", eo), ("hoi", ec), ("scores", es)):
            if not isinstance(value, list):
                raise DataError(f"{path}: images[{k}] ({name}): {key!r} must be a list, got "
                                f"{type(value).__name__}")
        n = len(ec)
        if not (len(eh) == len(eo) == len(es) == n):
            raise DataError(f"{path}: images[{k}] ({name}): boxes_h/boxes_o/hoi/scores lengths differ "
                            f"({len(eh)}/{len(eo)}/{n}/{len(es)})")
        img_ids.append(i)
        counts.append(n)
        bh.extend(eh)
        bo.extend(eo)
        hoi.extend(ec)
        sc.extend(es)

    counts_a = np.asarray(counts, dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts_a)))
    names = [dataset.records[i].file_name for i in img_ids]
    boxes_h = _flat_column(bh, (4,), "boxes_h", path, offsets, names)   # [D, 4]
    boxes_o = _flat_column(bo, (4,), "boxes_o", path, offsets, names)   # [D, 4]
    scores = _flat_column(sc, (), "score", path, offsets, names)        # [D]
    hoi_f = _flat_column(hoi, (), "hoi", path, offsets, names)          # [D]

    def _bad(mask: np.ndarray, what: str) -> None:
        if mask.any():
            j = int(np.flatnonzero(mask)[0])
            e = int(np.searchsorted(offsets, j, side="right") - 1)
            raise DataError(f"{path}: images[{e}] ({names[e]}), detection {j - offsets[e]}: {what}")

    _bad(~np.isfinite(hoi_f) | (hoi_f != np.floor(hoi_f)),
         "HOI id is not an integer (ids are 0-based class indices)")
    _bad((hoi_f < 0) | (hoi_f >= n_hoi), f"HOI id outside 0..{n_hoi - 1} (ids are 0-based)")
    _bad(~np.isfinite(boxes_h).all(axis=1) | ~np.isfinite(boxes_o).all(axis=1), "non-finite box")
    _bad(~np.isfinite(scores), "score is not finite (NaN or +-inf)")

    raw_h = raw_o = None
    if convention == "hico":
        raw_h, raw_o = boxes_h, boxes_o            # kept verbatim for the evaluator
        boxes_h = hico_to_continuous(boxes_h)
        boxes_o = hico_to_continuous(boxes_o)
    image_index = np.repeat(np.asarray(img_ids, dtype=np.int64), counts_a)  # [D]
    return HOIDetections.from_arrays(image_index, boxes_h, boxes_o, hoi_f.astype(np.int64), scores,
                                     raw_h, raw_o)


def _fmt(values: np.ndarray, decimals: int | None) -> list:
    if decimals is not None:
        values = np.round(values, decimals)
    return values.tolist()


def write_detections_json(path: Path | str, file_names: Sequence[str], detections: HOIDetections,
                          box_convention: str = "hico", box_decimals: int | None = None,
                          score_decimals: int | None = None) -> None:
    """Write ``detections`` (continuous boxes, ``image_index`` into ``file_names``) as the
    interchange JSON, atomically. Boxes are written in ``box_convention`` (default ``"hico"``:
    1-based pixel indices, x1 + 1 / y1 + 1). ``*_decimals`` round the written values (None keeps
    full float precision; 2 decimals for boxes keeps files about half as large)."""
    if box_convention not in BOX_CONVENTIONS:
        raise ValueError(f"box_convention must be one of {BOX_CONVENTIONS}")
    path = Path(path)
    d = detections
    bh = continuous_to_hico(d.boxes_h) if box_convention == "hico" else np.asarray(d.boxes_h, np.float64)
    bo = continuous_to_hico(d.boxes_o) if box_convention == "hico" else np.asarray(d.boxes_o, np.float64)
    order = np.argsort(d.image_index, kind="stable")
    img = d.image_index[order]
    if img.size and (img[0] < 0 or img[-1] >= len(file_names)):
        raise ValueError("image_index outside file_names")
    bounds = np.flatnonzero(np.diff(img)) + 1
    starts = np.concatenate(([0], bounds)) if img.size else np.zeros(0, np.int64)
    ends = np.concatenate((bounds, [img.size])) if img.size else np.zeros(0, np.int64)
    # streamed one image per line into a temp sibling, renamed onto `path` only when complete
    with atomic_output(path, JSON_KIND) as tmp, tmp.open("w", encoding="utf-8") as f:
        f.write('{"box_convention": %s, "images": [' % json.dumps(box_convention))
        for n, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
            rows = order[s:e]
            entry = {"file_name": file_names[int(img[s])],
                     "boxes_h": _fmt(bh[rows], box_decimals), "boxes_o": _fmt(bo[rows], box_decimals),
                     "hoi": d.hoi[rows].tolist(), "scores": _fmt(d.scores[rows], score_decimals)}
            if any(not math.isfinite(v) for v in entry["scores"]):
                raise ValueError(f"non-finite score in image {entry['file_name']}")
            f.write((",\n" if n else "\n") + json.dumps(entry, separators=(",", ":")))
        f.write("\n]}\n")
