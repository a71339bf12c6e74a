"""Candidate human-object pairs and their 36-d spatial encoding (paper appendix C).

Candidate selection (the defaults of the public two-stage HOI code)
-------------------------------------------------------------------
:func:`select_candidates` turns the raw detections of one image into candidate humans and
objects:

1. score threshold: ``score >= human_score_threshold`` for the person class,
   ``score >= object_score_threshold`` for every other class;
2. class-wise greedy NMS: within one class, a box whose IoU with a higher-scoring kept box is
   ``> nms_threshold`` is dropped (torchvision's ``batched_nms`` semantics); boxes of different
   classes never suppress each other;
3. caps: the ``max_humans`` highest-scoring persons and the ``max_objects`` highest-scoring
   non-person detections are kept.

Humans as objects (``humans_as_objects=True``, the default): HICO-DET has 'person' as an
object class ('hug person', 'kiss person', ...). As in the public two-stage HOI code, the
object candidates are then *all* kept detections, humans included, and a human is never
paired with itself. With ``humans_as_objects=False`` the object candidates are the kept
non-person detections only. So an image has at most
``max_humans * (max_humans + max_objects - 1)`` pairs (15 x 29 = 435 at the defaults) with
humans as objects, ``max_humans * max_objects`` without.

Order (fixed and relied upon downstream): candidates are sorted by descending score, ties
broken by ascending detection row; pairs are human-major -- for each candidate human in that
order, every candidate object in that order, minus the self-pair. Indices are row indices
into the image's detections (as stored in the proposals artifact).

Spatial encoding
----------------
:func:`spatial_encoding` computes, per pair, p in R^18 (all entries >= 0) in this order, with
``W, H`` the image width/height, ``(cx, cy, w, h)`` the centre and size of a box in pixels,
``_h`` the human box and ``_o`` the object box::

     0 cx_h / W            1 cy_h / H            2 cx_o / W            3 cy_o / H
     4 w_h / W             5 h_h / H             6 w_o / W             7 h_o / H
     8 w_h h_h / (W H)     9 w_o h_o / (W H)    10 area_o / (area_h + eps)
    11 w_h / (h_h + eps)  12 w_o / (h_o + eps)  13 IoU(h, o)
    14 [cx_o > cx_h] dx   15 [cx_o < cx_h] dx   16 [cy_o > cy_h] dy   17 [cy_o < cy_h] dy

    dx = |cx_o - cx_h| / (w_h + eps),  dy = |cy_o - cy_h| / (h_h + eps)

(14: object right of the human, 15: left, 16: below, 17: above, in image coordinates with y
pointing down), and the encoding is ``[p; log(p + eps)]`` in R^36. Ratios are taken in pixel
units; ``eps`` (default :data:`DEFAULT_EPS` = 1e-8) is added to every denominator that is a box
size, so zero-width/height/area boxes give large but finite values (bounded by image size /
eps). Boxes are first clipped to the image (so centres are inside ``[0, 1]`` and p >= 0); a box
entirely outside the image becomes zero-area, which the guards above keep finite. Computation
is vectorised over all pairs in float64, the result is float32.

Mirroring the image horizontally maps the encoding exactly to :func:`hflip_encoding` of it
(centres x -> 1 - x, features 14 and 15 swapped, everything else unchanged), which a training
loader can use for flip augmentation without recomputing from boxes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .boxes import _by_score, batched_nms, clip_boxes, paired_iou

#: Default epsilon of the encoding (denominator guard and ``log(p + eps)``).
DEFAULT_EPS = 1e-8
#: Number of base features (p) and of the full encoding ([p; log(p + eps)]).
NUM_BASE_FEATURES = 18
NUM_SPATIAL_FEATURES = 36
#: Names of the 18 base features, in storage order.
FEATURE_NAMES = (
    "cx_h", "cy_h", "cx_o", "cy_o",
    "w_h", "h_h", "w_o", "h_o",
    "area_h", "area_o", "area_ratio_o_h",
    "aspect_h", "aspect_o", "iou",
    "dist_right", "dist_left", "dist_below", "dist_above",
)


# --------------------------------------------------------------------------- candidates

def select_candidates(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, person_label: int,
                      human_score_threshold: float = 0.2, object_score_threshold: float = 0.2,
                      nms_threshold: float = 0.5, max_humans: int = 15, max_objects: int = 15,
                      humans_as_objects: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Candidate humans and objects of one image (see the module docstring for the rules).

    Args:
        boxes: [R, 4] continuous xyxy. scores: [R]. labels: [R] dataset object indices.
        person_label: object index of 'person'.
    Returns:
        (humans [Nh] int64, objects [No] int64): detection row indices, each sorted by
        descending score (ties: lower row first). With ``humans_as_objects`` the objects include
        the candidate humans.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # [R, 4]
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)   # [R]
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)     # [R]
    if not (len(boxes) == len(scores) == len(labels)):
        raise ValueError(f"boxes/scores/labels lengths differ: {len(boxes)}, {len(scores)}, {len(labels)}")
    is_person = labels == person_label
    passed = np.flatnonzero(np.where(is_person, scores >= human_score_threshold,
                                     scores >= object_score_threshold))
    kept = passed[batched_nms(boxes[passed], scores[passed], labels[passed], nms_threshold)]  # score order
    humans = kept[is_person[kept]][:max(int(max_humans), 0)]
    others = kept[~is_person[kept]][:max(int(max_objects), 0)]
    objects = _by_score(np.concatenate([humans, others]), scores) if humans_as_objects else others
    return humans.astype(np.int64), objects.astype(np.int64)


def pair_indices(humans: np.ndarray, objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Human-major pairs of candidate rows minus self-pairs (same detection row).

    Args: humans [Nh], objects [No] detection row indices.
    Returns: (human_rows [P], object_rows [P]) int64 with P = Nh * No - #self-pairs; pair k
    comes before pair k' when its human comes first, then when its object comes first.
    """
    humans = np.asarray(humans, dtype=np.int64).reshape(-1)
    objects = np.asarray(objects, dtype=np.int64).reshape(-1)
    h = np.repeat(humans, len(objects))   # [Nh * No]
    o = np.tile(objects, len(humans))     # [Nh * No]
    keep = h != o
    return h[keep], o[keep]


