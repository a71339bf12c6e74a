"""Average precision, exactly as the official HOI evaluation codes compute it.

* :func:`voc_ap_11point` -- VOC 2007 11-point AP as in HICO-DET's ``VOCevaldet_bboxpair.m``:
  ``for t = 0:0.1:1, p = max(prec(rec >= t)) (0 if empty), ap = ap + p/11``. The thresholds are
  the doubles MATLAB's colon operator yields (:func:`matlab_colon`): the first half is ``a + k*d``,
  the second half ``b - (n-k)*d``, so t(4) is ``3*0.1 = 0.30000000000000004`` (MATLAB:
  ``a = 0:.1:1; a(4) == .3`` is false) while t(7), t(8) are exactly ``0.6`` and ``0.7``
  (``np.arange(0, 1.1, 0.1)`` gives ``0.6000000000000001``/``0.7000000000000001``). Hence a recall
  of exactly 0.3 (3/10) does NOT reach the 0.3 threshold, while 0.6 and 0.7 do. The sum is
  accumulated in the same order as MATLAB.
* :func:`voc_ap_allpoint` -- VOC 2010 all-point AP (area under the precision envelope) as in
  V-COCO's ``vsrl_eval.py`` ``voc_ap``.
* :func:`precision_recall` -- ``rec = cumsum(tp) / npos``, ``prec = cumsum(tp) / (cumsum(tp) +
  cumsum(fp))`` with the MATLAB operation order.
"""
from __future__ import annotations

import numpy as np

def matlab_colon(a: float, d: float, b: float) -> np.ndarray:
    """Values of MATLAB's ``a:d:b`` for d > 0 and (b - a) / d an integer n (documented MathWorks
    algorithm: the first half ``a + k*d``, the second half ``b - (n-k)*d``, the middle element
    of an even n is ``(a + b) / 2``), as float64."""
    n = int(round((b - a) / d))
    out = np.empty(n + 1, dtype=np.float64)
    half = n // 2
    for k in range(half + 1):
        out[k] = a + k * d
        out[n - k] = b - k * d
    if n % 2 == 0:
        out[half] = (a + b) / 2.0
    return out


#: 11-point thresholds of ``for t = 0:0.1:1``: [0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6,
#: 0.7, 0.8, 0.9, 1] (note t(4) = 3*0.1, not the double 0.3).
VOC11_THRESHOLDS = matlab_colon(0.0, 0.1, 1.0)


def precision_recall(tp: np.ndarray, fp: np.ndarray, npos: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative recall and precision of a ranked list.

    ``tp``/``fp``: [D] 0/1 flags in ranked order. ``npos``: number of ground-truth instances.
    Returns ``(rec, prec)`` [D] float64. With ``npos == 0`` recall is NaN (0/0), as in MATLAB.
    """
    ctp = np.cumsum(np.asarray(tp, dtype=np.float64))  # [D]
    cfp = np.cumsum(np.asarray(fp, dtype=np.float64))  # [D]
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = ctp / float(npos)
        prec = ctp / (cfp + ctp)
    return rec, prec


def voc_ap_11point(rec: np.ndarray, prec: np.ndarray) -> float:
    """11-point interpolated AP of one class (MATLAB semantics, see module docstring).

    ``rec``/``prec``: [D] in ranked order. NaN recalls (no ground truth) never satisfy
    ``rec >= t``, so such a class gets AP 0, as in the official code.
    """
    rec = np.asarray(rec, dtype=np.float64)
    prec = np.asarray(prec, dtype=np.float64)
    ap = 0.0
    for t in VOC11_THRESHOLDS.tolist():
        sel = prec[rec >= t]
        p = float(sel.max()) if sel.size else 0.0
        ap = ap + p / 11.0
    return ap


def voc_ap_11point_monotone(rec: np.ndarray, prec: np.ndarray) -> float:
    """Same value as :func:`voc_ap_11point` for a non-decreasing ``rec`` without NaN (always
    the case for cumulative recall with ``npos > 0``), in O(D + 11 log D): the set
    ``rec >= t`` is a suffix, so ``max(prec(rec >= t))`` is a suffix maximum."""
    rec = np.asarray(rec, dtype=np.float64)
    prec = np.asarray(prec, dtype=np.float64)
    n = rec.shape[0]
    if n == 0:
        return 0.0
    suffix_max = np.maximum.accumulate(prec[::-1])[::-1]            # [D]
    first = np.searchsorted(rec, VOC11_THRESHOLDS, side="left")     # [11] first index with rec >= t
    ap = 0.0
    for i in first.tolist():
        p = float(suffix_max[i]) if i < n else 0.0
        ap = ap + p / 11.0
    return ap


def voc_ap_allpoint(rec: np.ndarray, prec: np.ndarray) -> float:
    """VOC 2010 all-point AP (``vsrl_eval.voc_ap``): sentinels (0, 0) and (1, 0), precision
    envelope from the right, sum of recall steps times the envelope."""
    mrec = np.concatenate(([0.0], np.asarray(rec, dtype=np.float64), [1.0]))   # [D + 2]
    mpre = np.concatenate(([0.0], np.asarray(prec, dtype=np.float64), [0.0]))  # [D + 2]
    # envelope: mpre[i] = max(mpre[i:]); NaN-propagating like np.maximum in the original loop
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
