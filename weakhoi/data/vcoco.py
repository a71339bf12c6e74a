"""V-COCO: vocabulary, prompts and readers.

Vocabulary (decisions)
----------------------
* Verbs are the **action-role classes** ('hold_obj', 'eat_instr', ...): V-COCO's 26 actions
  have 0, 1 or 2 roles besides the agent; the 22 actions with roles give 25 (action, role)
  classes in the official action order (:data:`VCOCO_ACTION_ROLES`). The 4 agent-only actions
  (stand, walk, run, smile) have no object and are not HOI classes. The 24-class layout of
  ``instances_vcoco_*.json`` (UPT and its descendants) omits 'point_instr'; readers of that
  layout use ``include_point=False``.
* Objects are the 80 COCO classes under HICO-DET's names and order (underscores, alphabetical,
  person = 49), so detector outputs map through :func:`weakhoi.vocab.coco91_to_object` exactly
  as for HICO-DET.
* HOI classes are valid (action-role, object) pairs, ordered by verb then object index. Which
  objects are valid for a role is not part of the official release as a table, and nothing from
  the data directory is shipped with the package, so the table is built at read time: from the
  ``action_to_object`` key of the ``instances_vcoco_*.json`` layout (identical in every split),
  or, for the official files, from the (role, object) pairs observed in the annotations read.
  To get identical class indices for two splits of the official files, read the training split
  first and pass its ``dataset.vocab`` as ``vocab=`` when reading the others.
  :func:`vcoco_vocabulary` without a table falls back to "any object" (25 x 80 classes).
* ``hoi_roles[i]`` is the role ('obj' / 'instr') of class ``i``; there is no rare split (all
  classes non-rare).
* Pairs whose role object is not annotated (official ``role_object_id`` 0) keep a NaN object
  box, object -1 and HOI -1 (the action-role is still in ``verb``).

Prompts (paper appendix G / METHOD §2): 'obj' role "a person {verb} a/an {object}", 'instr'
role "a person {verb} with {object}"; {verb} is the gerund phrase ('holding', 'talking on
phone'). The templates are :data:`weakhoi.vocab.VCOCO_ROLE_TEMPLATES`, which
:meth:`Vocabulary.prompts` uses for any vocabulary with ``hoi_roles``.

Boxes: the ``instances_vcoco_*.json`` layout stores continuous COCO xyxy (no conversion); the
official files go through COCO's ``[x, y, w, h]`` -> :func:`weakhoi.boxes.xywh_to_xyxy`.
"""
from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..boxes import xywh_to_xyxy
from ..errors import DataError
from ..vocab import Vocabulary, coco91_to_object, gerund, hicodet_vocabulary
from .io import build_record, load_json, resolve_sizes, split_from_name
from .io import check_images as check_image_files  # readers take a `check_images` flag
from .records import HOIDataset

__all__ = [
    "VCOCO_ACTIONS", "VCOCO_ROLES", "VCOCO_ACTION_ROLES",
    "vcoco_verb_names", "vcoco_vocabulary", "read_vcoco_instances_json",
    "read_vcoco_official", "read_split_ids", "load_coco", "role_matrix",
]

#: The 26 V-COCO actions in the official order.
VCOCO_ACTIONS: tuple[str, ...] = (
    "hold", "stand", "sit", "ride", "walk", "look", "hit", "eat", "jump", "lay", "talk_on_phone",
    "carry", "throw", "catch", "cut", "run", "work_on_computer", "ski", "surf", "skateboard",
    "smile", "drink", "kick", "point", "read", "snowboard",
)
#: Roles of each action besides the agent, in the official role order.
VCOCO_ROLES: dict[str, tuple[str, ...]] = {
    "hold": ("obj",), "stand": (), "sit": ("instr",), "ride": ("instr",), "walk": (),
    "look": ("obj",), "hit": ("instr", "obj"), "eat": ("obj", "instr"), "jump": ("instr",),
    "lay": ("instr",), "talk_on_phone": ("instr",), "carry": ("obj",), "throw": ("obj",),
    "catch": ("obj",), "cut": ("instr", "obj"), "run": (), "work_on_computer": ("instr",),
    "ski": ("instr",), "surf": ("instr",), "skateboard": ("instr",), "smile": (),
    "drink": ("instr",), "kick": ("obj",), "point": ("instr",), "read": ("obj",),
    "snowboard": ("instr",),
}
#: The 25 (action, role) classes in the official order.
VCOCO_ACTION_ROLES: tuple[tuple[str, str], ...] = tuple(
    (a, r) for a in VCOCO_ACTIONS for r in VCOCO_ROLES[a])


