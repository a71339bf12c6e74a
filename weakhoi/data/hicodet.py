"""HICO-DET readers.

Three on-disk layouts, all read into :class:`~weakhoi.data.records.HOIDataset` with continuous
xyxy boxes (``weakhoi.boxes.hico_to_continuous``: HICO-DET boxes are 1-based inclusive pixel
indices in every layout):

* the official release ``anno_bbox.mat`` (:func:`read_hicodet_mat`);
* the ``instances_{train,test}2015.json`` layout (:func:`read_hicodet_instances_json`), also
  used by SynHOI, which carries its own vocabulary in the file;
* the PPDM/QPIC ``trainval_hico.json`` / ``test_hico.json`` layout (:func:`read_hico_qpic_json`).

Every problem a user can cause raises :class:`~weakhoi.errors.DataError` naming the file and the
entry (image index and file name). Images without any visible pair are kept as records with no
pairs (the HICO-DET test set has 112 of them and they count for false positives).

The helpers shared with the V-COCO readers live in :mod:`weakhoi.data.io`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..boxes import hico_to_continuous, invalid_box_mask
from ..errors import DataError
from ..vocab import Vocabulary, coco91_to_object, hicodet_vocabulary
from .io import as_int, build_record, load_json, resolve_sizes, split_from_name
from .io import check_images as check_image_files  # readers take a `check_images` flag
from .records import HOIDataset, ImageAnnotation

__all__ = [
    "read_hicodet", "read_hicodet_mat", "read_hicodet_instances_json", "read_hico_qpic_json",
]

# ---------------------------------------------------------------------------------------------
# array helpers
# ---------------------------------------------------------------------------------------------
def _as_boxes(value: Any, where: str, what: str) -> np.ndarray:
    try:
        b = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: '{what}' is not a numeric box array") from None
    if b.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise DataError(f"{where}: '{what}' must be a list of [x1, y1, x2, y2] boxes, got shape {b.shape}")
    return b


def _as_ints(value: Any, where: str, what: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{where}: '{what}' is not a list of integers") from None
    if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
        raise DataError(f"{where}: '{what}' holds non-integer values")
    return a.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# instances_*.json layout (also SynHOI)
# ---------------------------------------------------------------------------------------------
_VOCAB_KEYS = ("objects", "verbs", "correspondence")


def _instances_vocabulary(d: Mapping, source: Path, kind: str) -> Vocabulary:
    """HICO-DET's vocabulary if the file's objects/verbs are HICO-DET's (correspondence checked),
    else the vocabulary stored in the file (SynHOI)."""
    hico = hicodet_vocabulary()
    has_vocab = all(k in d for k in _VOCAB_KEYS)
    if not has_vocab:
        if kind == "synhoi":
            missing = [k for k in _VOCAB_KEYS if k not in d]
            raise DataError(f"{source}: missing key {missing[0]!r} needed for the vocabulary")
        return hico
    if list(d["objects"]) == list(hico.objects) and list(d["verbs"]) == list(hico.verbs):
        try:
            corr = sorted((int(c[0]), int(c[1]), int(c[2])) for c in d["correspondence"])
        except (TypeError, ValueError, IndexError):
            raise DataError(f"{source}: 'correspondence' must be a list of [hoi, object, verb]") from None
        expected = [(i, int(o), int(v)) for i, (v, o) in
                    enumerate(zip(hico.hoi_verb.tolist(), hico.hoi_object.tolist()))]
        if corr != expected:
            bad = next((c for c, e in zip(corr, expected) if c != e), None)
            raise DataError(f"{source}: 'correspondence' has HICO-DET's objects and verbs but differs "
                            f"from the HICO-DET HOI classes (first difference: {bad}, "
                            f"{len(corr)} entries)")
        return hico
    return Vocabulary.from_hicodet_json_dict(d, name=kind, source=str(source))


def _from_instances_dict(d: Any, source: Path, kind: str, images: Path | None, split: str | None,
                         check: bool) -> HOIDataset:
    if not isinstance(d, Mapping):
        raise DataError(f"{source}: expected a JSON object with keys 'filenames', 'size', 'annotation'")
    for k in ("filenames", "annotation", "size"):
        if k not in d:
            raise DataError(f"{source}: missing key {k!r}")
    names, annos, sizes = d["filenames"], d["annotation"], d["size"]
    if not (len(names) == len(annos) == len(sizes)):
        raise DataError(f"{source}: 'filenames', 'annotation' and 'size' lengths differ "
                        f"({len(names)}/{len(annos)}/{len(sizes)})")
    vocab = _instances_vocabulary(d, source, kind)
    instances = d.get("instances")  # SynHOI: every drawn person/object, distractors included
    if instances is not None and len(instances) != len(names):
        raise DataError(f"{source}: 'instances' has {len(instances)} entries for {len(names)} images")
    records = []
    for i, (fn, a, wh) in enumerate(zip(names, annos, sizes)):
        where = f"{source}: entry {i} ({fn})"
        if not isinstance(a, Mapping):
            raise DataError(f"{where}: annotation is not an object")
        for k in ("boxes_h", "boxes_o", "hoi", "object", "verb"):
            if k not in a:
                raise DataError(f"{where}: missing key {k!r}")
        if not isinstance(wh, (list, tuple)) or len(wh) != 2:
            raise DataError(f"{where}: bad 'size' {wh!r} (expected [width, height])")
        w, h = as_int(wh[0], where, "size[0] (width)"), as_int(wh[1], where, "size[1] (height)")
        bh = hico_to_continuous(_as_boxes(a["boxes_h"], where, "boxes_h"))  # [P, 4]
        bo = hico_to_continuous(_as_boxes(a["boxes_o"], where, "boxes_o"))  # [P, 4]
        rec = build_record(vocab, where, str(fn), w, h, bh, bo,
                           _as_ints(a["hoi"], where, "hoi"), _as_ints(a["verb"], where, "verb"),
                           _as_ints(a["object"], where, "object"))
        if instances is not None:
            rec = _with_instances(rec, instances[i], vocab, where)
        records.append(rec)
    if check:
        check_image_files(records, images, source)
    name = "synhoi" if kind == "synhoi" else "hicodet"
    return HOIDataset(name, split_from_name(source, split), vocab, records, images, source)


def _with_instances(rec: ImageAnnotation, inst: Any, vocab: Vocabulary, where: str) -> ImageAnnotation:
    """``rec`` with the image's full box list (``instances`` entry: ``boxes`` 1-based pixel
    indices, ``object`` class per box) validated and attached."""
    if not isinstance(inst, Mapping) or "boxes" not in inst or "object" not in inst:
        raise DataError(f"{where}: 'instances' entry needs 'boxes' and 'object'")
    boxes = hico_to_continuous(_as_boxes(inst["boxes"], where, "instances.boxes"))  # [E, 4]
    labels = _as_ints(inst["object"], where, "instances.object")                    # [E]
    if len(labels) != len(boxes):
        raise DataError(f"{where}: instances: {len(boxes)} boxes but {len(labels)} labels")
    bad = np.flatnonzero((labels < 0) | (labels >= vocab.num_objects))
    if bad.size:
        raise DataError(f"{where}: instances[{bad[0]}]: unknown object id {labels[bad[0]]}")
    bad = np.flatnonzero(invalid_box_mask(boxes, rec.width, rec.height))
    if bad.size:
        raise DataError(f"{where}: instances[{bad[0]}]: box is degenerate or outside the image")
    return dataclasses.replace(rec, instance_boxes=boxes, instance_labels=labels)


def read_hicodet_instances_json(path: Path | str, images: Path | str | None = None,
                                split: str | None = None, kind: str = "hicodet",
                                check_images: bool = False) -> HOIDataset:
    """Read the ``instances_*.json`` layout (keys ``filenames``, ``size`` [w, h],
    ``annotation`` per image with ``boxes_h``, ``boxes_o``, ``hoi``, ``object``, ``verb``; and
    optionally the vocabulary keys ``objects``, ``verbs``, ``correspondence``, ``rare``,
    ``verb_phrases``). ``kind='synhoi'`` requires the vocabulary keys."""
    source = Path(path)
    return _from_instances_dict(load_json(source), source, kind,
                                Path(images) if images is not None else None, split, check_images)


# ---------------------------------------------------------------------------------------------
# PPDM / QPIC layout
# ---------------------------------------------------------------------------------------------
def _from_qpic_list(d: Any, source: Path, images: Path | None, sizes: Mapping | None,
                    split: str | None, check: bool, require_sizes: bool = True) -> HOIDataset:
    if not isinstance(d, list):
        raise DataError(f"{source}: expected a JSON list of images with 'file_name', 'annotations' "
                        f"and 'hoi_annotation'")
    vocab = hicodet_vocabulary()
    c91 = coco91_to_object(vocab)  # [91]
    names = []
    for i, e in enumerate(d):
        if not isinstance(e, Mapping) or "file_name" not in e:
            raise DataError(f"{source}: entry {i}: missing key 'file_name'")
        names.append(str(e["file_name"]))
    wh = resolve_sizes(names, source, images, sizes, "trainval_hico/test_hico", require_sizes)
    records = []
    for i, (e, fn, (w, h)) in enumerate(zip(d, names, wh)):
        where = f"{source}: entry {i} ({fn})"
        for k in ("annotations", "hoi_annotation"):
            if k not in e:
                raise DataError(f"{where}: missing key {k!r}")
        objs = e["annotations"]
        boxes, cats = [], []
        for j, o in enumerate(objs):
            if not isinstance(o, Mapping) or "bbox" not in o or "category_id" not in o:
                raise DataError(f"{where}: annotations[{j}] needs 'bbox' and 'category_id'")
            boxes.append(o["bbox"])
            cats.append(o["category_id"])
        boxes = hico_to_continuous(_as_boxes(boxes, where, "annotations.bbox"))  # [B, 4]
        cats = _as_ints(cats, where, "annotations.category_id")
        objcls = np.full(len(cats), -1, dtype=np.int64)  # [B]
        known = (cats >= 0) & (cats < 91)
        objcls[known] = c91[cats[known]]
        bad = np.flatnonzero(objcls < 0)
        if bad.size:
            raise DataError(f"{where}: annotations[{bad[0]}]: unknown COCO category id {cats[bad[0]]}")
        bh, bo, hoi, verb, obj = [], [], [], [], []
        for j, p in enumerate(e["hoi_annotation"]):
            pw = f"{where}: hoi_annotation[{j}]"
            if not isinstance(p, Mapping):
                raise DataError(f"{pw}: not an object")
            for k in ("subject_id", "object_id", "category_id"):
                if k not in p:
                    raise DataError(f"{pw}: missing key {k!r}")
            s, o = as_int(p["subject_id"], pw, "subject_id"), as_int(p["object_id"], pw, "object_id")
            if not (0 <= s < len(boxes)) or not (0 <= o < len(boxes)):
                raise DataError(f"{pw}: subject_id {s} / object_id {o} out of range "
                                f"({len(boxes)} annotated boxes)")
            v = as_int(p["category_id"], pw, "category_id") - 1
            if not 0 <= v < vocab.num_verbs:
                raise DataError(f"{pw}: unknown verb id {v + 1} (expected 1..{vocab.num_verbs})")
            if "hoi_category_id" in p:
                c = as_int(p["hoi_category_id"], pw, "hoi_category_id") - 1
                if not 0 <= c < vocab.num_hois:
                    raise DataError(f"{pw}: unknown HOI id {c + 1} (expected 1..{vocab.num_hois})")
            else:
                c = vocab.hoi_index(v, objcls[o])
                if c < 0:
                    raise DataError(f"{pw}: ({vocab.verbs[v]}, {vocab.objects[objcls[o]]}) is not a "
                                    f"HICO-DET HOI class")
            bh.append(boxes[s])
            bo.append(boxes[o])
            hoi.append(c)
            verb.append(v)
            obj.append(objcls[o])
        known = w > 0 and h > 0      # (0, 0): size unknown (require_sizes=False)
        rec = build_record(vocab, where, fn, w, h,
                           np.asarray(bh, np.float64).reshape(-1, 4),
                           np.asarray(bo, np.float64).reshape(-1, 4),
                           np.asarray(hoi, np.int64), np.asarray(verb, np.int64),
                           np.asarray(obj, np.int64), check_extent=known)
        bad = np.flatnonzero(invalid_box_mask(boxes, w if known else np.inf, h if known else np.inf))
        if bad.size:
            raise DataError(f"{where}: annotations[{bad[0]}]: box is degenerate or outside the image")
        records.append(dataclasses.replace(rec, instance_boxes=boxes, instance_labels=objcls))
    if check:
        check_image_files(records, images, source)
    return HOIDataset("hicodet", split_from_name(source, split), vocab, records, images, source)


def read_hico_qpic_json(path: Path | str, images: Path | str | None = None,
                        sizes: Mapping[str, Sequence[int]] | None = None, split: str | None = None,
                        check_images: bool = False, require_sizes: bool = True) -> HOIDataset:
    """Read the PPDM/QPIC layout: a list of ``{file_name, annotations: [{bbox, category_id
    (COCO-91)}], hoi_annotation: [{subject_id, object_id, category_id (1-based verb),
    hoi_category_id (1-based HOI, optional)}]}``. The layout stores no image sizes: they come
    from ``sizes`` (file name -> (width, height)) or the image headers under ``images``. With
    ``require_sizes=False`` and neither given, sizes are recorded as 0 x 0 (unknown) and only
    degenerate boxes are rejected (enough for the vocabulary and for the HICO-DET evaluation)."""
    source = Path(path)
    return _from_qpic_list(load_json(source), source, Path(images) if images is not None else None,
                           sizes, split, check_images, require_sizes)


# ---------------------------------------------------------------------------------------------
# official anno_bbox.mat
# ---------------------------------------------------------------------------------------------
def _mat_list(x: Any) -> list:
    """scipy squeeze quirks: a struct array may arrive as one mat_struct, a 0-d/1-d object
    array, or an empty array. Always return a Python list of its elements."""
    if x is None:
        return []
    if isinstance(x, np.ndarray):
        if x.size == 0:
            return []
        return list(x.reshape(-1))
    return [x]


def _mat_field(s: Any, name: str, where: str) -> Any:
    if not hasattr(s, name):
        raise DataError(f"{where}: missing field {name!r}")
    return getattr(s, name)


def _mat_int(x: Any, where: str, name: str) -> int:
    try:
        a = np.asarray(x, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{where}: field {name!r} is not numeric") from None
    if a.size != 1 or not np.isfinite(a[0]):
        raise DataError(f"{where}: field {name!r} must be a single number, got {a.size} values")
    return as_int(float(a[0]), where, f"field {name!r}")


def _mat_boxes(x: Any, where: str, name: str) -> np.ndarray:
    """Struct array with fields x1, x2, y1, y2 (official order) -> [M, 4] HICO [x1, y1, x2, y2]."""
    rows = []
    for k, b in enumerate(_mat_list(x)):
        w = f"{where}: {name}[{k}]"
        rows.append([_mat_int(_mat_field(b, f, w), w, f) for f in ("x1", "y1", "x2", "y2")])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def read_hicodet_mat(path: Path | str, split: str = "train", images: Path | str | None = None,
                     check_images: bool = False, last_duplicate_wins: bool | None = None) -> HOIDataset:
    """Read the official HICO-DET ``anno_bbox.mat`` (struct ``bbox_train`` / ``bbox_test``).

    Per image: ``filename``, ``size`` (width, height, depth) and ``hoi`` entries with ``id``
    (1-based HOI id), ``bboxhuman`` / ``bboxobject`` (fields x1, x2, y1, y2; 1-based inclusive
    pixels), ``connection`` ([K, 2] 1-based (human, object) indices) and ``invis`` (1: the
    interaction is not visible, the entry has no boxes and is skipped).

    ``last_duplicate_wins`` (default: True for ``split="test"``, False for ``"train"``): when an
    image lists the same HOI id in several visible entries, keep only the pairs of the last one,
    as the official evaluation does (``eval_one.m``: ``gt_all{hoi_id, i} = boxes`` overwrites;
    a visible entry without connections overwrites with no pairs). False keeps all pairs.
    """
    import scipy.io

    source = Path(path)
    if split not in ("train", "test"):
        raise DataError(f"{source}: split must be 'train' or 'test', got {split!r}")
    if not source.is_file():
        raise DataError(f"{source}: annotation file not found")
    key = f"bbox_{split}"
    try:
        mat = scipy.io.loadmat(str(source), squeeze_me=True, struct_as_record=False,
                               variable_names=[key])
    except Exception as e:  # scipy raises ValueError/TypeError/MatReadError/OSError on bad files
        raise DataError(f"{source}: cannot read MATLAB file ({type(e).__name__}: {e})") from None
    if key not in mat:
        raise DataError(f"{source}: missing variable {key!r}")
    if last_duplicate_wins is None:
        last_duplicate_wins = split == "test"
    vocab = hicodet_vocabulary()
    records = []
    for i, e in enumerate(_mat_list(mat[key])):
        where0 = f"{source}: {key}[{i}]"
        fn = _mat_field(e, "filename", where0)
        fn = str(fn.item() if isinstance(fn, np.ndarray) and fn.size == 1 else fn)
        where = f"{where0} ({fn})"
        size = _mat_list(_mat_field(e, "size", where))
        if len(size) != 1:
            raise DataError(f"{where}: field 'size' must be one struct")
        w = _mat_int(_mat_field(size[0], "width", where), where, "size.width")
        h = _mat_int(_mat_field(size[0], "height", where), where, "size.height")
        by_hoi: dict[int, tuple[list, list]] = {}   # HOI id -> (human boxes, object boxes)
        for j, ent in enumerate(_mat_list(_mat_field(e, "hoi", where))):
            hw = f"{where}: hoi[{j}]"
            if _mat_int(_mat_field(ent, "invis", hw), hw, "invis") == 1:
                continue
            hid = _mat_int(_mat_field(ent, "id", hw), hw, "id")
            if not 1 <= hid <= vocab.num_hois:
                raise DataError(f"{hw}: unknown HOI id {hid} (expected 1..{vocab.num_hois})")
            humans = _mat_boxes(_mat_field(ent, "bboxhuman", hw), hw, "bboxhuman")    # [Mh, 4]
            objects = _mat_boxes(_mat_field(ent, "bboxobject", hw), hw, "bboxobject")  # [Mo, 4]
            conn = np.asarray(_mat_field(ent, "connection", hw))
            if last_duplicate_wins or hid not in by_hoi:
                by_hoi[hid] = ([], [])
            ent_h, ent_o = by_hoi[hid]
            if conn.size == 0:
                continue
            if conn.size % 2:
                raise DataError(f"{hw}: 'connection' must be [K, 2], got shape {conn.shape}")
            conn = conn.astype(np.int64).reshape(-1, 2)  # [K, 2] 1-based (human, object)
            for hi, oi in conn.tolist():
                if not (1 <= hi <= len(humans)) or not (1 <= oi <= len(objects)):
                    raise DataError(f"{hw}: connection ({hi}, {oi}) refers to a missing box "
                                    f"({len(humans)} human, {len(objects)} object boxes)")
                ent_h.append(humans[hi - 1])
                ent_o.append(objects[oi - 1])
        bh = [b for hs, _ in by_hoi.values() for b in hs]
        bo = [b for _, os_ in by_hoi.values() for b in os_]
        hoi = [hid - 1 for hid, (hs, _) in by_hoi.items() for _ in hs]
        hoi_a = np.asarray(hoi, dtype=np.int64)
        h_idx = np.clip(hoi_a, 0, vocab.num_hois - 1)
        records.append(build_record(vocab, where, fn, w, h,
                                    hico_to_continuous(np.asarray(bh).reshape(-1, 4)),
                                    hico_to_continuous(np.asarray(bo).reshape(-1, 4)),
                                    hoi_a, vocab.hoi_verb[h_idx], vocab.hoi_object[h_idx]))
    if check_images:
        check_image_files(records, Path(images) if images is not None else None, source)
    return HOIDataset("hicodet", split, vocab, records, images, source)


# ---------------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------------
def read_hicodet(path: Path | str, images: Path | str | None = None, split: str | None = None,
                 kind: str = "hicodet", sizes: Mapping[str, Sequence[int]] | None = None,
                 check_images: bool = False, require_sizes: bool = True) -> HOIDataset:
    """Read any HICO-DET layout, chosen by the file: ``.mat`` -> official (``split`` 'train' or
    'test', default 'train'), a JSON object -> ``instances_*.json``, a JSON list -> PPDM/QPIC.
    ``require_sizes=False`` lets the PPDM/QPIC layout (the only one without image sizes) be
    read without ``images``/``sizes`` (sizes 0 x 0, see :func:`read_hico_qpic_json`)."""
    source = Path(path)
    img = Path(images) if images is not None else None
    if source.suffix.lower() == ".mat":
        if kind == "synhoi":
            raise DataError(f"{source}: SynHOI data is JSON, not a .mat file")
        return read_hicodet_mat(source, split or "train", img, check_images)
    d = load_json(source)
    if isinstance(d, list):
        if kind == "synhoi":
            raise DataError(f"{source}: SynHOI data uses the instances_*.json layout (a JSON object)")
        return _from_qpic_list(d, source, img, sizes, split, check_images, require_sizes)
    return _from_instances_dict(d, source, kind, img, split, check_images)
