"""AP primitives against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

from weakhoi.eval.ap import (VOC11_THRESHOLDS, matlab_colon, precision_recall, voc_ap_11point, voc_ap_11point_monotone,
                             voc_ap_allpoint)


def test_thresholds_are_the_matlab_doubles():
    # MATLAB's colon: first half a + k*d, second half b - (n-k)*d. So 0:0.1:1 holds exactly the
    # doubles 0.6 (= 1 - 0.4) and 0.7 (= 1 - 3*0.1), but its 4th element is 3*0.1 =
    # 0.30000000000000004 (MATLAB: a = 0:.1:1; a(4) == .3 -> 0, a(4) - .3 -> 5.5511e-17).
    assert VOC11_THRESHOLDS[6] == 0.6 and VOC11_THRESHOLDS[7] == 0.7
    assert VOC11_THRESHOLDS[3] == 0.30000000000000004 and VOC11_THRESHOLDS[3] > 0.3
    assert VOC11_THRESHOLDS.tolist() == [0.0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6, 0.7,
                                         0.8, 0.9, 1.0]
    assert np.arange(0, 1.1, 0.1)[6] != 0.6  # why np.arange is not used
    assert matlab_colon(-1.0, 0.01, 1.0)[100] == 0.0  # symmetric about the midpoint


def test_recall_exactly_point_three_misses_the_matlab_threshold():
    # npos 10, three hits then misses: rec .1 .2 .3 .3; t = 0.30000000000000004 > 0.3 sees nothing
    # at rec 0.3, so only t = 0, .1, .2 count: AP = 3/11 (a literal 0.3 threshold would give 4/11)
    rec, prec = precision_recall([1, 1, 1, 0], [0, 0, 0, 1], 10)
    assert rec[2] == 0.3
    assert voc_ap_11point(rec, prec) == pytest.approx(3 / 11, abs=1e-15)
    assert voc_ap_11point_monotone(rec, prec) == voc_ap_11point(rec, prec)


def test_recall_exactly_point_six():
    # npos 5, three hits then a miss: rec .2 .4 .6 .6, prec 1 1 1 .75
    rec, prec = precision_recall([1, 1, 1, 0], [0, 0, 0, 1], 5)
    assert rec[2] == 0.6
    # thresholds 0..0.6 (7 of them) see precision 1, 0.7..1 see nothing
    expected = 7 / 11
    assert voc_ap_11point(rec, prec) == pytest.approx(expected, abs=1e-15)
    assert voc_ap_11point_monotone(rec, prec) == voc_ap_11point(rec, prec)


def test_recall_exactly_point_seven():
    # npos 10, seven hits: rec reaches 0.7 exactly; p = 1 for t = 0..0.7 (8 thresholds)
    tp = [1] * 7 + [0, 0]
    rec, prec = precision_recall(tp, [1 - t for t in tp], 10)
    assert rec[6] == 0.7
    assert voc_ap_11point(rec, prec) == pytest.approx(8 / 11, abs=1e-15)
    assert voc_ap_11point_monotone(rec, prec) == voc_ap_11point(rec, prec)


def test_11point_interpolation_takes_max_to_the_right():
    # tp fp tp, npos 2: rec .5 .5 1, prec 1 .5 2/3 -> 6 thresholds at 1, 5 at 2/3
    rec, prec = precision_recall([1, 0, 1], [0, 1, 0], 2)
    assert voc_ap_11point(rec, prec) == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-15)


def test_11point_empty_and_no_ground_truth():
    assert voc_ap_11point(np.zeros(0), np.zeros(0)) == 0.0
    rec, prec = precision_recall([0, 0], [1, 1], 0)
    assert np.isnan(rec).all()
    assert voc_ap_11point(rec, prec) == 0.0


def test_allpoint_ap_hand_values():
    # tp fp tp, npos 2: rec .5 .5 1, prec 1 .5 2/3 -> envelope 1 up to .5, 2/3 up to 1
    rec, prec = precision_recall([1, 0, 1], [0, 1, 0], 2)
    assert voc_ap_allpoint(rec, prec) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, abs=1e-15)
    # fp then tp, npos 1: rec 0 1, prec 0 .5 -> 0.5
    rec, prec = precision_recall([0, 1], [1, 0], 1)
    assert voc_ap_allpoint(rec, prec) == pytest.approx(0.5, abs=1e-15)
    # recall stops at .5: area only up to .5
    rec, prec = precision_recall([1], [0], 2)
    assert voc_ap_allpoint(rec, prec) == pytest.approx(0.5, abs=1e-15)
    assert voc_ap_allpoint(np.zeros(0), np.zeros(0)) == 0.0


def test_allpoint_ap_uses_the_precision_envelope():
    """fp tp tp, npos 2: rec 0 .5 1, prec 0 .5 2/3. The envelope (max precision to the right)
    is 2/3 over the whole recall range, so AP = 2/3; the raw precisions would give
    .5 * .5 + .5 * 2/3 = 7/12."""
    rec, prec = precision_recall([0, 1, 1], [1, 0, 0], 2)
    np.testing.assert_array_equal(rec, [0.0, 0.5, 1.0])
    assert voc_ap_allpoint(rec, prec) == pytest.approx(2 / 3, abs=1e-15)
    # tp fp fp tp tp fp, npos 4: rec .25 .25 .25 .5 .75 .75, prec 1 .5 1/3 .5 .6 .5; envelope at
    # the recall steps: 1 (to .25), .6 (to .5), .6 (to .75), 0 (to 1)
    rec, prec = precision_recall([1, 0, 0, 1, 1, 0], [0, 1, 1, 0, 0, 1], 4)
    assert voc_ap_allpoint(rec, prec) == pytest.approx(0.25 * 1 + 0.25 * 0.6 + 0.25 * 0.6, abs=1e-15)


def test_monotone_variant_matches_on_random_rankings():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        tp = (rng.random(n) < rng.random()).astype(float)
        npos = int(tp.sum() + rng.integers(0, 5)) or 1
        rec, prec = precision_recall(tp, 1 - tp, npos)
        assert voc_ap_11point_monotone(rec, prec) == voc_ap_11point(rec, prec)