# --------------------------------------------------------------------------- encoding

def spatial_base_features(boxes_h: np.ndarray, boxes_o: np.ndarray, width: float, height: float,
                          eps: float = DEFAULT_EPS) -> np.ndarray:
    """The 18 base features p (>= 0) of each pair, float64: [P, 4] x [P, 4] -> [P, 18]."""
    W, H = float(width), float(height)
    if not (W > 0 and H > 0):
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if not (np.isfinite(np.asarray(boxes_h, dtype=np.float64)).all()
            and np.isfinite(np.asarray(boxes_o, dtype=np.float64)).all()):
        raise ValueError("non-finite box coordinates")
    bh = _clip(boxes_h, W, H)  # [P, 4]
    bo = _clip(boxes_o, W, H)  # [P, 4]
    if len(bh) != len(bo):
        raise ValueError(f"{len(bh)} human boxes but {len(bo)} object boxes")
    wh, hh = bh[:, 2] - bh[:, 0], bh[:, 3] - bh[:, 1]  # [P], >= 0 after _clip
    wo, ho = bo[:, 2] - bo[:, 0], bo[:, 3] - bo[:, 1]
    cxh, cyh = (bh[:, 0] + bh[:, 2]) / 2, (bh[:, 1] + bh[:, 3]) / 2
    cxo, cyo = (bo[:, 0] + bo[:, 2]) / 2, (bo[:, 1] + bo[:, 3]) / 2
    area_h, area_o = wh * hh, wo * ho
    iou = paired_iou(bh, bo)  # [P], IoU of matched rows (not the full matrix)
    dx = np.abs(cxo - cxh) / (wh + eps)
    dy = np.abs(cyo - cyh) / (hh + eps)
    p = np.stack([
        cxh / W, cyh / H, cxo / W, cyo / H,
        wh / W, hh / H, wo / W, ho / H,
        area_h / (W * H), area_o / (W * H), area_o / (area_h + eps),
        wh / (hh + eps), wo / (ho + eps), iou,
        (cxo > cxh) * dx, (cxo < cxh) * dx, (cyo > cyh) * dy, (cyo < cyh) * dy,
    ], axis=1)  # [P, 18]
    return p


def spatial_encoding(boxes_h: np.ndarray, boxes_o: np.ndarray, width: float, height: float,
                     eps: float = DEFAULT_EPS) -> np.ndarray:
    """The 36-d encoding ``[p; log(p + eps)]`` of each pair: [P, 4] x [P, 4] -> [P, 36] float32.

    ``boxes_h[k]`` and ``boxes_o[k]`` are the human and object box of pair k (continuous xyxy in
    pixels of an image of ``width`` x ``height``). Feature order: :data:`FEATURE_NAMES`.
    """
    p = spatial_base_features(boxes_h, boxes_o, width, height, eps)  # [P, 18]
    return np.concatenate([p, np.log(p + eps)], axis=1).astype(np.float32)  # [P, 36]


