"""Box conventions and geometry.

Inside weakhoi every box is continuous ``[x1, y1, x2, y2]`` (torchvision's convention): a box
covering pixel columns 0..9 is ``[0, 0, 10, ...]`` and its width is ``x2 - x1``. Conversions
happen only at the edges (readers and writers of external formats):

* HICO-DET pixel indices (1-based, inclusive; also the ``instances_*.json`` layout):
  ``[x1, y1, x2, y2]_hico -> [x1 - 1, y1 - 1, x2, y2]``. The inclusive-pixel IoU of the official
  evaluation equals the continuous IoU of the converted boxes.
* COCO ``[x, y, w, h]`` (continuous) -> ``[x, y, x + w, y + h]``.
"""
from __future__ import annotations

import numpy as np


def hico_to_continuous(boxes: np.ndarray) -> np.ndarray:
    """1-based inclusive pixel-index boxes [..., 4] -> continuous xyxy (float64)."""
    b = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    b[:, 0] -= 1.0
    b[:, 1] -= 1.0
    return b


def continuous_to_hico(boxes: np.ndarray) -> np.ndarray:
    """Continuous xyxy [..., 4] -> 1-based inclusive pixel indices (float64, not rounded)."""
    b = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    b[:, 0] += 1.0
    b[:, 1] += 1.0
    return b


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """COCO [x, y, w, h] -> continuous [x1, y1, x2, y2]."""
    b = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    b[:, 2] += b[:, 0]
    b[:, 3] += b[:, 1]
    return b


def box_area(boxes: np.ndarray) -> np.ndarray:
    """[N, 4] -> [N]; degenerate boxes have area 0."""
    b = np.asarray(boxes, dtype=np.float64)
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of continuous boxes: [N, 4] x [M, 4] -> [N, M]. 0 where the union is 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # [N, M, 2]
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])  # [N, M, 2]
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matched rows of continuous boxes: [N, 4] x [N, 4] -> [N] float64 (the diagonal of
    :func:`box_iou` without the [N, N] matrix). 0 where the union is 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) != len(b):
        raise ValueError(f"paired_iou: {len(a)} boxes in a but {len(b)} in b")
    wh = np.maximum(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0.0)  # [N, 2]
    inter = wh[:, 0] * wh[:, 1]                                                            # [N]
    size_a = np.maximum(a[:, 2:] - a[:, :2], 0.0)                                           # [N, 2]
    size_b = np.maximum(b[:, 2:] - b[:, :2], 0.0)
    union = size_a[:, 0] * size_a[:, 1] + size_b[:, 0] * size_b[:, 1] - inter
    iou = np.zeros_like(inter)
    np.divide(inter, union, out=iou, where=union > 0)
    return iou


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip continuous boxes to the image rectangle [0, width] x [0, height]."""
    b = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    b[:, 0::2] = np.clip(b[:, 0::2], 0, width)
    b[:, 1::2] = np.clip(b[:, 1::2], 0, height)
    return b


def invalid_box_mask(boxes: np.ndarray, width: float, height: float, tol: float = 1.0) -> np.ndarray:
    """[N] bool: True for boxes that are degenerate (x2 <= x1 or y2 <= y1), non-finite, or that
    leave the image by more than ``tol`` pixels (annotation rounding is tolerated)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(b).all(axis=1)
    bad = ~finite
    with np.errstate(invalid="ignore"):
        bad |= (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
        bad |= (b[:, 0] < -tol) | (b[:, 1] < -tol) | (b[:, 2] > width + tol) | (b[:, 3] > height + tol)
    return bad


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS on one class. Returns kept indices sorted by descending score (ties: lower
    index first); a box is dropped when its IoU with a kept box is ``> iou_threshold``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # [R, 4]
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)   # [R]
    order = np.lexsort((np.arange(len(scores)), -scores))       # stable: score desc, index asc
    if len(order) == 0:
        return order.astype(np.int64)
    iou = box_iou(boxes[order], boxes[order])                    # [R, R]
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return order[np.asarray(keep, dtype=np.int64)].astype(np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Class-wise NMS: boxes of different labels never suppress each other. Returns kept
    indices sorted by descending score (ties: lower index first)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # [R, 4]
    labels = np.asarray(labels).reshape(-1)                     # [R]
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)   # [R]
    kept = [np.flatnonzero(labels == c)[nms(boxes[labels == c], scores[labels == c], iou_threshold)]
            for c in np.unique(labels)]
    kept = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
    return _by_score(kept, scores)


def _by_score(idx: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``idx`` reordered by descending ``scores[idx]``, ties by ascending index."""
    idx = np.asarray(idx, dtype=np.int64)
    return idx[np.lexsort((idx, -scores[idx]))]