def vcoco_verb_names(include_point: bool = True) -> list[str]:
    """Action-role verb names ('hold_obj', ...): 25, or 24 without 'point_instr'."""
    return [f"{a}_{r}" for a, r in VCOCO_ACTION_ROLES if include_point or a != "point"]


def _split_verb(name: str) -> tuple[str, str]:
    action, _, role = name.rpartition("_")
    return action, role


def vcoco_vocabulary(valid_objects: Mapping[str, Iterable[int | str]] | None = None,
                     include_point: bool = True) -> Vocabulary:
    """The V-COCO vocabulary (see the module docstring).

    ``valid_objects``: action-role verb name ('hold_obj') -> object indices or names (HICO-DET
    naming) valid for that role; verbs not in the mapping get no HOI class. ``None``: every
    object is valid for every role ("any object": 25 x 80 classes).
    """
    objects = hicodet_vocabulary().objects
    verbs = vcoco_verb_names(include_point)
    index = {n: i for i, n in enumerate(objects)}
    hois: list[tuple[int, int]] = []
    roles: list[str] = []
    for v, name in enumerate(verbs):
        if valid_objects is None:
            objs = range(len(objects))
        else:
            objs = set()
            for o in valid_objects.get(name, ()):
                if isinstance(o, str):
                    key = o.replace(" ", "_")
                    if key not in index:
                        raise DataError(f"V-COCO vocabulary: unknown object {o!r} for {name}")
                    objs.add(index[key])
                else:
                    if not 0 <= int(o) < len(objects):
                        raise DataError(f"V-COCO vocabulary: unknown object id {o} for {name}")
                    objs.add(int(o))
        for o in sorted(objs):
            hois.append((v, o))
            roles.append(_split_verb(name)[1])
    phrases = [gerund(_split_verb(n)[0]) for n in verbs]
    return Vocabulary.build("vcoco", objects, verbs, hois, (), phrases, roles)


# ---------------------------------------------------------------------------------------------
# instances_vcoco_*.json layout
# ---------------------------------------------------------------------------------------------
def _instances_class_map(d: Mapping, source: Path) -> tuple[np.ndarray, np.ndarray, Vocabulary]:
    """(file class -> verb index [24], file object -> object index [81], vocabulary)."""
    classes, objects = d["classes"], d["objects"]
    names = [str(c).strip().replace(" ", "_") for c in classes]
    include_point = "point_instr" in names
    verbs = vcoco_verb_names(include_point)
    unknown = [c for c, n in zip(classes, names) if n not in verbs]
    if unknown:
        raise DataError(f"{source}: 'classes' holds unknown action-role {unknown[0]!r}")
    hico_objects = {n: i for i, n in enumerate(hicodet_vocabulary().objects)}
    obj_map = np.full(len(objects), -1, dtype=np.int64)
    for k, n in enumerate(objects):
        key = str(n).replace(" ", "_")
        if key in hico_objects:
            obj_map[k] = hico_objects[key]
        elif key != "background":
            raise DataError(f"{source}: 'objects'[{k}] is an unknown COCO class {n!r}")
    valid: dict[str, set[int]] = {}
    a2o = d.get("action_to_object")
    if a2o is not None:
        if len(a2o) != len(classes):
            raise DataError(f"{source}: 'action_to_object' has {len(a2o)} entries, "
                            f"'classes' has {len(classes)}")
        for c, objs in enumerate(a2o):
            for o in objs:
                if not 0 <= int(o) < len(objects) or obj_map[int(o)] < 0:
                    raise DataError(f"{source}: action_to_object[{c}]: unknown object index {o}")
                valid.setdefault(names[c], set()).add(int(obj_map[int(o)]))
    else:  # derive from the annotations of this file
        for i, a in enumerate(d["annotations"]):
            for c, o in zip(a.get("actions", ()), a.get("objects", ())):
                if 0 <= int(c) < len(names) and 0 <= int(o) < len(objects) and obj_map[int(o)] >= 0:
                    valid.setdefault(names[int(c)], set()).add(int(obj_map[int(o)]))
    vocab = vcoco_vocabulary(valid, include_point)
    verb_map = np.array([verbs.index(n) for n in names], dtype=np.int64)
    return verb_map, obj_map, vocab


