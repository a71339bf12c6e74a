"""V-COCO agent and role AP, re-implementing the semantics of the official ``vsrl_eval.py``
(Gupta & Malik, ``VCOCOeval``), vectorised.

Inputs (the official ones): the V-COCO json (list of action entries: ``action_name``,
``role_name`` e.g. ``['agent', 'obj', 'instr']``, ``role_object_id`` (flat, role-major, as
released; a nested [N][R] list is accepted too), ``ann_id``, ``label``, ``image_id``), the COCO
2014 instances json (read with pycocotools) and the split's image id file.

Ground truth, as the official ``_get_vcocodb``:

* every COCO annotation of a split image (pycocotools order) without ``ignore == 1``; box
  ``[x, y, x + max(0, w - 1), y + max(0, h - 1)]`` clipped to ``[0, W-1] x [0, H-1]``, kept when
  ``area > 0`` and ``x2 > x1`` and ``y2 > y1``; stored as float32 (as the official code does).
* persons: annotations of the first category of the COCO file (``getCatIds()[0]``, the
  official contiguous class 1 -- ``person`` in COCO; chosen by position as the official does):
  those whose annotation id is not in V-COCO (the ``ann_id`` list of the first action) are
  *ignored*: a detection whose best-overlapping person is one of them is skipped (neither TP nor
  FP). The ``include`` field is not used, as in the official code.
* ``npos`` of an action = persons labelled 1 for it. A role object with ``role_object_id`` 0
  is missing.

Matching, per action (agent AP) or (action, role) (role AP), image by image: the image's
detections with a non-NaN score, by descending score, are assigned to the person with the
highest IoU (first on ties; persons of all kinds). True positive when that person has the action,
IoU >= 0.5, (role AP) the role box IoU with the person's role object >= 0.5, and the person is not
covered yet. Missing ground-truth role: scenario 1 needs an empty predicted role box (all zero or
all NaN), scenario 2 accepts any. IoU: ``get_overlap`` with the +1 inclusive convention
(``iw = max(min(x2) - max(x1) + 1, 0)``, areas ``(x2 - x1 + 1)(y2 - y1 + 1)``), in float32 like
the official code (boxes and scores are float32 there). AP: VOC 2010 all-point
(:func:`weakhoi.eval.ap.voc_ap_allpoint`) on float32 recall/precision; the per-class AP is rounded
to float32 as the official stores it.

Choices where the official code is undefined or crashes (documented):

* score ties: the official ``argsort()[::-1]`` (numpy's unstable quicksort) has no defined tie
  order; here it is the reverse of a stable ascending sort (equal scores: later entry first), both
  within an image and for the final ranking; this equals numpy's result whenever its quicksort
  happens to be stable (e.g. small arrays).
* classes with npos = 0: AP NaN (official: assertion error); excluded from the role means
  (``nanmean``) and counted as 0 in the agent mean (official: ``nansum / 26``).
* no detection for a class: AP 0 (official: error).
* an image without ground-truth persons: its detections are false positives (official: error).
* detections for images outside the split: DataError (official: silently unused).
* a detection missing a key, or with ``null``/NaN, makes no prediction for that class.

Outputs (percent): ``agent_map`` (nansum over the actions / number of actions), ``role_map_s1``,
``role_map_s2`` (nanmean over the (action, role) pairs, 25 in V-COCO) and ``*_no_point`` (the 24
without ``point``), plus per-class APs. Per-class APs are float32 values (as the official stores
them); the means are computed in float64 over them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.io import load_json, numeric_rows
from ..data.vcoco import load_coco, read_split_ids, role_matrix
from ..errors import DataError
from .ap import voc_ap_allpoint

MIN_OVERLAP = 0.5
F32 = np.float32


@dataclass(frozen=True, eq=False)
class VCOCOGroundTruth:
    """Person-level ground truth of one split (float32 boxes, official frame)."""

    actions: tuple[str, ...]              # [A]
    roles: tuple[tuple[str, ...], ...]    # [A] role names, 'agent' first
    image_ids: np.ndarray                 # [I] int64, split file order
    person_image: np.ndarray              # [M] int64 image index of each person (grouped by image)
    person_boxes: np.ndarray              # [M, 4] float32
    person_ignore: np.ndarray             # [M] bool, not in V-COCO
    person_actions: np.ndarray            # [M, A] int64 (-1 ignored, 0, 1)
    role_boxes: np.ndarray                # [M, A, 2, 4] float32, -1 where no role object

    @property
    def num_actions(self) -> int:
        return len(self.actions)

    def npos(self) -> np.ndarray:
        """[A] persons labelled 1 per action."""
        return (self.person_actions == 1).sum(axis=0).astype(np.int64)

    def action_roles(self) -> list[tuple[int, int]]:
        """(action index, role index 0/1) of every (action, role) pair, official order."""
        return [(a, r) for a in range(self.num_actions) for r in range(len(self.roles[a]) - 1)]


@dataclass(frozen=True, eq=False)
class VCOCODetections:
    """Flat V-COCO detections: one row per (image, person box) entry, file order."""

    image_index: np.ndarray   # [K] int64 into gt.image_ids
    person_boxes: np.ndarray  # [K, 4] float32
    agent_scores: np.ndarray  # [K, A] float32, NaN = no prediction
    roles: np.ndarray         # [K, A, 2, 5] float32 (x1, y1, x2, y2, score), NaN = no prediction

    def __len__(self) -> int:
        return int(self.image_index.shape[0])


# -- ground truth --------------------------------------------------------------------------------

def _clean_box(bbox, width: float, height: float) -> tuple[float, float, float, float]:
    x1, y1 = float(bbox[0]), float(bbox[1])
    x2 = x1 + max(0.0, float(bbox[2]) - 1.0)
    y2 = y1 + max(0.0, float(bbox[3]) - 1.0)
    x1 = min(width - 1.0, max(0.0, x1))
    y1 = min(height - 1.0, max(0.0, y1))
    x2 = min(width - 1.0, max(0.0, x2))
    y2 = min(height - 1.0, max(0.0, y2))
    return x1, y1, x2, y2


def load_vcoco_ground_truth(vcoco_json: Path | str, coco_json: Path | str,
                            split_ids: Path | str) -> VCOCOGroundTruth:
    """Read the official files into person-level ground truth (see module docstring)."""
    vpath, cpath, spath = Path(vcoco_json), Path(coco_json), Path(split_ids)
    data = load_json(vpath, "V-COCO file")
    if not isinstance(data, list) or not data:
        raise DataError(f"{vpath}: expected a non-empty JSON list of action entries")
    actions, roles, ann_ids, labels, role_ids = [], [], [], [], []
    for k, x in enumerate(data):
        try:
            name, rn = str(x["action_name"]), tuple(str(r) for r in x["role_name"])
            aid = np.asarray(x["ann_id"], dtype=np.int64).reshape(-1)
            lab = np.asarray(x["label"], dtype=np.int64).reshape(-1)
            roi = x["role_object_id"]
            np.asarray(x["image_id"], dtype=np.int64)
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{vpath}: entry {k}: missing or malformed key ({e})") from None
        n, r = aid.size, len(rn)
        if not rn or rn[0] != "agent" or r > 3:
            raise DataError(f"{vpath}: entry {k} ({name}): role_name must start with 'agent' (got {list(rn)})")
        if lab.size != n:
            raise DataError(f"{vpath}: entry {k} ({name}): {lab.size} labels for {n} ann_ids")
        roi = role_matrix(roi, n, r, f"{vpath}: entry {k} ({name})")   # [N, R]
        actions.append(name)
        roles.append(rn)
        ann_ids.append(aid)
        labels.append(lab)
        role_ids.append(roi)
    A = len(actions)
    image_ids = np.asarray(read_split_ids(spath), dtype=np.int64)
    vc_images = np.unique(np.asarray(data[0]["image_id"], dtype=np.int64))
    if not np.array_equal(np.sort(np.unique(image_ids)), vc_images) or np.unique(image_ids).size != image_ids.size:
        raise DataError(f"{spath}: image ids differ from the images of {vpath} (the official check "
                        f"requires the same set)")

    coco = load_coco(cpath)
    # official: persons are gt_classes == 1, i.e. the FIRST category of getCatIds() (the file's
    # category order), whatever its name ('person' in every COCO release)
    cat_ids = coco.getCatIds()
    if not cat_ids:
        raise DataError(f"{cpath}: no categories")
    person_cats = {cat_ids[0]}

    in_vcoco = set(ann_ids[0].tolist())
    # action -> {ann_id: row with label 1}
    positive: list[dict[int, int]] = []
    for a in range(A):
        rows = np.flatnonzero(labels[a] == 1)
        d: dict[int, int] = {}
        for row in rows.tolist():
            key = int(ann_ids[a][row])
            if key in d:
                raise DataError(f"{vpath}: action {actions[a]}: ann_id {key} labelled positive twice")
            d[key] = row
        positive.append(d)

    p_img, p_box, p_ign, p_act, p_role = [], [], [], [], []
    for ii, img_id in enumerate(image_ids.tolist()):
        if img_id not in coco.imgs:
            raise DataError(f"{cpath}: no image with id {img_id} (from {spath})")
        info = coco.imgs[img_id]
        W, H = float(info["width"]), float(info["height"])
        valid_ids, valid_boxes, valid_person = [], [], []
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id, iscrowd=None)):
            if ann.get("ignore", 0) == 1:
                continue
            try:
                x1, y1, x2, y2 = _clean_box(ann["bbox"], W, H)
                area = float(ann["area"])
            except (KeyError, TypeError, ValueError, IndexError) as e:
                raise DataError(f"{cpath}: annotation {ann.get('id')!r}: missing or malformed bbox/area ({e})") from None
            if area > 0 and x2 > x1 and y2 > y1:
                valid_ids.append(int(ann["id"]))
                valid_boxes.append((x1, y1, x2, y2))
                valid_person.append(ann["category_id"] in person_cats)
        boxes = np.asarray(valid_boxes, dtype=F32).reshape(-1, 4)   # [V, 4] float32 like the official
        pos_of = {aid_: j for j, aid_ in enumerate(valid_ids)}
        for j in np.flatnonzero(np.asarray(valid_person, dtype=bool)).tolist():
            ann_id = valid_ids[j]
            act = np.full(A, -1, dtype=np.int64)
            rb = np.full((A, 2, 4), -1.0, dtype=F32)
            if ann_id in in_vcoco:
                act[:] = 0
                for a in range(A):
                    row = positive[a].get(ann_id)
                    if row is None:
                        continue
                    act[a] = 1
                    for r in range(1, len(roles[a])):
                        obj = int(role_ids[a][row, r])
                        if obj == 0:
                            continue
                        if obj not in pos_of:
                            raise DataError(f"{vpath}: action {actions[a]}, person ann {ann_id}: role object "
                                            f"ann {obj} is not a valid annotation of image {img_id} in {cpath}")
                        rb[a, r - 1] = boxes[pos_of[obj]]
            p_img.append(ii)
            p_box.append(boxes[j])
            p_ign.append(ann_id not in in_vcoco)
            p_act.append(act)
            p_role.append(rb)
    M = len(p_img)
    return VCOCOGroundTruth(
        tuple(actions), tuple(roles), image_ids,
        np.asarray(p_img, dtype=np.int64),
        np.asarray(p_box, dtype=F32).reshape(M, 4),
        np.asarray(p_ign, dtype=bool),
        np.asarray(p_act, dtype=np.int64).reshape(M, A),
        np.asarray(p_role, dtype=F32).reshape(M, A, 2, 4))


# -- detections ------------------------------------------------------------------------------

def read_vcoco_detections_json(path: Path | str, gt: VCOCOGroundTruth) -> VCOCODetections:
    """Read the V-COCO detection JSON (list of per-(image, person) dicts, see module docstring);
    DataError naming the file and entry for malformed entries or images outside the split."""
    path = Path(path)
    dets = load_json(path, "detections file")
    if not isinstance(dets, list):
        raise DataError(f"{path}: expected a JSON list of detections")
    return vcoco_detections_from_list(dets, gt, str(path))


def _column(dets: list, key: str, width: int, source: str) -> np.ndarray:
    """[K] (width 0) or [K, width] float64 column of ``key`` over the entries; None/absent -> NaN
    (no prediction). DataError naming the entry for a value that is not a number / a list of
    ``width`` numbers, or that is infinite (NaN means "no prediction", +-inf means nothing)."""
    if not dets:
        return np.zeros((0,) if width == 0 else (0, width))
    nan = math.nan if width == 0 else [math.nan] * width
    vals = [nan if v is None else v for v in (d.get(key) for d in dets)]
    want = "a number" if width == 0 else f"a list of {width} numbers"
    arr = numeric_rows(vals, (width,) if width else (),
                       lambda k, v: f"{source}: entry {k}: {key} must be {want}, got {v!r}")
    inf = np.isinf(arr) if width == 0 else np.isinf(arr).any(axis=1)
    if inf.any():
        k = int(np.flatnonzero(inf)[0])
        raise DataError(f"{source}: entry {k}: {key} holds an infinite value ({vals[k]!r}); "
                        f"use null or NaN for no prediction")
    return arr


def vcoco_detections_from_list(dets: list, gt: VCOCOGroundTruth, source: str = "<detections>") -> VCOCODetections:
    """Convert official-style detection dicts (as vsrl_eval's pickle holds) to arrays. Values are
    read column by column (one key over all entries) to stay fast on large files."""
    A = gt.num_actions
    index = {int(i): k for k, i in enumerate(gt.image_ids.tolist())}
    K = len(dets)
    for k, d in enumerate(dets):
        if not isinstance(d, dict):
            raise DataError(f"{source}: entry {k}: expected an object")
        if "image_id" not in d or "person_box" not in d:
            raise DataError(f"{source}: entry {k}: needs 'image_id' and 'person_box'")
    img = np.zeros(K, dtype=np.int64)
    for k, d in enumerate(dets):
        try:
            img[k] = index[int(d["image_id"])]
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{source}: entry {k}: image_id {d['image_id']!r} is not an image of the split") from None
    pbox = _column(dets, "person_box", 4, source)
    if not np.isfinite(pbox).all():
        k = int(np.flatnonzero(~np.isfinite(pbox).all(axis=1))[0])
        raise DataError(f"{source}: entry {k}: person_box is not finite")
    agent = np.full((K, A), np.nan, dtype=F32)
    roles = np.full((K, A, 2, 5), np.nan, dtype=F32)
    for a in range(A):
        agent[:, a] = _column(dets, f"{gt.actions[a]}_agent", 0, source)
        for r in range(1, len(gt.roles[a])):
            roles[:, a, r - 1] = _column(dets, f"{gt.actions[a]}_{gt.roles[a][r]}", 5, source)
    return VCOCODetections(img, pbox.astype(F32), agent, roles)


# -- evaluation ------------------------------------------------------------------------------

def get_overlap(boxes: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Row-wise IoU of ``boxes`` [P, 4] and ``ref`` [P, 4], float32, official +1 convention."""
    boxes = boxes.astype(F32, copy=False)
    ref = ref.astype(F32, copy=False)
    one, zero = F32(1.0), F32(0.0)
    ixmin = np.maximum(boxes[:, 0], ref[:, 0])
    iymin = np.maximum(boxes[:, 1], ref[:, 1])
    ixmax = np.minimum(boxes[:, 2], ref[:, 2])
    iymax = np.minimum(boxes[:, 3], ref[:, 3])
    iw = np.maximum(ixmax - ixmin + one, zero)
    ih = np.maximum(iymax - iymin + one, zero)
    inters = iw * ih
    uni = (ref[:, 2] - ref[:, 0] + one) * (ref[:, 3] - ref[:, 1] + one) + \
          (boxes[:, 2] - boxes[:, 0] + one) * (boxes[:, 3] - boxes[:, 1] + one) - inters
    with np.errstate(divide="ignore", invalid="ignore"):
        return inters / uni


def _assign_persons(gt: VCOCOGroundTruth, dets: VCOCODetections) -> tuple[np.ndarray, np.ndarray]:
    """Best person of every detection's image: ``jmax`` [K] (global person index, -1 if the image
    has none) and ``ovmax`` [K] float32 (NaN-aware like np.argmax/np.max: first NaN wins)."""
    K = len(dets)
    jmax = np.full(K, -1, dtype=np.int64)
    ovmax = np.full(K, -np.inf, dtype=F32)
    n_img = gt.image_ids.size
    pstart = np.searchsorted(gt.person_image, np.arange(n_img + 1), side="left")  # persons grouped by image
    cnt = (pstart[1:] - pstart[:-1])[dets.image_index]                             # [K]
    has = np.flatnonzero(cnt)
    if has.size == 0:
        return jmax, ovmax
    c = cnt[has]
    pair_det = np.repeat(has, c)                                                   # [P]
    seg = np.concatenate(([0], np.cumsum(c)[:-1]))                                 # [len(has)]
    within = np.arange(pair_det.size) - np.repeat(seg, c)
    pair_person = pstart[dets.image_index[pair_det]] + within                      # [P]
    ov = get_overlap(gt.person_boxes[pair_person], dets.person_boxes[pair_det])    # [P] float32
    key = np.where(np.isnan(ov), np.inf, ov)                                       # NaN acts as the max
    seg_max = np.maximum.reduceat(key, seg)
    cand = np.flatnonzero(key == np.repeat(seg_max, c))
    _, first = np.unique(pair_det[cand], return_index=True)
    pick = cand[first]
    jmax[has] = pair_person[pick]
    ovmax[has] = ov[pick]
    return jmax, ovmax


def _ranked_ap(image_index: np.ndarray, scores: np.ndarray, person: np.ndarray, qualifies: np.ndarray,
               npos: int) -> tuple[float, int]:
    """AP of one class from the evaluated detections (already without NaN scores and ignored
    persons), replicating the per-image loop + final ranking of vsrl_eval. Returns (AP, #TP)."""
    n = scores.size
    if npos == 0:
        return math.nan, 0
    if n == 0:
        return 0.0, 0
    orig = np.arange(n)
    # per image (split order), score descending, ties: later entry first (reversed stable sort)
    stream = np.lexsort((-orig, -scores.astype(np.float64), image_index))
    q = stream[qualifies[stream]]
    tp = np.zeros(n, dtype=F32)
    _, first = np.unique(person[q], return_index=True)   # first claim of a person (per class) wins
    tp[q[first]] = 1
    sc_stream = scores[stream]
    tp_stream = tp[stream]
    order = np.argsort(sc_stream, kind="stable")[::-1]
    a_tp = np.cumsum(tp_stream[order], dtype=F32)
    a_fp = np.cumsum(F32(1) - tp_stream[order], dtype=F32)
    rec = a_tp / F32(npos)
    prec = a_tp / np.maximum(a_tp + a_fp, F32(np.finfo(np.float64).eps))
    ap = voc_ap_allpoint(rec.astype(np.float64), prec.astype(np.float64))
    return float(F32(ap)), int(tp.sum())


@dataclass
class VCOCOResult:
    actions: tuple[str, ...]
    agent_ap: np.ndarray                  # [A] fractions (NaN: no positives)
    role_names: list[str]                 # ['hold-obj', ...] (official print names)
    role_pairs: list[tuple[int, int]]
    role_ap_s1: np.ndarray                # [R] fractions
    role_ap_s2: np.ndarray
    npos: np.ndarray                      # [A]
    num_detections: int
    num_images: int

    def _nanmean(self, ap: np.ndarray, drop_point: bool) -> float:
        keep = np.array([not (drop_point and self.actions[a] == "point") for a, _ in self.role_pairs], bool)
        v = ap[keep]
        return float(np.nanmean(v)) if v.size and not np.isnan(v).all() else 0.0

    @property
    def agent_map(self) -> float:
        return float(np.nansum(self.agent_ap) / max(len(self.actions), 1))

    def to_json_dict(self) -> dict:
        pct = lambda v: None if math.isnan(v) else 100.0 * v  # noqa: E731
        return {
            "agent_map": 100.0 * self.agent_map,
            "role_map_s1": 100.0 * self._nanmean(self.role_ap_s1, False),
            "role_map_s2": 100.0 * self._nanmean(self.role_ap_s2, False),
            "role_map_s1_no_point": 100.0 * self._nanmean(self.role_ap_s1, True),
            "role_map_s2_no_point": 100.0 * self._nanmean(self.role_ap_s2, True),
            "agent_ap": {a: pct(float(v)) for a, v in zip(self.actions, self.agent_ap)},
            "role_ap_s1": {n: pct(float(v)) for n, v in zip(self.role_names, self.role_ap_s1)},
            "role_ap_s2": {n: pct(float(v)) for n, v in zip(self.role_names, self.role_ap_s2)},
            "npos": {a: int(v) for a, v in zip(self.actions, self.npos)},
            "counts": {"images": self.num_images, "detections": self.num_detections,
                       "actions": len(self.actions), "action_roles": len(self.role_names),
                       "action_roles_no_point": sum(self.actions[a] != "point" for a, _ in self.role_pairs)},
        }

    def table(self) -> str:
        d = self.to_json_dict()
        lines = ["V-COCO (official vsrl_eval protocol, AP in %)",
                 f"{'':24}{'Scenario 1':>12}{'Scenario 2':>12}",
                 f"{'role mAP (%d)' % len(self.role_names):24}{d['role_map_s1']:12.2f}{d['role_map_s2']:12.2f}",
                 f"{'role mAP (%d, no point)' % d['counts']['action_roles_no_point']:24}"
                 f"{d['role_map_s1_no_point']:12.2f}{d['role_map_s2_no_point']:12.2f}",
                 f"agent mAP ({len(self.actions)} actions): {d['agent_map']:.2f}",
                 f"images {self.num_images}, detection entries {self.num_detections}"]
        return "\n".join(lines)


def evaluate_vcoco(gt: VCOCOGroundTruth, dets: VCOCODetections, min_overlap: float = MIN_OVERLAP) -> VCOCOResult:
    """Agent AP per action and role AP per (action, role), scenarios 1 and 2."""
    A = gt.num_actions
    npos = gt.npos()
    thr = F32(min_overlap)
    jmax, ovmax = _assign_persons(gt, dets)
    has_person = jmax >= 0
    safe_j = np.where(has_person, jmax, 0)
    ignored = has_person & gt.person_ignore[safe_j] if gt.person_ignore.size else np.zeros(len(dets), bool)
    box_ok = has_person & (ovmax >= thr)

    agent_ap = np.full(A, np.nan)
    for a in range(A):
        s = dets.agent_scores[:, a]
        ev = ~np.isnan(s) & ~ignored
        true_action = has_person & (gt.person_actions[safe_j, a] == 1) if gt.person_actions.size else np.zeros(len(dets), bool)
        qual = (box_ok & true_action)[ev]
        agent_ap[a], _ = _ranked_ap(dets.image_index[ev], s[ev], jmax[ev], qual, int(npos[a]))

    pairs = gt.action_roles()
    names = [f"{gt.actions[a]}-{gt.roles[a][r + 1]}" for a, r in pairs]
    ap_s = {1: np.full(len(pairs), np.nan), 2: np.full(len(pairs), np.nan)}
    for k, (a, r) in enumerate(pairs):
        rb = dets.roles[:, a, r, :4]                       # [K, 4]
        s = dets.roles[:, a, r, 4]
        ev = ~np.isnan(s) & ~ignored
        true_action = has_person & (gt.person_actions[safe_j, a] == 1) if gt.person_actions.size else np.zeros(len(dets), bool)
        gt_rb = gt.role_boxes[safe_j, a, r] if gt.role_boxes.size else np.full((len(dets), 4), -1, F32)
        no_gt_role = (gt_rb == -1).all(axis=1)
        empty_pred = (rb == 0).all(axis=1) | np.isnan(rb).all(axis=1)
        ov_role = get_overlap(gt_rb, rb)                   # [K]; used where a role object exists
        for scen in (1, 2):
            role_ok = np.where(no_gt_role, empty_pred if scen == 1 else True, ov_role >= thr)
            qual = (box_ok & true_action & role_ok)[ev]
            ap_s[scen][k], _ = _ranked_ap(dets.image_index[ev], s[ev], jmax[ev], qual, int(npos[a]))
    return VCOCOResult(gt.actions, agent_ap, names, pairs, ap_s[1], ap_s[2], npos, len(dets),
                       int(gt.image_ids.size))
