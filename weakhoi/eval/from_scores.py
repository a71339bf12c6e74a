"""Evaluation straight from a ``hoi_scores`` artifact: fuse (:mod:`weakhoi.fusion`), turn the
fused (pair, HOI class) scores into the evaluators' detection forms, evaluate.

* HICO-DET layout (kinds ``hicodet`` and ``synhoi``): one detection per fused (human box,
  object box, HOI class) -> :class:`weakhoi.eval.detections.HOIDetections` (continuous boxes,
  no JSON round trip) -> :func:`weakhoi.eval.hicodet.evaluate_hicodet`, Default and
  Known-Object settings.
* V-COCO: the vsrl_eval layout has one entry per (image, detected person). Rule (the one of
  the iCAN / VCL lineage, documented): for every human detection that is the human of at least
  one scored pair, the ``<action>_<role>`` prediction is the object box of that person's
  highest-scoring pair for the action-role class, with that score; the ``<action>_agent``
  score is the maximum of those scores over the action's roles. Boxes are written in the
  official frame (:func:`weakhoi.eval.vcoco_gt.continuous_to_vcoco`). Actions or roles the
  person has no scored pair for get no prediction (NaN / key absent). The same table gives the
  evaluator's arrays (:func:`vcoco_detections`) and the exported JSON list
  (:func:`vcoco_detection_list`), so both evaluate identically.

Consistency with the dataset is checked first (:func:`check_scores_match`): same file names in
the same order and the same HOI class table (DataError naming the first difference).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..data.records import HOIDataset
from ..errors import DataError
from ..fusion import FusionConfig, fuse_scores
from ..scores import HOIScores
from .detections import HOIDetections
from .hicodet import HICODetResult, evaluate_hicodet
from .vcoco import F32, VCOCODetections, VCOCOGroundTruth, VCOCOResult, evaluate_vcoco
from .vcoco_gt import continuous_to_vcoco, dataset_image_ids, vcoco_ground_truth_from_dataset


@dataclass(frozen=True, eq=False)
class FusedDetections:
    """Fused scores of a whole split, grouped by image, score descending within an image."""

    image_index: np.ndarray   # [K] int64
    human: np.ndarray         # [K] int64 global row into HOIScores.boxes
    object: np.ndarray        # [K] int64 global row into HOIScores.boxes
    hoi: np.ndarray           # [K] int64
    score: np.ndarray         # [K] float64

    def __len__(self) -> int:
        return int(self.hoi.shape[0])


def check_scores_match(scores: HOIScores, dataset: HOIDataset) -> None:
    """DataError unless ``scores`` covers exactly ``dataset``'s images (same order) with the same
    HOI class table (N classes over the same verbs and objects)."""
    src = dataset.source or dataset.name
    v = dataset.vocab
    same = (scores.num_hois == v.num_hois and scores.num_verbs == v.num_verbs
            and scores.num_objects == v.num_objects
            and np.array_equal(scores.hoi_verb, v.hoi_verb) and np.array_equal(scores.hoi_object, v.hoi_object))
    if not same:
        raise DataError(f"{scores.path}: its HOI classes ({scores.num_hois} over {scores.num_verbs} "
                        f"verbs x {scores.num_objects} objects) are not those of {src} "
                        f"({v.num_hois} over {v.num_verbs} x {v.num_objects}); infer and evaluate "
                        f"must read the same dataset")
    names = dataset.file_names
    if scores.file_names != names:
        if len(scores.file_names) != len(names):
            raise DataError(f"{scores.path}: {len(scores.file_names)} images, {src} has {len(names)}")
        k = next(i for i, (a, b) in enumerate(zip(scores.file_names, names)) if a != b)
        raise DataError(f"{scores.path}: image {k} is {scores.file_names[k]!r}, {src} has {names[k]!r} "
                        f"(the artifact must list the dataset's images in its order)")


#: Images are fused in chunks of about this many pairs (bounds the [P, A] float64 temporaries
#: of the pair softmax to ~CHUNK_PAIRS x A x 8 bytes each).
CHUNK_PAIRS = 16384


def _image_chunks(pair_indptr: np.ndarray, chunk_pairs: int) -> list[tuple[int, int]]:
    """Consecutive image ranges [i0, i1) with about ``chunk_pairs`` pairs each (at least one
    image per range)."""
    n = len(pair_indptr) - 1
    out, i0 = [], 0
    while i0 < n:
        i1 = int(np.searchsorted(pair_indptr, pair_indptr[i0] + chunk_pairs, side="right")) - 1
        i1 = min(max(i1, i0 + 1), n)
        out.append((i0, i1))
        i0 = i1
    return out


def fuse_hoi_scores(scores: HOIScores, config: FusionConfig,
                    chunk_pairs: int = CHUNK_PAIRS) -> FusedDetections:
    """Apply :func:`weakhoi.fusion.fuse_scores` to every image of ``scores`` (in chunks of
    whole images). Deterministic; another ``chunk_pairs`` can change scores in the last bits
    (vectorised ``exp`` rounds by position)."""
    import torch

    if config.clip != "none" and not scores.has_clip:
        raise DataError(f"{scores.path}: fusion clip mode {config.clip!r} needs CLIP scores, and "
                        f"this artifact has none (run infer with CLIP scores enabled)")
    gh, go = scores.pair_detections()                                    # [P], [P]
    pair_image = scores.pair_image()                                     # [P]
    table = torch.from_numpy(scores.verb_object_to_hoi())                # [A, C]
    t = torch.from_numpy
    parts = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # memory-bound elementwise passes: OpenMP threads cost more than they
    try:                       # gain here (10x slower on 2 busy cores, bench/RESULTS.md fusion_eval)
        for i0, i1 in _image_chunks(scores.pair_indptr, chunk_pairs):
            p0, p1 = int(scores.pair_indptr[i0]), int(scores.pair_indptr[i1])
            if p1 == p0:
                continue
            fused = fuse_scores(t(scores.s_g[i0:i1]), t(pair_image[p0:p1] - i0), t(scores.s_p[p0:p1]),
                                t(scores.s_b[p0:p1]), t(scores.det_scores[gh[p0:p1]]),
                                t(scores.det_scores[go[p0:p1]]), t(scores.labels[go[p0:p1]]), table, config,
                                None if scores.s_clip is None else t(scores.s_clip[p0:p1]))
            parts.append((fused.pair.numpy() + p0, fused.hoi.numpy(), fused.score.numpy()))
    finally:
        torch.set_num_threads(threads)
    pair = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    hoi = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    score = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.float64)
    return FusedDetections(pair_image[pair], gh[pair], go[pair], hoi, score)


def hoi_detections(scores: HOIScores, fused: FusedDetections) -> HOIDetections:
    """HICO-DET-layout detections (continuous boxes) of the fused scores."""
    return HOIDetections.from_arrays(fused.image_index, scores.boxes[fused.human],
                                     scores.boxes[fused.object], fused.hoi, fused.score)


def evaluate_hicodet_scores(scores: HOIScores, dataset: HOIDataset, config: FusionConfig,
                            image_objects: np.ndarray | None = None
                            ) -> tuple[HICODetResult, HICODetResult]:
    """(Default, Known-Object) HICO-DET results of ``scores`` fused with ``config``.
    ``image_objects``: image-level object labels for Known-Object (None: the documented fallback,
    objects of the annotated pairs)."""
    check_scores_match(scores, dataset)
    dets = hoi_detections(scores, fuse_hoi_scores(scores, config))
    return (evaluate_hicodet(dataset, dets),
            evaluate_hicodet(dataset, dets, known_object=True, image_objects=image_objects))


# -- V-COCO ----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class VCOCOPersonScores:
    """Per (image, detected person): the best pair of every action-role verb."""

    image_index: np.ndarray   # [E] int64 dataset image
    person_box: np.ndarray    # [E, 4] float64 official frame
    verb_score: np.ndarray    # [E, V] float64 best fused score per verb, NaN: none
    verb_box: np.ndarray      # [E, V, 4] float64 official frame object box of that pair (NaN: none)
    verbs: tuple[str, ...]    # [V] action-role verb names ('hold_obj', ...)

    def __len__(self) -> int:
        return int(self.image_index.shape[0])


def vcoco_person_scores(scores: HOIScores, fused: FusedDetections, verbs: tuple[str, ...],
                        hoi_verb: np.ndarray) -> VCOCOPersonScores:
    """Group ``fused`` by detected person and keep each verb's best pair (see module docstring).
    ``verbs``/``hoi_verb``: the vocabulary's verb names and the verb of each HOI class."""
    V = len(verbs)
    persons, entry = np.unique(fused.human, return_inverse=True)          # global rows, sorted
    E = persons.size
    verb = np.asarray(hoi_verb, np.int64)[fused.hoi]                      # [K]
    # per (entry, verb) the first row in (score desc, file) order: lexsort is stable
    order = np.lexsort((-fused.score, verb, entry))
    key = entry[order] * V + verb[order]
    first = order[np.r_[True, key[1:] != key[:-1]]] if order.size else order
    vs = np.full((E, V), np.nan)
    vb = np.full((E, V, 4), np.nan)
    vs[entry[first], verb[first]] = fused.score[first]
    vb[entry[first], verb[first]] = continuous_to_vcoco(scores.boxes[fused.object[first]])
    image = np.searchsorted(scores.det_indptr, persons, side="right") - 1
    return VCOCOPersonScores(image.astype(np.int64), continuous_to_vcoco(scores.boxes[persons]),
                             vs, vb, tuple(verbs))