def read_vcoco_instances_json(path: Path | str, images: Path | str | None = None,
                              split: str | None = None,
                              sizes: Mapping[str, Sequence[int]] | None = None,
                              vocab: Vocabulary | None = None, check_images: bool = False,
                              require_sizes: bool = True) -> HOIDataset:
    """Read ``instances_vcoco_{split}.json`` (keys ``annotations`` [{boxes_h, boxes_o, actions,
    objects, file_name}], ``classes``, ``objects`` (81, background first), ``images`` (COCO
    ids), ``action_to_object``). Boxes are continuous xyxy already.

    The layout stores no image sizes: they come from ``sizes`` (file name -> (w, h)) or the
    image headers under ``images``. With ``require_sizes=False`` and neither given, sizes are
    recorded as 0 x 0 (unknown) and only degenerate boxes are rejected.
    """
    source = Path(path)
    d = load_json(source)
    if not isinstance(d, Mapping):
        raise DataError(f"{source}: expected a JSON object with key 'annotations'")
    for k in ("annotations", "classes", "objects"):
        if k not in d:
            raise DataError(f"{source}: missing key {k!r}")
    verb_map, obj_map, file_vocab = _instances_class_map(d, source)
    vocab = vocab or file_vocab
    annos = d["annotations"]
    ids = d.get("images")
    if ids is not None and len(ids) != len(annos):
        raise DataError(f"{source}: 'images' has {len(ids)} ids, 'annotations' {len(annos)} entries")
    names = []
    for i, a in enumerate(annos):
        if not isinstance(a, Mapping) or "file_name" not in a:
            raise DataError(f"{source}: entry {i}: missing key 'file_name'")
        names.append(str(a["file_name"]))
    img = Path(images) if images is not None else None
    wh = resolve_sizes(names, source, img, sizes, "instances_vcoco", require_sizes)
    records = []
    for i, (a, fn, (w, h)) in enumerate(zip(annos, names, wh)):
        where = f"{source}: entry {i} ({fn})"
        for k in ("boxes_h", "boxes_o", "actions", "objects"):
            if k not in a:
                raise DataError(f"{where}: missing key {k!r}")
        try:
            bh = np.asarray(a["boxes_h"], dtype=np.float64).reshape(-1, 4)  # [P, 4]
            bo = np.asarray(a["boxes_o"], dtype=np.float64).reshape(-1, 4)  # [P, 4]
            act = np.asarray(a["actions"], dtype=np.int64).reshape(-1)      # [P]
            objs = np.asarray(a["objects"], dtype=np.int64).reshape(-1)     # [P]
        except (TypeError, ValueError):
            raise DataError(f"{where}: boxes must be [x1, y1, x2, y2] lists and actions/objects "
                            f"integer lists") from None
        bad = np.flatnonzero((act < 0) | (act >= len(verb_map)))
        if bad.size:
            raise DataError(f"{where}: pair {bad[0]}: unknown action-role id {act[bad[0]]}")
        bad = np.flatnonzero((objs < 0) | (objs >= len(obj_map)))
        if not bad.size:
            bad = np.flatnonzero(obj_map[objs] < 0)
        if bad.size:
            raise DataError(f"{where}: pair {bad[0]}: unknown object id {objs[bad[0]]}")
        verb, obj = verb_map[act], obj_map[objs]
        hoi = np.array([vocab.hoi_index(v, o) for v, o in zip(verb.tolist(), obj.tolist())],
                       dtype=np.int64)
        bad = np.flatnonzero(hoi < 0)
        if bad.size:
            k = int(bad[0])
            raise DataError(f"{where}: pair {k}: ({vocab.verbs[verb[k]]}, {vocab.objects[obj[k]]}) "
                            f"is not a HOI class of the vocabulary")
        image_id = int(ids[i]) if ids is not None else None
        records.append(build_record(vocab, where, fn, w, h, bh, bo, hoi, verb, obj, image_id,
                                    check_extent=w > 0 and h > 0))
    if check_images:
        check_image_files(records, img, source)
    return HOIDataset("vcoco", split_from_name(source, split), vocab, records, img, source)


