"""Shared helpers of the dataset readers (and of the evaluation's file parsers).

* :func:`load_json` -- parse a JSON file; :class:`~weakhoi.errors.DataError` naming the file.
* :func:`read_image_size`, :func:`resolve_sizes` -- image sizes for layouts that do not store
  them (from a sizes mapping or the image headers; optionally unknown).
* :func:`build_record` -- validate one image's pairs and build its
  :class:`~weakhoi.data.records.ImageAnnotation`.
* :func:`check_images`, :func:`split_from_name` -- image-root check and split name guess.

Every problem a user can cause raises :class:`~weakhoi.errors.DataError` naming the file and
the entry.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..boxes import invalid_box_mask
from ..errors import DataError
from ..vocab import Vocabulary
from .records import ImageAnnotation

__all__ = ["load_json", "as_int", "numeric_rows", "read_image_size", "resolve_sizes", "build_record",
           "check_images", "check_image_headers", "split_from_name"]


def load_json(path: Path | str, what: str = "annotation file") -> Any:
    """Parse a JSON file; DataError naming the file (and ``what`` it is) if it is missing,
    unreadable or not JSON."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: {what} not found")
    try:
        with p.open("r", encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{p}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: cannot read {what} ({e})") from None


def as_int(value: Any, where: str, what: str) -> int:
    """``value`` as an int: an integer, or a float with an integral finite value (JSON/MATLAB
    store ids as doubles); DataError naming ``where`` and ``what`` otherwise (3.5, "7", true,
    NaN are refused rather than truncated)."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{where}: {what} must be an integer, got {value!r}")
    if isinstance(value, float) and not (np.isfinite(value) and value == int(value)):
        raise DataError(f"{where}: {what} must be an integer, got {value!r}")
    return int(value)


def numeric_rows(values: Sequence[Any], tail: tuple[int, ...],
                 message: Callable[[int, Any], str]) -> np.ndarray:
    """``values`` (one row per element) as a float64 array [len(values), *tail]. When an element
    is not a number (``tail == ()``) or not a list of ``tail[0]`` numbers (a box of 3 values, a
    string score, a nested list), DataError with ``message(index, element)`` for the first such
    element. The fast path converts everything at once; rows are only inspected one by one
    when it fails."""
    def numeric(v: Any, shape: tuple[int, ...]) -> np.ndarray | None:
        try:
            a = np.array(v)
        except (ValueError, TypeError):   # ragged nesting
            return None
        return a.astype(np.float64) if a.dtype.kind in "iuf" and a.shape == shape else None

    if len(values) == 0:
        return np.zeros((0, *tail))
    out = numeric(values, (len(values), *tail))
    if out is not None:
        return out
    for j, v in enumerate(values):
        if numeric(v, tail) is None:
            raise DataError(message(j, v))
    raise DataError(message(len(values) - 1, values[-1]))   # pragma: no cover


def read_image_size(path: Path, where: str) -> tuple[int, int]:
    """(width, height) from the image header (PIL opens lazily; pixels are not decoded)."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DataError(f"missing image {path} ({where})")
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:  # PIL's header errors
        raise DataError(f"cannot read image {path} ({where}): {e or type(e).__name__}") from None


def resolve_sizes(file_names: Sequence[str], source: Path, images: Path | None,
                  sizes: Mapping[str, Sequence[int]] | None, layout: str,
                  require: bool = True) -> list[tuple[int, int]]:
    """Image sizes (width, height) for a layout that does not store them: from ``sizes`` (file
    name -> (width, height)) first, else from the image headers under ``images``.

    With neither given: DataError if ``require``, else every size is (0, 0) (unknown; readers
    then skip the inside-the-image box check, see :func:`build_record`)."""
    if sizes is None and images is None:
        if not require:
            return [(0, 0)] * len(file_names)
        raise DataError(f"{source}: the {layout} layout stores no image sizes; pass an image root "
                        f"(images=...) or a sizes mapping (file name -> (width, height))")
    out = []
    for i, fn in enumerate(file_names):
        where = f"entry {i} of {source}"
        if sizes is not None and fn in sizes:
            wh = sizes[fn]
            try:
                w, h = int(wh[0]), int(wh[1])
            except (TypeError, ValueError, IndexError):
                raise DataError(f"{source}: entry {i} ({fn}): bad size {wh!r} in sizes mapping") from None
            out.append((w, h))
        elif images is not None:
            out.append(read_image_size(Path(images) / fn, where))
        else:
            raise DataError(f"{source}: entry {i} ({fn}): no size in the sizes mapping")
    return out


def build_record(vocab: Vocabulary, where: str, file_name: str, width: int, height: int,
                 boxes_h: np.ndarray, boxes_o: np.ndarray, hoi: np.ndarray, verb: np.ndarray,
                 obj: np.ndarray, image_id: int | None = None,
                 allow_missing_object: bool = False, check_extent: bool = True) -> ImageAnnotation:
    """Validate one image's pairs (continuous boxes) and build its :class:`ImageAnnotation`.

    Checks: equal lengths; class ids in range; (verb, object) equal to the HOI class's;
    boxes finite, non-degenerate and inside the image (1 px tolerance). With
    ``allow_missing_object`` rows whose object is -1 must have an all-NaN object box and
    HOI -1 (V-COCO role objects that are not annotated). ``check_extent=False`` skips the
    inside-the-image test (image size unknown).
    """
    n = len(hoi)
    if not (len(boxes_h) == len(boxes_o) == len(verb) == len(obj) == n):
        raise DataError(f"{where}: boxes_h/boxes_o/hoi/verb/object lengths differ "
                        f"({len(boxes_h)}/{len(boxes_o)}/{n}/{len(verb)}/{len(obj)})")
    if width <= 0 or height <= 0:
        if check_extent:
            raise DataError(f"{where}: bad image size {width}x{height}")
    missing = (obj == -1) if allow_missing_object else np.zeros(n, dtype=bool)
    present = ~missing
    for name, arr, hi in (("verb", verb, vocab.num_verbs), ("object", obj, vocab.num_objects)):
        bad = np.flatnonzero(((arr < 0) | (arr >= hi)) & (present if name == "object" else True))
        if bad.size:
            raise DataError(f"{where}: pair {bad[0]}: unknown {name} id {arr[bad[0]]} "
                            f"(expected 0..{hi - 1})")
    bad = np.flatnonzero(((hoi < 0) | (hoi >= vocab.num_hois)) & present)
    if bad.size:
        raise DataError(f"{where}: pair {bad[0]}: unknown HOI id {hoi[bad[0]]} "
                        f"(expected 0..{vocab.num_hois - 1})")
    if missing.any() and (hoi[missing] != -1).any():
        raise DataError(f"{where}: pairs without an object must have HOI -1")
    h = np.where(present, hoi, 0)
    bad = np.flatnonzero(present & ((vocab.hoi_verb[h] != verb) | (vocab.hoi_object[h] != obj)))
    if bad.size:
        k = int(bad[0])
        raise DataError(f"{where}: pair {k}: verb {verb[k]} / object {obj[k]} do not match HOI "
                        f"class {hoi[k]} ({vocab.hoi_name(int(hoi[k]))})")
    w = float(width) if check_extent else np.inf
    hh = float(height) if check_extent else np.inf
    for name, b, mask in (("human", boxes_h, np.ones(n, bool)), ("object", boxes_o, present)):
        bad = np.flatnonzero(invalid_box_mask(b, w, hh) & mask)
        if bad.size:
            k = int(bad[0])
            raise DataError(f"{where}: pair {k}: {name} box {b[k].tolist()} (continuous xyxy) is "
                            f"degenerate or outside the {width}x{height} image")
    if missing.any() and not np.isnan(boxes_o[missing]).all():
        raise DataError(f"{where}: pairs without an object must have a NaN object box")
    return ImageAnnotation(file_name, int(width), int(height),
                           np.ascontiguousarray(boxes_h, dtype=np.float64).reshape(-1, 4),
                           np.ascontiguousarray(boxes_o, dtype=np.float64).reshape(-1, 4),
                           hoi.astype(np.int64), verb.astype(np.int64), obj.astype(np.int64),
                           image_id)


def check_images(records: Sequence[ImageAnnotation], images: Path | None, source: Path) -> None:
    """DataError naming the first record whose image is missing under ``images`` (no-op for
    ``images=None``)."""
    if images is None:
        return
    root = Path(images)
    if not root.is_dir():
        raise DataError(f"image root {root} is not a directory (images of {source})")
    for i, r in enumerate(records):
        if not (root / r.file_name).is_file():
            raise DataError(f"missing image {root / r.file_name} (entry {i} of {source})")


def check_image_headers(records: Sequence[ImageAnnotation], images: Path | str | None,
                        source: Path | str) -> None:
    """DataError naming the first problem: ``images`` missing or not a directory, or the first
    record whose image is missing under it or has a header PIL cannot read (an empty file,
    garbage, a truncated header). Only headers are read, no pixels are decoded (about 0.1 ms
    per PNG), so every detection backend can afford it before doing any work."""
    if images is None:
        raise DataError(f"no image directory given for the images of {source}")
    root = Path(images)
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise DataError(f"image directory {root} {what} (images of {source})")
    for i, r in enumerate(records):
        read_image_size(root / r.file_name, f"entry {i} ({r.file_name}) of {source}")


def split_from_name(path: Path, split: str | None) -> str:
    """``split`` if given, else 'trainval'/'train'/'val'/'test' found in the file name, else
    the file's stem."""
    if split:
        return split
    stem = path.stem.lower()
    for s in ("trainval", "train", "val", "test"):
        if s in stem:
            return s
    return stem