def _gt_image_index(image_ids: np.ndarray, gt: VCOCOGroundTruth) -> np.ndarray:
    pos = {int(i): k for k, i in enumerate(gt.image_ids.tolist())}
    missing = [int(i) for i in image_ids if int(i) not in pos]
    if missing:
        raise DataError(f"V-COCO: image id {missing[0]} of the scores is not in the ground truth split")
    return np.array([pos[int(i)] for i in image_ids], dtype=np.int64)


def vcoco_detections(table: VCOCOPersonScores, image_ids: np.ndarray,
                     gt: VCOCOGroundTruth) -> VCOCODetections:
    """The evaluator's arrays for ``gt``'s actions and roles (``image_ids`` [n]: COCO id of
    every dataset image)."""
    E, A = len(table), gt.num_actions
    index = {n: j for j, n in enumerate(table.verbs)}
    agent = np.full((E, A), np.nan)
    roles = np.full((E, A, 2, 5), np.nan)
    for a, action in enumerate(gt.actions):
        cols = []
        for r, role in enumerate(gt.roles[a][1:]):
            j = index.get(f"{action}_{role}")
            if j is None:
                continue
            cols.append(j)
            roles[:, a, r, :4] = table.verb_box[:, j]
            roles[:, a, r, 4] = table.verb_score[:, j]
        if cols:
            s = table.verb_score[:, cols]
            has = ~np.isnan(s).all(axis=1)
            agent[has, a] = np.nanmax(s[has], axis=1)
    img = _gt_image_index(np.asarray(image_ids)[table.image_index], gt) if E else np.zeros(0, np.int64)
    return VCOCODetections(img, table.person_box.astype(F32), agent.astype(F32), roles.astype(F32))