# ---------------------------------------------------------------------------------------------
# official V-COCO files
# ---------------------------------------------------------------------------------------------
def read_split_ids(path: Path | str) -> list[int]:
    """COCO image ids, one per line (blank lines ignored). Like the official ``np.loadtxt``,
    integral floats ('1.0') are accepted; anything else is a DataError naming the line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: split id file not found")
    out = []
    with p.open("r", encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            s = line.strip()
            if not s:
                continue
            try:
                v = float(s)
            except ValueError:
                raise DataError(f"{p}: line {ln}: {s!r} is not an image id") from None
            if not math.isfinite(v) or v != int(v):
                raise DataError(f"{p}: line {ln}: {s!r} is not an integer image id")
            out.append(int(v))
    return out


def load_coco(path: Path | str):
    """A ``pycocotools.coco.COCO`` index of a COCO instances json (parsed once, with
    :func:`load_json`'s errors); DataError naming the file if it is not a COCO instances file."""
    from pycocotools.coco import COCO

    path = Path(path)
    d = load_json(path, "COCO annotation file")
    if not isinstance(d, dict):
        raise DataError(f"{path}: not a COCO instances file (expected a JSON object)")
    coco = COCO()   # what COCO(path) does after json.load: keep the dict, build the index
    coco.dataset = d
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
    except Exception as e:  # noqa: BLE001 - pycocotools KeyErrors/TypeErrors on malformed files
        raise DataError(f"{path}: not a COCO instances file ({type(e).__name__}: {e})") from None
    return coco


def role_matrix(value, n: int, n_roles: int, where: str) -> np.ndarray:
    """``role_object_id`` -> [N, R] int64. The official json stores it flat, role-major
    ([R * N], reshaped (R, N).T as in the official loader); a nested [N][R] list is accepted
    too. DataError naming ``where`` otherwise."""
    try:
        r = np.asarray(value, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: 'role_object_id' is not an integer array") from None
    if r.ndim == 1 and r.size == n * n_roles:
        return r.reshape(n_roles, n).T
    if r.ndim == 2 and r.shape == (n, n_roles):
        return r
    raise DataError(f"{where}: 'role_object_id' has shape {list(r.shape)}, expected {n_roles} x {n} values")


def read_vcoco_official(vcoco_json: Path | str, coco_json: Path | str, split_ids: Path | str,
                        images: Path | str | None = None, split: str | None = None,
                        vocab: Vocabulary | None = None, check_images: bool = False,
                        include_point: bool = True) -> HOIDataset:
    """Read the official V-COCO files: ``vcoco_{split}.json`` (a list of 26 action dicts with
    action_name, role_name, role_object_id, ann_id, label, image_id, include), the COCO 2014
    instances json (boxes xywh; read with pycocotools) and the split id file.

    One record per id of the split file (file order). A pair per (positive person, action-role):
    the person's box, the role object's box (NaN, object -1 and HOI -1 when the role object is
    not annotated, ``role_object_id`` 0). ``vocab=None`` builds the vocabulary from the (role,
    object) pairs observed in this file; pass a training split's vocabulary for stable indices.
    """
    vpath, cpath = Path(vcoco_json), Path(coco_json)
    data = load_json(vpath)
    if not isinstance(data, list):
        raise DataError(f"{vpath}: expected a JSON list of action entries")
    image_ids = read_split_ids(split_ids)
    id_set = set(image_ids)
    coco = load_coco(cpath)
    verbs = vcoco_verb_names(include_point)
    verb_index = {n: i for i, n in enumerate(verbs)}
    hico_objects = hicodet_vocabulary()
    c91 = coco91_to_object(hico_objects)  # [91]

    def ann(aid: int, where: str) -> dict:
        if aid not in coco.anns:
            raise DataError(f"{where}: COCO annotation id {aid} not in {cpath}")
        return coco.anns[aid]

    # (image id) -> list of (verb, human xyxy, object xyxy | None, object index)
    pairs: dict[int, list] = {i: [] for i in image_ids}
    for k, a in enumerate(data):
        where = f"{vpath}: entry {k}"
        if not isinstance(a, Mapping):
            raise DataError(f"{where}: not an object")
        for key in ("action_name", "role_name", "role_object_id", "ann_id", "label", "image_id"):
            if key not in a:
                raise DataError(f"{where}: missing key {key!r}")
        action = str(a["action_name"])
        where = f"{where} ({action})"
        roles = [str(r) for r in a["role_name"]]
        if action not in VCOCO_ROLES:
            raise DataError(f"{where}: unknown action {action!r}")
        if not roles or roles[0] != "agent":
            raise DataError(f"{where}: 'role_name' must start with 'agent', got {roles}")
        ann_ids = np.asarray(a["ann_id"], dtype=np.int64).reshape(-1)    # [N]
        labels = np.asarray(a["label"], dtype=np.int64).reshape(-1)      # [N]
        img_ids = np.asarray(a["image_id"], dtype=np.int64).reshape(-1)  # [N]
        n = len(ann_ids)
        if len(labels) != n or len(img_ids) != n:
            raise DataError(f"{where}: ann_id/label/image_id lengths differ "
                            f"({n}/{len(labels)}/{len(img_ids)})")
        role_ids = role_matrix(a["role_object_id"], n, len(roles), where)  # [N, R]
        verbs_of_roles = []
        for r in roles[1:]:
            name = f"{action}_{r}"
            if name not in verb_index:
                if action == "point" and not include_point:
                    verbs_of_roles.append(None)
                    continue
                raise DataError(f"{where}: unknown role {r!r}")
            verbs_of_roles.append(verb_index[name])
        if not verbs_of_roles:
            continue  # agent-only action: no HOI class
        for j in np.flatnonzero(labels == 1).tolist():
            pw = f"{where}, annotation {j}"
            iid = int(img_ids[j])
            if iid not in id_set:
                raise DataError(f"{pw}: image id {iid} is not in the split file {split_ids}")
            person = ann(int(ann_ids[j]), pw)
            if person.get("image_id") != iid:
                raise DataError(f"{pw}: COCO annotation {ann_ids[j]} belongs to image "
                                f"{person.get('image_id')}, not {iid}")
            hbox = xywh_to_xyxy(np.asarray(person["bbox"], dtype=np.float64))[0]
            for r, v in enumerate(verbs_of_roles, start=1):
                if v is None:
                    continue
                oid = int(role_ids[j, r])
                if oid == 0:
                    pairs[iid].append((v, hbox, None, -1))
                    continue
                o = ann(oid, pw)
                cat = int(o.get("category_id", -1))
                obj = int(c91[cat]) if 0 <= cat < 91 else -1
                if obj < 0:
                    raise DataError(f"{pw}: role object {oid} has unknown COCO category {cat}")
                pairs[iid].append((v, hbox, xywh_to_xyxy(np.asarray(o["bbox"], np.float64))[0], obj))

    if vocab is None:
        valid: dict[str, set[int]] = {}
        for plist in pairs.values():
            for v, _, _, o in plist:
                if o >= 0:
                    valid.setdefault(verbs[v], set()).add(o)
        vocab = vcoco_vocabulary(valid, include_point)
    elif list(vocab.verbs) != verbs:
        raise DataError(f"{vpath}: the given vocabulary's verbs are not the V-COCO action-roles "
                        f"({'25' if include_point else '24'} classes)")

    records = []
    for i, iid in enumerate(image_ids):
        if iid not in coco.imgs:
            raise DataError(f"{split_ids}: line {i + 1}: image id {iid} not in {cpath}")
        info = coco.imgs[iid]
        fn = str(info.get("file_name", f"{iid:012d}.jpg"))
        where = f"{vpath}: image {iid} ({fn})"
        plist = pairs[iid]
        p = len(plist)
        bh = np.array([x[1] for x in plist], dtype=np.float64).reshape(p, 4)
        bo = np.array([x[2] if x[2] is not None else [np.nan] * 4 for x in plist],
                      dtype=np.float64).reshape(p, 4)
        verb = np.array([x[0] for x in plist], dtype=np.int64)
        obj = np.array([x[3] for x in plist], dtype=np.int64)
        hoi = np.array([vocab.hoi_index(v, o) if o >= 0 else -1 for v, o in zip(verb, obj)],
                       dtype=np.int64)
        bad = np.flatnonzero((hoi < 0) & (obj >= 0))
        if bad.size:
            k = int(bad[0])
            raise DataError(f"{where}: pair {k}: ({vocab.verbs[verb[k]]}, {vocab.objects[obj[k]]}) "
                            f"is not a HOI class of the given vocabulary")
        records.append(build_record(vocab, where, fn, int(info.get("width", 0)),
                                    int(info.get("height", 0)), bh, bo, hoi, verb, obj, int(iid),
                                    allow_missing_object=True))
    img = Path(images) if images is not None else None
    if check_images:
        check_image_files(records, img, vpath)
    if split is None:
        split = vpath.stem.replace("vcoco_", "") or vpath.stem
    return HOIDataset("vcoco", split, vocab, records, img, vpath)
