"""One entry point for every dataset reader: :func:`load_dataset`; and :func:`load_vocabulary`
(the vocabulary of an annotation file, without needing images or image sizes)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError
from .hicodet import read_hicodet
from ..vocab import Vocabulary
from .records import HOIDataset
from .vcoco import read_vcoco_instances_json, read_vcoco_official

KINDS = ("hicodet", "synhoi", "vcoco")


def _resolve_dir(annotations: Path, kind: str, split: str | None) -> Path:
    """A directory of annotations -> the file of ``split`` in it."""
    if split is None:
        raise DataError(f"{annotations}: is a directory; pass split=... to pick the file")
    if kind == "vcoco":
        candidates = [f"instances_vcoco_{split}.json", f"vcoco_{split}.json"]
    else:
        candidates = [f"instances_{split}.json", f"instances_{split}2015.json", "anno_bbox.mat",
                      f"{split}_hico.json", f"{'trainval' if split == 'train' else split}_hico.json"]
    candidates = list(dict.fromkeys(candidates))   # once each (test -> test_hico.json)
    for c in candidates:
        if (annotations / c).is_file():
            return annotations / c
    raise DataError(f"{annotations}: no annotation file for split {split!r} "
                    f"(looked for {', '.join(candidates)})")


def load_dataset(kind: str, annotations: Path | str, images: Path | str | None = None,
                 split: str | None = None, require_sizes: bool = True, **kw: Any) -> HOIDataset:
    """Read a dataset split into an :class:`HOIDataset` (continuous xyxy boxes).

    ``kind``:

    * ``'hicodet'``: ``anno_bbox.mat`` (official; ``split`` 'train'/'test'), the
      ``instances_*.json`` layout or the PPDM/QPIC ``trainval_hico.json`` / ``test_hico.json``
      layout (keyword ``sizes`` when no image root is given);
    * ``'synhoi'``: the ``instances_*.json`` layout with its own vocabulary inside;
    * ``'vcoco'``: ``instances_vcoco_*.json`` (keywords ``sizes``, ``vocab``) or the official
      ``vcoco_*.json`` (keywords ``coco_json`` and ``split_ids`` required, ``vocab``,
      ``include_point``).

    ``require_sizes=False``: layouts that store no image sizes (PPDM/QPIC ``*_hico.json``,
    ``instances_vcoco_*.json``) are read without ``images``/``sizes``; their sizes are then
    0 x 0 (unknown) and boxes are only checked for being finite and non-degenerate. Enough for
    the vocabulary and the HICO-DET evaluation, which never use image sizes. Layouts that store
    sizes ignore it.

    ``annotations`` may be a directory, then ``split`` picks the file in it. Other keywords
    (e.g. ``check_images=True``) go to the reader.
    """
    if kind not in KINDS:
        raise DataError(f"unknown dataset kind {kind!r} (expected one of {', '.join(KINDS)})")
    path = Path(annotations)
    if path.is_dir():
        path = _resolve_dir(path, kind, split)
    if not path.exists():
        raise DataError(f"{path}: annotation file not found")
    if kind in ("hicodet", "synhoi"):
        return read_hicodet(path, images=images, split=split, kind=kind,
                            require_sizes=require_sizes, **kw)
    # V-COCO: the official layout needs the COCO instances json and the split id file
    if "coco_json" in kw or "split_ids" in kw:
        missing = [k for k in ("coco_json", "split_ids") if kw.get(k) is None]
        if missing:
            raise DataError(f"{path}: the official V-COCO layout also needs {missing[0]}=...")
        coco_json, split_ids = kw.pop("coco_json"), kw.pop("split_ids")
        return read_vcoco_official(path, coco_json, split_ids, images=images, split=split, **kw)
    if path.name.startswith("vcoco_"):
        raise DataError(f"{path}: official V-COCO file; pass coco_json=... (COCO 2014 instances) "
                        f"and split_ids=... (image id file)")
    return read_vcoco_instances_json(path, images=images, split=split,
                                     require_sizes=require_sizes, **kw)


def load_vocabulary(kind: str, annotations: Path | str, **kw: Any) -> Vocabulary:
    """The vocabulary of a dataset's annotation file (any layout :func:`load_dataset` reads),
    without images or image sizes (``require_sizes=False``). Keywords as for
    :func:`load_dataset` (e.g. ``split`` for a directory, ``coco_json``/``split_ids`` for the
    official V-COCO files)."""
    return load_dataset(kind, annotations, require_sizes=False, **kw).vocab