def hflip_encoding(encoding: np.ndarray, eps: float = DEFAULT_EPS) -> np.ndarray:
    """Encoding of the horizontally mirrored image, from the encoding itself: [P, 36] -> [P, 36].

    Centre x features become ``1 - x``, 'right' and 'left' distances swap, the rest is unchanged;
    the log half is recomputed from the new p.
    """
    p = np.asarray(encoding, dtype=np.float64)[:, :NUM_BASE_FEATURES].copy()  # [P, 18]
    p[:, [0, 2]] = np.clip(1.0 - p[:, [0, 2]], 0.0, None)
    p[:, [14, 15]] = p[:, [15, 14]]
    return np.concatenate([p, np.log(p + eps)], axis=1).astype(np.float32)


def image_pairs(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, width: float, height: float,
                person_label: int, eps: float = DEFAULT_EPS, **filter_params
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Select candidates, form pairs and encode them, for one image.

    ``filter_params`` are the keyword arguments of :func:`select_candidates`.
    Returns (human_rows [P] int64, object_rows [P] int64, spatial [P, 36] float32).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # [R, 4]
    humans, objects = select_candidates(boxes, scores, labels, person_label, **filter_params)
    h, o = pair_indices(humans, objects)
    return h, o, spatial_encoding(boxes[h], boxes[o], width, height, eps)


def _clip(boxes: np.ndarray, W: float, H: float) -> np.ndarray:
    """Clip to the image and make degenerate (inverted) boxes zero-size: [P, 4] float64."""
    b = clip_boxes(boxes, W, H)  # [P, 4] float64 copy
    # an inverted box (x2 < x1) collapses to its mid-line: zero width, centre unchanged
    for lo, hi in ((0, 2), (1, 3)):
        bad = b[:, hi] < b[:, lo]
        mid = (b[bad, lo] + b[bad, hi]) / 2
        b[bad, lo] = mid
        b[bad, hi] = mid
    return b


# --------------------------------------------------------------------------- artifact

def write_pair_features(proposals_path: Path | str, out: Path | str, human_score_threshold: float = 0.2,
                        object_score_threshold: float = 0.2, nms_threshold: float = 0.5,
                        max_humans: int = 15, max_objects: int = 15, humans_as_objects: bool = True,
                        eps: float = DEFAULT_EPS, progress: bool = True) -> int:
    """Write the ``pair_features`` artifact ``out`` (.zarr or .h5) from the ``proposals``
    artifact ``proposals_path``: per image, :func:`image_pairs` with the given filter params.
    The filter params and ``eps`` are recorded as the artifact's params (provenance) and attrs.
    Returns the total number of pairs."""
    from tqdm import tqdm

    from .artifacts import ArtifactWriter
    from .detection.common import open_proposals  # lazy: keeps `weakhoi.spatial` numpy-only

    filt: dict[str, Any] = {
        "human_score_threshold": float(human_score_threshold),
        "object_score_threshold": float(object_score_threshold),
        "nms_threshold": float(nms_threshold), "max_humans": int(max_humans),
        "max_objects": int(max_objects), "humans_as_objects": bool(humans_as_objects)}
    params = {**filt, "eps": float(eps)}
    total = 0
    with open_proposals(proposals_path) as props:
        extra = {**params, "person_label": props.person_label,
                 "proposals_params_hash": str(props.attrs.get("params_hash", "unknown"))}
        with ArtifactWriter(out, "pair_features", params=params, inputs=[proposals_path],
                            extra=extra) as w:
            w.write_strings("file_names", props.file_names)
            w.write_array("image_sizes", props.image_sizes)
            app = w.ragged_appender("pairs", human=(np.int64, ()), object=(np.int64, ()),
                                    spatial=(np.float32, (NUM_SPATIAL_FEATURES,)))
            for i in tqdm(range(len(props)), desc="spatial", unit="img", disable=not progress or None):
                d = props[i]
                width, height = (int(s) for s in props.image_sizes[i])
                h, o, sp = image_pairs(d.boxes, d.scores, d.labels, width, height,
                                       props.person_label, eps=params["eps"], **filt)
                app.append(human=h, object=o, spatial=sp)     # [P], [P], [P, 36]
                total += len(h)
    return total