def vcoco_detection_list(table: VCOCOPersonScores, image_ids: np.ndarray) -> list[dict]:
    """The official detection list (one dict per (image, person); keys without a prediction are
    left out) for ``weakhoi evaluate vcoco`` or vsrl_eval-style tools."""
    actions: dict[str, list[tuple[str, int]]] = {}
    for j, name in enumerate(table.verbs):
        action, _, role = name.rpartition("_")
        actions.setdefault(action, []).append((role, j))
    out = []
    for e in range(len(table)):
        d: dict = {"image_id": int(image_ids[table.image_index[e]]),
                   "person_box": [float(x) for x in table.person_box[e]]}
        for action, roles in actions.items():
            best = -math.inf
            for role, j in roles:
                s = float(table.verb_score[e, j])
                if math.isnan(s):
                    continue
                d[f"{action}_{role}"] = [float(x) for x in table.verb_box[e, j]] + [s]
                best = max(best, s)
            if best > -math.inf:
                d[f"{action}_agent"] = best
        out.append(d)
    return out


def evaluate_vcoco_scores(scores: HOIScores, dataset: HOIDataset, config: FusionConfig,
                          gt: VCOCOGroundTruth | None = None) -> VCOCOResult:
    """V-COCO agent and role AP of ``scores`` fused with ``config``. ``gt``: official ground
    truth (:func:`weakhoi.eval.vcoco.load_vcoco_ground_truth`); None builds it from ``dataset``
    (:func:`weakhoi.eval.vcoco_gt.vcoco_ground_truth_from_dataset`, documented approximation)."""
    check_scores_match(scores, dataset)
    if gt is None:
        gt = vcoco_ground_truth_from_dataset(dataset)
    fused = fuse_hoi_scores(scores, config)
    table = vcoco_person_scores(scores, fused, dataset.vocab.verbs, dataset.vocab.hoi_verb)
    return evaluate_vcoco(gt, vcoco_detections(table, dataset_image_ids(dataset), gt))
