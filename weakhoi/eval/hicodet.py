"""HICO-DET mAP, exactly as the official MATLAB evaluation (Chao et al., ``eval_one.m`` +
``VOCevaldet_bboxpair.m``), vectorised.

Protocol, per HOI class, over all test images:

* Detections are ranked by score, descending, ties kept in their original order (MATLAB's
  ``sort`` is stable): images in dataset order, within an image the order of the detection file.
* Overlap of a detection with a ground-truth pair = min(IoU_h, IoU_o). IoU uses the
  inclusive-pixel convention on 1-based boxes with MATLAB's exact arithmetic:
  ``iw = min(x2, gx2) - max(x1, gx1) + 1`` (same for ``ih``), overlap 0 unless iw > 0 and ih > 0,
  ``ua = (x2-x1+1)*(y2-y1+1) + (gx2-gx1+1)*(gy2-gy1+1) - iw*ih``, ``ov = iw*ih/ua``. Ground
  truth is continuous inside weakhoi and converted back with x1 + 1, y1 + 1 (exact for pixel
  indices); detections read from a "hico"-frame file are compared with the file's own numbers
  (``HOIDetections.boxes_*_hico``), since x - 1 + 1 is not exact for fractional |x| < 1.
* Each detection is assigned to the ground-truth pair of its class in its image with the
  highest overlap among *all* of them, matched or not (first one on ties). Overlap >= 0.5 and
  that pair not yet matched: true positive, the pair becomes matched. Otherwise false positive
  (no fallback to the second-best pair). Detections in images without ground truth of the class
  are false positives.
* AP: 11-point (:func:`weakhoi.eval.ap.voc_ap_11point`) with MATLAB's ``0:0.1:1`` thresholds
  (the 4th is 0.30000000000000004, so a recall of exactly 0.3 misses it); npos = all
  ground-truth pairs of the class in the dataset (a pair listed twice counts twice and can never
  be matched twice; ``anno_bbox.mat`` duplicates of a HOI id are resolved by the reader, last
  entry wins as in ``eval_one.m``). A class without ground truth has AP 0 and counts in the means
  (official: rec = 0/0 = NaN never reaches a threshold). Its recall is reported as 0 here
  (official REC: NaN when it has detections).
* mAP Full over all classes; Rare / Non-Rare over the vocabulary's rare split.
* Known-Object setting: for each class, only detections in images whose image-level labels
  contain the class's object are kept. Official labels: HICO's ``anno.mat`` ``anno_test``
  ([600, n_images]; 1 positive, 0 ambiguous, -1 negative, NaN unknown): an image contains object
  o when some HOI class of o has value 1 there (:func:`image_objects_from_anno_mat`). Fallback
  (documented, used when no labels are given): the objects of the image's annotated pairs
  (:func:`image_objects_from_boxes`). npos is unchanged (all ground truth of the class; the
  official code asserts that ground truth only occurs in the kept images).

Vectorisation: the assignment of a detection (best pair and its overlap) does not depend on
which pairs are already matched, so it is computed for all detections at once; a detection is
then a true positive iff it is the first one, in ranked order, that is assigned with overlap
>= 0.5 to its pair. That is exactly the sequential loop's result.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..artifacts import write_json
from ..boxes import continuous_to_hico
from ..data.records import HOIDataset
from ..errors import DataError
from .ap import precision_recall, voc_ap_11point_monotone
from .detections import HOIDetections

MIN_OVERLAP = 0.5


@dataclass
class HICODetResult:
    """Per-class results and the three means (fractions; ``summary()`` gives percent)."""

    per_class_ap: np.ndarray        # [N] float64
    per_class_recall: np.ndarray    # [N] float64, final recall (0 without ground truth)
    npos: np.ndarray                # [N] int64, ground-truth pairs per class
    num_detections: np.ndarray      # [N] int64, detections evaluated per class (after KO filter)
    num_tp: np.ndarray              # [N] int64
    rare: np.ndarray                # [N] bool
    setting: str                    # 'default' | 'known_object'
    num_images: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def full(self) -> float:
        return float(np.mean(self.per_class_ap)) if self.per_class_ap.size else 0.0

    @property
    def rare_map(self) -> float:
        return float(np.mean(self.per_class_ap[self.rare])) if self.rare.any() else 0.0

    @property
    def non_rare_map(self) -> float:
        return float(np.mean(self.per_class_ap[~self.rare])) if (~self.rare).any() else 0.0

    def to_json_dict(self) -> dict:
        """``full``/``rare``/``non_rare`` in percent, ``per_class_ap`` as fractions."""
        return {
            "setting": self.setting,
            "full": 100.0 * self.full, "rare": 100.0 * self.rare_map, "non_rare": 100.0 * self.non_rare_map,
            "mean_recall": 100.0 * float(np.mean(self.per_class_recall)) if self.per_class_recall.size else 0.0,
            "per_class_ap": self.per_class_ap.tolist(),
            "per_class_recall": self.per_class_recall.tolist(),
            "per_class_npos": self.npos.tolist(),
            "counts": {"images": self.num_images, "classes": int(self.per_class_ap.size),
                       "rare_classes": int(self.rare.sum()), "non_rare_classes": int((~self.rare).sum()),
                       "classes_with_gt": int((self.npos > 0).sum()), "gt_pairs": int(self.npos.sum()),
                       "detections": int(self.num_detections.sum()), "true_positives": int(self.num_tp.sum()),
                       **self.extra},
        }

    def table(self) -> str:
        title = "Known Object" if self.setting == "known_object" else "Default"
        lines = [f"HICO-DET mAP ({title} setting, official protocol)",
                 f"{'':10}{'Full':>10}{'Rare':>10}{'Non-Rare':>10}",
                 f"{'mAP (%)':10}{100 * self.full:10.2f}{100 * self.rare_map:10.2f}{100 * self.non_rare_map:10.2f}",
                 f"{'classes':10}{self.per_class_ap.size:10d}{int(self.rare.sum()):10d}{int((~self.rare).sum()):10d}",
                 f"images {self.num_images}, gt pairs {int(self.npos.sum())}, "
                 f"detections {int(self.num_detections.sum())}, true positives {int(self.num_tp.sum())}"]
        return "\n".join(lines)


# -- ground truth -------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _GroundTruth:
    image_index: np.ndarray  # [G] int64
    hoi: np.ndarray          # [G] int64
    boxes_h: np.ndarray      # [G, 4] float64, 1-based inclusive (MATLAB frame)
    boxes_o: np.ndarray      # [G, 4]


def _ground_truth(dataset: HOIDataset) -> _GroundTruth:
    recs = dataset.records
    counts = np.array([r.num_pairs for r in recs], dtype=np.int64)
    if counts.sum() == 0:
        z = np.zeros((0, 4))
        return _GroundTruth(np.zeros(0, np.int64), np.zeros(0, np.int64), z, z)
    img = np.repeat(np.arange(len(recs), dtype=np.int64), counts)
    hoi = np.concatenate([r.hoi for r in recs]).astype(np.int64)
    bh = np.concatenate([np.asarray(r.boxes_h, np.float64).reshape(-1, 4) for r in recs])
    bo = np.concatenate([np.asarray(r.boxes_o, np.float64).reshape(-1, 4) for r in recs])
    n = dataset.vocab.num_hois
    if hoi.size and (hoi.min() < 0 or hoi.max() >= n):
        raise DataError(f"{dataset.source or dataset.name}: ground-truth HOI id outside 0..{n - 1}")
    # continuous -> 1-based inclusive (x1 + 1, y1 + 1); exact for pixel coordinates
    return _GroundTruth(img, hoi, continuous_to_hico(bh), continuous_to_hico(bo))


# -- image-level labels for the Known-Object setting ----------------------------------------

def image_objects_from_boxes(dataset: HOIDataset) -> np.ndarray:
    """[num_images, num_objects] bool: objects of each image's annotated pairs (the fallback
    image labels of the Known-Object setting)."""
    v = dataset.vocab
    m = np.zeros((len(dataset), v.num_objects), dtype=bool)
    for i, r in enumerate(dataset.records):
        if r.num_pairs:
            m[i, v.hoi_object[np.asarray(r.hoi, dtype=np.int64)]] = True
    return m


def image_objects_from_hoi_labels(dataset: HOIDataset, labels: Sequence[Sequence[int]]) -> np.ndarray:
    """[num_images, num_objects] bool from per-image positive HOI class ids (dataset order)."""
    v = dataset.vocab
    if len(labels) != len(dataset):
        raise DataError(f"image labels: {len(labels)} entries for {len(dataset)} images")
    m = np.zeros((len(dataset), v.num_objects), dtype=bool)
    for i, hois in enumerate(labels):
        h = np.asarray(hois, dtype=np.int64).reshape(-1)
        if h.size and (h.min() < 0 or h.max() >= v.num_hois):
            raise DataError(f"image labels: entry {i} has a HOI id outside 0..{v.num_hois - 1}")
        m[i, v.hoi_object[h]] = True
    return m


def image_objects_from_anno_mat(path: Path | str, dataset: HOIDataset, split: str = "test") -> np.ndarray:
    """[num_images, num_objects] bool from HICO's ``anno.mat`` (``anno_<split>``: [600, n]
    with 1 = positive, 0 = ambiguous, -1 = negative, NaN = unknown; ``list_<split>``: file
    names). Only value 1 counts, as in the official ``eval_one.m`` (``anno_im(nid, :) == 1``).
    Images are matched by file name; every dataset image must be listed."""
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path), variable_names=[f"anno_{split}", f"list_{split}"])
    except FileNotFoundError:
        raise DataError(f"image labels file not found: {path}") from None
    except (NotImplementedError, ValueError, OSError) as e:
        raise DataError(f"{path}: cannot read as a MATLAB v5 .mat file ({e})") from None
    for key in (f"anno_{split}", f"list_{split}"):
        if key not in mat:
            raise DataError(f"{path}: missing variable {key!r}")
    anno = np.asarray(mat[f"anno_{split}"], dtype=np.float64)  # [600, n]
    names = [str(np.asarray(x).reshape(-1)[0]) for x in np.asarray(mat[f"list_{split}"], dtype=object).reshape(-1)]
    v = dataset.vocab
    if anno.shape != (v.num_hois, len(names)):
        raise DataError(f"{path}: anno_{split} has shape {list(anno.shape)}, expected [{v.num_hois}, {len(names)}]")
    col = {n: j for j, n in enumerate(names)}
    missing = [r.file_name for r in dataset.records if r.file_name not in col]
    if missing:
        raise DataError(f"{path}: list_{split} lacks {len(missing)} dataset images, e.g. {missing[0]!r}")
    cols = np.array([col[r.file_name] for r in dataset.records], dtype=np.int64)
    pos = anno[:, cols] == 1                                                # [600, num_images]
    onehot = np.zeros((v.num_hois, v.num_objects), dtype=np.float64)      # [600, num_objects]
    onehot[np.arange(v.num_hois), v.hoi_object] = 1.0
    return (pos.T.astype(np.float64) @ onehot) > 0                          # [num_images, num_objects]


# -- core ------------------------------------------------------------------------------------

def _pair_overlap(dh: np.ndarray, do: np.ndarray, gh: np.ndarray, go: np.ndarray) -> np.ndarray:
    """min(IoU_h, IoU_o) row-wise for matched rows [P, 4] (inclusive frame, MATLAB arithmetic)."""
    def iou(b: np.ndarray, g: np.ndarray) -> np.ndarray:
        iw = np.minimum(b[:, 2], g[:, 2]) - np.maximum(b[:, 0], g[:, 0]) + 1.0
        ih = np.minimum(b[:, 3], g[:, 3]) - np.maximum(b[:, 1], g[:, 1]) + 1.0
        inter = iw * ih
        ua = (b[:, 2] - b[:, 0] + 1.0) * (b[:, 3] - b[:, 1] + 1.0) + \
             (g[:, 2] - g[:, 0] + 1.0) * (g[:, 3] - g[:, 1] + 1.0) - inter
        ok = (iw > 0) & (ih > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(ok, inter / np.where(ok, ua, 1.0), 0.0)
    return np.minimum(iou(dh, gh), iou(do, go))


def assign_detections(dets: HOIDetections, gt: _GroundTruth, num_hois: int) -> tuple[np.ndarray, np.ndarray]:
    """For every detection: index of the best ground-truth pair of its (image, class) and the
    overlap (first pair on ties). Returns ``best_gt`` [D] int64 (-1 without ground truth) and
    ``ov_max`` [D] float64 (-inf without ground truth)."""
    D = len(dets)
    best = np.full(D, -1, dtype=np.int64)
    ovmax = np.full(D, -np.inf)
    if D == 0 or gt.hoi.size == 0:
        return best, ovmax
    gkey = gt.image_index * num_hois + gt.hoi                   # [G]
    gorder = np.argsort(gkey, kind="stable")                    # pairs of a group in file order
    gsorted = gkey[gorder]
    dkey = dets.image_index * num_hois + dets.hoi               # [D]
    start = np.searchsorted(gsorted, dkey, side="left")         # [D]
    cnt = np.searchsorted(gsorted, dkey, side="right") - start  # [D]
    P = int(cnt.sum())
    if P == 0:
        return best, ovmax
    has = np.flatnonzero(cnt)                                   # detections with ground truth
    pair_det = np.repeat(np.arange(D), cnt)                     # [P]
    seg_start = np.concatenate(([0], np.cumsum(cnt)[:-1]))      # [D] first pair of each detection
    within = np.arange(P) - seg_start[pair_det]                 # [P]
    pair_gt = gorder[start[pair_det] + within]                  # [P]

    # the file's own 1-based numbers when known (exact), else continuous + 1 (the official
    # code's det_bb + 1 for its 0-based detections)
    dh = dets.boxes_h_hico if dets.boxes_h_hico is not None else continuous_to_hico(dets.boxes_h)
    do = dets.boxes_o_hico if dets.boxes_o_hico is not None else continuous_to_hico(dets.boxes_o)
    ov = _pair_overlap(dh[pair_det], do[pair_det], gt.boxes_h[pair_gt], gt.boxes_o[pair_gt])  # [P]

    seg_max = np.maximum.reduceat(ov, seg_start[has])           # [len(has)]
    is_max = ov == np.repeat(seg_max, cnt[has])                 # [P]
    cand = np.flatnonzero(is_max)
    _, first = np.unique(pair_det[cand], return_index=True)     # first maximum of each detection
    pick = cand[first]                                          # [len(has)], ordered like `has`
    best[has] = pair_gt[pick]
    ovmax[has] = ov[pick]
    return best, ovmax


def evaluate_hicodet(dataset: HOIDataset, detections: HOIDetections, known_object: bool = False,
                     image_objects: np.ndarray | None = None, min_overlap: float = MIN_OVERLAP
                     ) -> HICODetResult:
    """Official HICO-DET mAP of ``detections`` against ``dataset`` (see module docstring).

    ``image_objects``: [num_images, num_objects] bool image-level object labels for the
    Known-Object setting (None: :func:`image_objects_from_boxes`). Ignored unless
    ``known_object``.
    """
    v = dataset.vocab
    N = v.num_hois
    gt = _ground_truth(dataset)
    npos = np.bincount(gt.hoi, minlength=N).astype(np.int64)   # [N]
    dets = detections
    if len(dets) and (dets.hoi.min() < 0 or dets.hoi.max() >= N):
        raise DataError(f"detections: HOI id outside 0..{N - 1}")
    if len(dets) and (dets.image_index.min() < 0 or dets.image_index.max() >= len(dataset)):
        raise DataError("detections: image index outside the dataset")
    extra: dict = {}
    if known_object:
        objs = image_objects_from_boxes(dataset) if image_objects is None else np.asarray(image_objects, bool)
        if objs.shape != (len(dataset), v.num_objects):
            raise DataError(f"image labels: shape {list(objs.shape)}, expected [{len(dataset)}, {v.num_objects}]")
        keep = objs[dets.image_index, v.hoi_object[dets.hoi]]   # [D]
        extra["detections_removed_known_object"] = int((~keep).sum())
        dets = dets.select(keep)

    best, ovmax = assign_detections(dets, gt, N)
    # rank: class, then score descending, stable (original order on ties)
    order = np.argsort(-dets.scores, kind="stable")
    order = order[np.argsort(dets.hoi[order], kind="stable")]   # [D]
    hoi_s = dets.hoi[order]
    best_s = best[order]
    hit_s = ovmax[order] >= min_overlap                          # [D] could be a TP
    tp = np.zeros(len(dets), dtype=np.float64)
    qual = np.flatnonzero(hit_s)
    _, first = np.unique(best_s[qual], return_index=True)        # first claim of each pair wins
    tp[qual[first]] = 1.0
    fp = 1.0 - tp

    bounds = np.searchsorted(hoi_s, np.arange(N + 1), side="left")  # [N + 1]
    ap = np.zeros(N)
    recall = np.zeros(N)
    ndet = np.diff(bounds).astype(np.int64)
    ntp = np.zeros(N, dtype=np.int64)
    for c in np.flatnonzero(ndet).tolist():
        s, e = int(bounds[c]), int(bounds[c + 1])
        ntp[c] = int(tp[s:e].sum())
        if npos[c] == 0:          # rec = 0/0 = NaN in MATLAB: no threshold reached, AP 0
            continue
        rec, prec = precision_recall(tp[s:e], fp[s:e], int(npos[c]))   # [n_c] each
        ap[c] = voc_ap_11point_monotone(rec, prec)   # rec is non-decreasing without NaN here
        recall[c] = rec[-1]
    return HICODetResult(ap, recall, npos, ndet, ntp, np.asarray(v.rare, dtype=bool),
                         "known_object" if known_object else "default", len(dataset), extra)


def write_metrics(path: Path | str, result: HICODetResult, extra: dict | None = None) -> None:
    """Atomic JSON write of ``result.to_json_dict()`` (+ ``extra`` keys)."""
    doc = result.to_json_dict()
    if extra:
        doc.update(extra)
    write_json(path, doc, indent=1)
