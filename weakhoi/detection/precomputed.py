"""Import detections published by other HOI projects: one ``<image stem>.json`` per image with
``boxes`` [[x1, y1, x2, y2], ...], ``scores`` and ``labels``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..boxes import hico_to_continuous, xywh_to_xyxy
from ..data.io import numeric_rows
from ..errors import ConfigError, DataError
from ..vocab import Vocabulary, coco91_to_object
from .common import ImageDetections, Proposals, map_labels

LABEL_SPACES = ("coco", "dataset")
BOX_FORMATS = ("continuous", "hico", "xywh")
MISSING = ("empty", "error")


def detection_file(directory: Path, file_name: str) -> Path:
    """``<dir>/<file_name with .json>`` if it exists (keeps sub-folders), else ``<dir>/<stem>.json``."""
    nested = directory / Path(file_name).with_suffix(".json")
    return nested if nested.is_file() else directory / (Path(file_name).stem + ".json")


def read_detection_file(path: Path, box_format: str = "continuous") -> ImageDetections:
    """One JSON file -> detections with raw labels; DataError naming the file and key."""
    try:
        with path.open("r", encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable JSON file ({e})") from None
    if not isinstance(d, dict):
        raise DataError(f"{path}: expected an object with keys boxes, scores, labels")
    cols = {}
    for key, tail in (("boxes", (4,)), ("scores", ()), ("labels", ())):
        if key not in d:
            raise DataError(f"{path}: missing key {key!r}")
        if not isinstance(d[key], list):
            raise DataError(f"{path}: {key!r} must be a list, got {type(d[key]).__name__}")
        want = "a list of 4 numbers [x1, y1, x2, y2]" if tail else "a number"
        cols[key] = numeric_rows(d[key], tail, lambda j, v, key=key, want=want:
                                 f"{path}: {key}[{j}] (detection {j}) must be {want}, got {v!r}")
    boxes = cols["boxes"]
    n = len(boxes)
    for key in ("scores", "labels"):
        if cols[key].shape != (n,):
            raise DataError(f"{path}: {key!r} has shape {cols[key].shape}, expected ({n},) like 'boxes'")
    for key in ("boxes", "scores"):
        finite = np.isfinite(cols[key])
        bad = np.flatnonzero(~(finite.all(axis=1) if finite.ndim == 2 else finite))
        if bad.size:
            raise DataError(f"{path}: {key}[{bad[0]}] (detection {bad[0]}) is not finite "
                            f"(NaN or +-inf): {cols[key][bad[0]].tolist()}")
    labels = cols["labels"]
    bad = np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))
    if bad.size:
        raise DataError(f"{path}: labels[{bad[0]}] (detection {bad[0]}): labels must be integers, "
                        f"got {float(labels[bad[0]])!r}")
    if box_format == "hico":
        boxes = hico_to_continuous(boxes)
    elif box_format == "xywh":
        boxes = xywh_to_xyxy(boxes)
    return ImageDetections.from_arrays(boxes, cols["scores"], labels.astype(np.int64))


def import_precomputed(directory: Path | str, file_names: Sequence[str], image_sizes: np.ndarray,
                       vocab: Vocabulary, label_space: str = "coco", box_format: str = "continuous",
                       missing: str = "empty") -> Proposals:
    """Detections for ``file_names`` read from ``directory``.

    ``label_space``: 'coco' (COCO-91 category ids, mapped to ``vocab``; classes outside it
    dropped) or 'dataset' (object indices of ``vocab``). ``box_format``: 'continuous' xyxy,
    'hico' (1-based inclusive pixel indices) or 'xywh' (COCO). ``missing``: 'empty' (zero
    detections) or 'error' for images without a file."""
    directory = Path(directory)
    if label_space not in LABEL_SPACES:
        raise ConfigError(f"import_precomputed: label_space {label_space!r} not in {LABEL_SPACES}")
    if box_format not in BOX_FORMATS:
        raise ConfigError(f"import_precomputed: box_format {box_format!r} not in {BOX_FORMATS}")
    if missing not in MISSING:
        raise ConfigError(f"import_precomputed: missing {missing!r} not in {MISSING}")
    if not directory.is_dir():
        raise DataError(f"import_precomputed: directory {directory} is not a directory")
    table = coco91_to_object(vocab) if label_space == "coco" else np.arange(vocab.num_objects)
    dets, n_missing = [], 0
    for name in file_names:
        path = detection_file(directory, name)
        if not path.is_file():
            if missing == "error":
                raise DataError(f"no detection file for image {name!r} (looked for {path})")
            n_missing += 1
            dets.append(ImageDetections.empty())
            continue
        dets.append(map_labels(read_detection_file(path, box_format), table, source=str(path)))
    meta = {"dir": str(directory), "label_space": label_space, "box_format": box_format,
            "missing": missing, "num_missing_files": n_missing}
    return Proposals(list(file_names), image_sizes, dets, "precomputed", meta)
