import numpy as np
import pytest

from weakhoi.boxes import (box_area, box_iou, clip_boxes, continuous_to_hico, hico_to_continuous,
                           invalid_box_mask, paired_iou, xywh_to_xyxy)


def test_hico_round_trip_and_inclusive_area():
    hico = np.array([[1, 1, 10, 20], [5.0, 6.0, 5.0, 6.0]])
    cont = hico_to_continuous(hico)
    np.testing.assert_array_equal(cont, [[0, 0, 10, 20], [4, 5, 5, 6]])
    # inclusive-pixel area (x2-x1+1)(y2-y1+1) == continuous area
    np.testing.assert_array_equal(box_area(cont), [(10 - 1 + 1) * (20 - 1 + 1), 1])
    np.testing.assert_array_equal(continuous_to_hico(cont), hico)


def test_inclusive_iou_equals_continuous_iou_of_converted_boxes():
    # official: iw = min(x2)-max(x1)+1 = 6, ih = 10; ua = 100 + 60 - 60 = 100 -> 0.6
    a, b = np.array([[1, 1, 10, 10]]), np.array([[5, 1, 10, 10]])
    assert box_iou(hico_to_continuous(a), hico_to_continuous(b))[0, 0] == pytest.approx(0.6, abs=1e-15)


def test_iou_pairwise_shape_and_edge_cases():
    a = np.array([[0, 0, 2, 2], [0, 0, 0, 0]], float)
    b = np.array([[1, 1, 3, 3], [2, 0, 4, 2], [0, 0, 2, 2]], float)
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(1 / 7)
    assert iou[0, 1] == 0.0          # touching boxes
    assert iou[0, 2] == 1.0
    assert (iou[1] == 0).all()       # zero-area box: union > 0 but no intersection
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_xywh_and_clip_and_invalid():
    np.testing.assert_array_equal(xywh_to_xyxy([[1, 2, 3, 4]]), [[1, 2, 4, 6]])
    np.testing.assert_array_equal(clip_boxes([[-5, -1, 50, 8]], 40, 30), [[0, 0, 40, 8]])
    bad = invalid_box_mask([[0, 0, 10, 10], [5, 5, 5, 9], [0, 0, 45, 10], [np.nan, 0, 1, 1], [-0.5, 0, 10, 10]], 40, 30)
    assert bad.tolist() == [False, True, True, True, False]


def test_paired_iou_matches_rows():
    a = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 0, 0], [0, 0, 4, 4]], float)
    b = np.array([[1, 1, 3, 3], [2, 0, 4, 2], [0, 0, 0, 0], [1, 1, 3, 3]], float)
    # hand-computed: overlap 1 / union 7; touching; both zero-area; 4 / 16 (b inside a)
    np.testing.assert_allclose(paired_iou(a, b), [1 / 7, 0.0, 0.0, 0.25], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(paired_iou(a, b), np.diag(box_iou(a, b)))
    assert paired_iou(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)
    with pytest.raises(ValueError):
        paired_iou(a, b[:2])
