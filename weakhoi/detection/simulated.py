"""Detector simulation from ground-truth boxes (SynHOI, or diagnostics on HICO-DET test).

Per image: the unique human and object boxes of its annotations (deduplicated per label) are
missed with probability ``miss_rate``; kept boxes get Gaussian edge jitter proportional to their
size and a high score (Beta(*tp_beta)); with probability ``dup_rate`` a kept box also yields a
looser near-duplicate with a lower score; Poisson(``fp_rate``) false positives with random
boxes, uniformly random labels and low scores (Beta(*fp_beta)) are added; everything is clipped
to the image. The generator of image ``i`` is seeded with ``(seed, i)`` so a result does not
depend on which other images are processed or in what order.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from ..boxes import box_iou, clip_boxes
from ..data.records import HOIDataset, ImageAnnotation
from ..errors import ConfigError
from .common import MIN_BOX_SIZE, ImageDetections, Proposals


@dataclass(frozen=True)
class SimulationParams:
    seed: int = 0
    jitter: float = 0.05            # edge noise std, fraction of box width/height
    miss_rate: float = 0.05         # probability a ground-truth box is not detected
    fp_rate: float = 1.0            # mean number of false positives per image (Poisson)
    dup_rate: float = 0.1           # probability a detected box gets a near-duplicate
    dup_jitter: float = 0.15        # edge noise std of duplicates, fraction of box size
    label_noise: float = 0.0        # probability a detected box gets a random wrong label
    tp_beta: tuple[float, float] = (8.0, 2.0)   # score distribution of true boxes (mean 0.8)
    fp_beta: tuple[float, float] = (2.0, 5.0)   # score distribution of false positives (mean 0.29)
    dup_score_factor: tuple[float, float] = (0.3, 0.9)  # duplicate score = true score * U(a, b)
    fp_size: tuple[float, float] = (0.05, 0.5)  # false-positive side, fraction of the image side
    dedup_iou: float = 0.7          # same-label GT boxes above this IoU count as one object

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any], where: str = "SimulationParams") -> "SimulationParams":
        """Parse and validate a mapping of fields (lists become tuples); ConfigError messages
        name ``<where>.<field>``. The typed constructor is trusted as is."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(where + '.' + k for k in unknown)}")
        kw = {k: tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else v for k, v in cfg.items()}
        p = cls(**kw)
        p.validate(where)
        return p

    def validate(self, where: str = "SimulationParams") -> None:
        for k in ("miss_rate", "dup_rate", "label_noise"):
            if not 0.0 <= getattr(self, k) <= 1.0:
                raise ConfigError(f"{where}.{k} must be in [0, 1], got {getattr(self, k)}")
        for k in ("jitter", "dup_jitter", "fp_rate"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{where}.{k} must be >= 0, got {getattr(self, k)}")
        for k in ("tp_beta", "fp_beta", "dup_score_factor", "fp_size"):
            v = getattr(self, k)
            if len(v) != 2 or min(v) <= 0:
                raise ConfigError(f"{where}.{k} must be two positive numbers, got {v}")
        if self.fp_size[0] > self.fp_size[1] or self.fp_size[1] > 1:
            raise ConfigError(f"{where}.fp_size must satisfy 0 < a <= b <= 1, got {self.fp_size}")

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def ground_truth_boxes(rec: ImageAnnotation, person: int, dedup_iou: float = 0.7
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Unique ground-truth boxes of one image: humans (label ``person``) and present objects of
    its pairs, plus every other annotated box when the source lists them
    (``rec.instance_boxes``: SynHOI's distractors, which are in no pair). Returns boxes [G, 4]
    float64 and labels [G] int64; same-label boxes overlapping with IoU >= ``dedup_iou`` are
    merged (first kept), so a person in several pairs counts once."""
    present = (rec.object >= 0) & np.isfinite(rec.boxes_o).all(axis=1)
    boxes = [rec.boxes_h.reshape(-1, 4), rec.boxes_o.reshape(-1, 4)[present]]
    labels = [np.full(len(rec.boxes_h), person, np.int64), rec.object[present]]
    if rec.instance_boxes is not None:
        boxes.append(rec.instance_boxes.reshape(-1, 4))
        labels.append(rec.instance_labels.astype(np.int64))
    boxes, labels = np.concatenate(boxes), np.concatenate(labels)
    keep: list[int] = []
    for i in range(len(boxes)):
        same = [j for j in keep if labels[j] == labels[i]]
        if same and box_iou(boxes[i:i + 1], boxes[same]).max() >= dedup_iou:
            continue
        keep.append(i)
    return boxes[keep].astype(np.float64).reshape(-1, 4), labels[keep]


def _jitter(rng: np.random.Generator, boxes: np.ndarray, frac: float) -> np.ndarray:
    """Edge-wise Gaussian noise with std ``frac`` x box width (x edges) / height (y edges)."""
    wh = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)  # [G, 2]
    scale = np.concatenate([wh, wh], axis=1) * frac                                 # [G, 4]
    return boxes + rng.normal(size=boxes.shape) * scale


def _fix(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Order edges, clip to the image and enforce :data:`MIN_BOX_SIZE` (shifting inward at the
    border), so the common post-processing never drops a simulated box as degenerate."""
    b = np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], 1)
    b = clip_boxes(b, width, height)
    for lo, hi, size in ((0, 2, width), (1, 3, height)):
        short = b[:, hi] - b[:, lo] < MIN_BOX_SIZE
        b[short, hi] = np.minimum(b[short, lo] + MIN_BOX_SIZE, size)
        b[short, lo] = np.maximum(b[short, hi] - MIN_BOX_SIZE, 0.0)
    return b


def simulate_image(rec: ImageAnnotation, index: int, num_objects: int, person: int,
                   p: SimulationParams) -> ImageDetections:
    """Simulated detections of one image (unsorted, before the common post-processing)."""
    rng = np.random.default_rng([p.seed, index])
    W, H = rec.width, rec.height
    gt, gt_labels = ground_truth_boxes(rec, person, p.dedup_iou)            # [G, 4], [G]
    hit = rng.random(len(gt)) >= p.miss_rate
    tp = _fix(_jitter(rng, gt[hit], p.jitter), W, H)                         # [T, 4]
    tp_labels = gt_labels[hit].copy()
    flip = rng.random(len(tp)) < p.label_noise
    if flip.any() and num_objects > 1:  # a wrong label: uniform over the other classes
        shift = rng.integers(1, num_objects, size=int(flip.sum()))
        tp_labels[flip] = (tp_labels[flip] + shift) % num_objects
    tp_scores = rng.beta(*p.tp_beta, size=len(tp))
    dup = rng.random(len(tp)) < p.dup_rate
    dup_boxes = _fix(_jitter(rng, tp[dup], p.dup_jitter), W, H)
    dup_scores = tp_scores[dup] * rng.uniform(*p.dup_score_factor, size=int(dup.sum()))
    n_fp = int(rng.poisson(p.fp_rate)) if num_objects > 0 else 0
    fw = rng.uniform(*p.fp_size, size=n_fp) * W
    fh = rng.uniform(*p.fp_size, size=n_fp) * H
    fx, fy = rng.random(n_fp) * (W - fw), rng.random(n_fp) * (H - fh)
    fp = _fix(np.stack([fx, fy, fx + fw, fy + fh], axis=1).reshape(-1, 4), W, H)
    fp_labels = rng.integers(0, max(num_objects, 1), size=n_fp)
    fp_scores = rng.beta(*p.fp_beta, size=n_fp)
    return ImageDetections.from_arrays(
        np.concatenate([tp, dup_boxes, fp]),
        np.clip(np.concatenate([tp_scores, dup_scores, fp_scores]), 0.0, 1.0),
        np.concatenate([tp_labels, tp_labels[dup], fp_labels]))


def simulate_detections(dataset: HOIDataset, params: SimulationParams | None = None,
                        indices: range | list[int] | None = None) -> Proposals:
    """Simulated proposals for ``dataset`` (or the images ``indices``, in that order).
    ``params`` is used as given (validate untrusted input with :meth:`SimulationParams.from_mapping`)."""
    p = params or SimulationParams()
    idx = list(range(len(dataset))) if indices is None else list(indices)
    v = dataset.vocab
    dets = [simulate_image(dataset[i], i, v.num_objects, v.person, p) for i in idx]
    names = dataset.file_names
    return Proposals([names[i] for i in idx], dataset.image_sizes[np.asarray(idx, dtype=np.int64)],
                     dets, "simulated", p.as_dict())
