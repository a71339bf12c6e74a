"""Tests of weakhoi.spatial (candidate pairs, 36-d spatial encoding) and the `spatial` stage.

Expected encodings are hand-computed from the definitions in the weakhoi.spatial docstring;
`_reference_p` is an independent scalar (one pair at a time) implementation of the same
definitions used to check the vectorised code on random boxes.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from weakhoi.boxes import batched_nms, nms
from weakhoi.spatial import (DEFAULT_EPS, FEATURE_NAMES, hflip_encoding, image_pairs, pair_indices,
                             select_candidates, spatial_base_features, spatial_encoding)

EPS = 1e-8   # the documented default, written out: the hand-computed cases check the library's own


def _enc(p18: list[float], eps: float = EPS) -> np.ndarray:
    p = np.asarray(p18, dtype=np.float64)
    return np.concatenate([p, np.log(p + eps)])


def _reference_p(bh, bo, W, H, eps=EPS) -> list[float]:
    """Scalar reference of the 18 base features for one pair (plain Python)."""
    def clip(b):
        x1, y1, x2, y2 = (min(max(v, 0.0), lim) for v, lim in zip(b, (W, H, W, H)))
        if x2 < x1:
            x1 = x2 = (x1 + x2) / 2
        if y2 < y1:
            y1 = y2 = (y1 + y2) / 2
        return x1, y1, x2, y2

    hx1, hy1, hx2, hy2 = clip(bh)
    ox1, oy1, ox2, oy2 = clip(bo)
    wh, hh, wo, ho = hx2 - hx1, hy2 - hy1, ox2 - ox1, oy2 - oy1
    cxh, cyh, cxo, cyo = (hx1 + hx2) / 2, (hy1 + hy2) / 2, (ox1 + ox2) / 2, (oy1 + oy2) / 2
    ah, ao = wh * hh, wo * ho
    inter = max(0.0, min(hx2, ox2) - max(hx1, ox1)) * max(0.0, min(hy2, oy2) - max(hy1, oy1))
    union = ah + ao - inter
    iou = inter / union if union > 0 else 0.0
    dx = abs(cxo - cxh) / (wh + eps)
    dy = abs(cyo - cyh) / (hh + eps)
    return [cxh / W, cyh / H, cxo / W, cyo / H, wh / W, hh / H, wo / W, ho / H,
            ah / (W * H), ao / (W * H), ao / (ah + eps), wh / (hh + eps), wo / (ho + eps), iou,
            dx if cxo > cxh else 0.0, dx if cxo < cxh else 0.0,
            dy if cyo > cyh else 0.0, dy if cyo < cyh else 0.0]


def _one(bh, bo, W, H, eps=None) -> np.ndarray:
    """Encoding of one pair; ``eps=None`` uses the library's default (checked against EPS)."""
    kw = {} if eps is None else {"eps": eps}
    return spatial_encoding(np.array([bh], float), np.array([bo], float), W, H, **kw)[0]


# ------------------------------------------------------------------ hand-computed encodings

def test_feature_names_cover_18():
    assert len(FEATURE_NAMES) == 18 and len(set(FEATURE_NAMES)) == 18


def test_default_eps_is_the_documented_one():
    assert DEFAULT_EPS == 1e-8


def test_hand_computed_basic_case():
    # image 100x100, human [10,10,30,50]: w 20, h 40, centre (20, 30), area 800
    #                object [20,30,60,40]: w 40, h 10, centre (40, 35), area 400
    # intersection [20,30]x[30,40] = 100, union 1100 -> IoU 1/11
    # object right of the human: dx = 20 / 20 = 1; below: dy = 5 / 40 = 0.125
    expected = _enc([0.2, 0.3, 0.4, 0.35,
                     0.2, 0.4, 0.4, 0.1,
                     0.08, 0.04, 0.5,
                     0.5, 4.0, 1 / 11,
                     1.0, 0.0, 0.125, 0.0])
    got = _one([10, 10, 30, 50], [20, 30, 60, 40], 100, 100)
    assert got.dtype == np.float32 and got.shape == (36,)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert got[18 + 15] == pytest.approx(math.log(EPS), rel=1e-6)  # log of a zero feature


def test_hand_computed_identical_boxes():
    # image 200x100, both boxes [50,20,100,70]: w 50, h 50, centre (75, 45), area 2500
    expected = _enc([0.375, 0.45, 0.375, 0.45,
                     0.25, 0.5, 0.25, 0.5,
                     0.125, 0.125, 1.0,
                     1.0, 1.0, 1.0,
                     0.0, 0.0, 0.0, 0.0])
    got = _one([50, 20, 100, 70], [50, 20, 100, 70], 200, 100)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_hand_computed_touching_boxes():
    # image 100x50, human [0,0,10,10] (centre (5,5)), object [10,0,30,10] (centre (20,5)):
    # they share an edge -> IoU 0; object right: dx = 15 / 10 = 1.5; same row: dy = 0
    expected = _enc([0.05, 0.1, 0.2, 0.1,
                     0.1, 0.2, 0.2, 0.2,
                     0.02, 0.04, 2.0,
                     1.0, 2.0, 0.0,
                     1.5, 0.0, 0.0, 0.0])
    got = _one([0, 0, 10, 10], [10, 0, 30, 10], 100, 50)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    # the mirror case: object on the left
    got = _one([10, 0, 30, 10], [0, 0, 10, 10], 100, 50)
    assert got[14] == 0.0 and got[15] == pytest.approx(15 / 20)


def test_hand_computed_object_inside_human():
    # image 100x100, human [0,0,40,80] (centre (20,40), area 3200), object [10,20,20,30]
    # (centre (15,25), area 100): IoU = 100/3200; left dx = 5/40; above dy = 15/80
    expected = _enc([0.2, 0.4, 0.15, 0.25,
                     0.4, 0.8, 0.1, 0.1,
                     0.32, 0.01, 1 / 32,
                     0.5, 1.0, 1 / 32,
                     0.0, 0.125, 0.0, 0.1875])
    got = _one([0, 0, 40, 80], [10, 20, 20, 30], 100, 100)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_zero_area_after_clipping_is_finite():
    # object [120,10,150,20] lies right of a 100x100 image: clipped to [100,10,100,20]
    # (w 0, h 10, centre (100, 15)); human [10,10,30,50] as in the basic case
    got = _one([10, 10, 30, 50], [120, 10, 150, 20], 100, 100)
    assert np.isfinite(got).all()
    expected = _enc([0.2, 0.3, 1.0, 0.15,
                     0.2, 0.4, 0.0, 0.1,
                     0.08, 0.0, 0.0,
                     0.5, 0.0, 0.0,
                     4.0, 0.0, 0.0, 15 / 40])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_zero_area_human_is_finite():
    # human [-20,0,-5,50] clipped to [0,0,0,50]: w 0, so dx = 40 / eps, aspect 0,
    # area ratio = area_o / eps (object [20,30,60,40]: area 400, centre x 40)
    got = _one([-20, 0, -5, 50], [20, 30, 60, 40], 100, 100)
    assert np.isfinite(got).all()
    assert got[4] == 0.0 and got[8] == 0.0 and got[11] == 0.0
    assert got[10] == pytest.approx(400 / EPS, rel=1e-6)
    assert got[14] == pytest.approx(40 / EPS, rel=1e-6)
    # fully degenerate: both boxes outside the image
    got = _one([-50, -50, -10, -10], [200, 200, 300, 300], 100, 100)
    assert np.isfinite(got).all() and (got[:18] >= 0).all()


def test_inverted_box_has_zero_size():
    got = spatial_base_features(np.array([[30, 10, 10, 50]], float), np.array([[20, 30, 60, 40]], float), 100, 100)
    assert got[0, 4] == 0.0 and got[0, 0] == pytest.approx(0.2)


def test_nonfinite_box_rejected():
    with pytest.raises(ValueError):
        spatial_encoding(np.array([[0, 0, np.inf, 5]]), np.array([[0, 0, 1, 1]]), 10, 10)


def test_eps_param():
    got = _one([10, 10, 30, 50], [20, 30, 60, 40], 100, 100, eps=1e-4)
    assert got[18 + 15] == pytest.approx(math.log(1e-4), rel=1e-6)
    assert got[18 + 0] == pytest.approx(math.log(0.2 + 1e-4), rel=1e-6)


def test_empty_pairs():
    got = spatial_encoding(np.zeros((0, 4)), np.zeros((0, 4)), 10, 10)
    assert got.shape == (0, 36) and got.dtype == np.float32


# ------------------------------------------------------------------ properties

def _random_boxes(rng, n, W, H):
    xy = rng.uniform(-0.1, 1.0, size=(n, 2)) * [W, H]
    wh = rng.uniform(0.0, 0.6, size=(n, 2)) * [W, H]
    return np.concatenate([xy, xy + wh], axis=1)


def test_vectorised_matches_reference():
    rng = np.random.default_rng(0)
    W, H = 640.0, 427.0
    bh, bo = _random_boxes(rng, 300, W, H), _random_boxes(rng, 300, W, H)
    bo[:20] = bh[:20]                        # identical pairs
    bo[20:40, [0, 2]] = W + 5                # zero-width after clipping
    got = spatial_encoding(bh, bo, W, H)
    ref = np.array([_enc(_reference_p(list(a), list(b), W, H)) for a, b in zip(bh, bo)])
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_horizontal_mirror():
    rng = np.random.default_rng(1)
    W, H = 300.0, 200.0
    bh, bo = _random_boxes(rng, 100, W, H), _random_boxes(rng, 100, W, H)

    def mirror(b):
        return np.stack([W - b[:, 2], b[:, 1], W - b[:, 0], b[:, 3]], axis=1)

    a = spatial_encoding(bh, bo, W, H)
    m = spatial_encoding(mirror(bh), mirror(bo), W, H)
    np.testing.assert_allclose(m[:, [14, 15]], a[:, [15, 14]], rtol=1e-6, atol=1e-6)   # right <-> left
    np.testing.assert_allclose(m[:, [0, 2]], 1 - a[:, [0, 2]], rtol=1e-6, atol=1e-6)   # cx -> 1 - cx
    same = [i for i in range(18) if i not in (0, 2, 14, 15)]
    np.testing.assert_allclose(m[:, same], a[:, same], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hflip_encoding(a), m, rtol=1e-5, atol=1e-5)


def test_vertical_mirror_swaps_below_above():
    rng = np.random.default_rng(2)
    W, H = 300.0, 200.0
    bh, bo = _random_boxes(rng, 50, W, H), _random_boxes(rng, 50, W, H)
    flip = lambda b: np.stack([b[:, 0], H - b[:, 3], b[:, 2], H - b[:, 1]], axis=1)  # noqa: E731
    a, m = spatial_encoding(bh, bo, W, H), spatial_encoding(flip(bh), flip(bo), W, H)
    np.testing.assert_allclose(m[:, [16, 17]], a[:, [17, 16]], rtol=1e-6, atol=1e-6)


def test_swap_human_and_object():
    rng = np.random.default_rng(3)
    W, H = 500.0, 400.0
    xy = rng.uniform(0, 0.5, size=(80, 2)) * [W, H]
    bh = np.concatenate([xy, xy + rng.uniform(5, 150, size=(80, 2))], axis=1)   # inside, area > 0
    xy = rng.uniform(0, 0.5, size=(80, 2)) * [W, H]
    bo = np.concatenate([xy, xy + rng.uniform(5, 150, size=(80, 2))], axis=1)
    a = spatial_base_features(bh, bo, W, H)
    s = spatial_base_features(bo, bh, W, H)
    np.testing.assert_allclose(s[:, [0, 1, 2, 3]], a[:, [2, 3, 0, 1]], rtol=1e-12)   # centres swap
    np.testing.assert_allclose(s[:, [4, 5, 6, 7]], a[:, [6, 7, 4, 5]], rtol=1e-12)   # sizes swap
    np.testing.assert_allclose(s[:, [8, 9, 11, 12]], a[:, [9, 8, 12, 11]], rtol=1e-12)
    np.testing.assert_allclose(s[:, 10], 1 / a[:, 10], rtol=1e-8)                  # r -> 1/r
    np.testing.assert_allclose(s[:, 13], a[:, 13], rtol=1e-12)                      # IoU symmetric
    # distances: direction flips, normaliser becomes the other box
    w_h, h_h, w_o, h_o = a[:, 4] * W, a[:, 5] * H, a[:, 6] * W, a[:, 7] * H
    np.testing.assert_allclose(s[:, 15] * w_o, a[:, 14] * w_h, rtol=1e-6)
    np.testing.assert_allclose(s[:, 14] * w_o, a[:, 15] * w_h, rtol=1e-6)
    np.testing.assert_allclose(s[:, 17] * h_o, a[:, 16] * h_h, rtol=1e-6)


def test_scale_invariance():
    rng = np.random.default_rng(4)
    W, H = 320.0, 240.0
    bh, bo = _random_boxes(rng, 60, W, H), _random_boxes(rng, 60, W, H)
    a = spatial_encoding(bh, bo, W, H)
    b = spatial_encoding(bh * 2.5, bo * 2.5, W * 2.5, H * 2.5)
    finite = (a[:, :18] < 1e6).all(axis=1)   # skip pairs with eps-dominated degenerate ratios
    np.testing.assert_allclose(b[finite], a[finite], rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ candidates and pairs

PERSON = 49


def test_nms_iou_exactly_threshold_is_kept():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 9]], float)
    # IoU(0,1) = 50/100 = 0.5 (kept, not > 0.5); IoU(0,2) = 0.9 (suppressed)
    keep = nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 1]


def test_batched_nms_is_classwise():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 10, 10]], float)
    keep = batched_nms(boxes, np.array([0.5, 0.9, 0.6]), np.array([1, 2, 1]), 0.5)
    # box 1 (class 2) does not suppress box 0 (class 1); box 2 (class 1, IoU 0.9 with box 0,
    # higher score) suppresses box 0
    assert keep.tolist() == [1, 2]


def test_select_thresholds_and_caps():
    boxes = np.array([[0, 0, 10, 10],      # 0 person 0.15: below human threshold 0.2
                      [20, 0, 30, 10],     # 1 person 0.30
                      [40, 0, 50, 10],     # 2 cup 0.25: below object threshold 0.3
                      [60, 0, 70, 10],     # 3 cup 0.35
                      [60, 0, 70, 10]],    # 4 person 0.5, same box as 3 (other class: kept)
                     float)
    scores = np.array([0.15, 0.30, 0.25, 0.35, 0.5])
    labels = np.array([PERSON, PERSON, 3, 3, PERSON])
    h, o = select_candidates(boxes, scores, labels, PERSON, human_score_threshold=0.2,
                             object_score_threshold=0.3)
    assert h.tolist() == [4, 1]                    # persons by descending score
    assert o.tolist() == [4, 3, 1]                 # humans included, by descending score
    h, o = select_candidates(boxes, scores, labels, PERSON, human_score_threshold=0.2,
                             object_score_threshold=0.3, humans_as_objects=False)
    assert h.tolist() == [4, 1] and o.tolist() == [3]
    hp, op = pair_indices(*select_candidates(boxes, scores, labels, PERSON,
                                             human_score_threshold=0.2, object_score_threshold=0.3))
    # human-major, self-pairs removed: (4,3), (4,1), (1,4), (1,3)
    assert list(zip(hp.tolist(), op.tolist())) == [(4, 3), (4, 1), (1, 4), (1, 3)]


def test_select_keeps_scores_exactly_on_the_thresholds():
    """score >= threshold is kept, for humans and for objects (0.25, 0.5: exact doubles)."""
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10]], float)
    scores = np.array([0.25, 0.2499999, 0.5, 0.4999999])
    labels = np.array([PERSON, PERSON, 3, 3])
    h, o = select_candidates(boxes, scores, labels, PERSON, human_score_threshold=0.25,
                             object_score_threshold=0.5, humans_as_objects=False)
    assert h.tolist() == [0] and o.tolist() == [2]
    # float32 scores as stored in a proposals artifact, at a float32-exact threshold
    h, o = select_candidates(boxes, scores.astype(np.float32), labels, PERSON,
                             human_score_threshold=0.25, object_score_threshold=0.5,
                             humans_as_objects=False)
    assert h.tolist() == [0] and o.tolist() == [2]


def test_select_caps_keep_highest_scores():
    n = 20
    boxes = np.array([[i * 20, 0, i * 20 + 10, 10] for i in range(2 * n)], float)  # disjoint
    rng = np.random.default_rng(5)
    scores = rng.permutation(np.linspace(0.3, 0.99, 2 * n))
    labels = np.array([PERSON] * n + [7] * n)
    h, o = select_candidates(boxes, scores, labels, PERSON, max_humans=15, max_objects=15,
                             humans_as_objects=False)
    assert len(h) == 15 and len(o) == 15
    assert set(h.tolist()) == set(np.argsort(-scores[:n])[:15].tolist())
    assert set(o.tolist()) == set((n + np.argsort(-scores[n:])[:15]).tolist())
    h2, o2 = select_candidates(boxes, scores, labels, PERSON, max_humans=15, max_objects=15)
    assert len(o2) == 30 and set(o2.tolist()) == set(h.tolist()) | set(o.tolist())
    hp, op = pair_indices(h2, o2)
    assert len(hp) == 15 * 30 - 15 and not (hp == op).any()
    h3, _ = select_candidates(boxes, scores, labels, PERSON, max_humans=3, max_objects=0)
    assert len(h3) == 3


def test_no_humans_or_no_objects_give_zero_pairs():
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    scores = np.array([0.9, 0.8])
    h, o, sp = image_pairs(boxes, scores, np.array([3, 4]), 100, 100, PERSON)
    assert len(h) == len(o) == 0 and sp.shape == (0, 36)
    # a single human and nothing else: its only object candidate is itself
    h, o, sp = image_pairs(boxes[:1], scores[:1], np.array([PERSON]), 100, 100, PERSON)
    assert len(h) == 0 and sp.shape == (0, 36)
    h, o, sp = image_pairs(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), 100, 100, PERSON)
    assert len(h) == 0


def test_image_pairs_rows_point_at_boxes():
    rng = np.random.default_rng(6)
    boxes = _random_boxes(rng, 30, 200, 100)
    scores = rng.uniform(0, 1, 30)
    labels = rng.integers(45, 52, 30)
    h, o, sp = image_pairs(boxes, scores, labels, 200, 100, PERSON)
    assert len(h) > 0
    assert (labels[h] == PERSON).all() and not (h == o).any()
    np.testing.assert_array_equal(sp, spatial_encoding(boxes[h], boxes[o], 200, 100))
    # human-major: human order is non-increasing in score
    assert (np.diff(scores[h]) <= 0).all()


# ------------------------------------------------------------------ the stage

def _write_proposals(path: Path, images):
    from weakhoi.artifacts import ArtifactWriter

    with ArtifactWriter(path, "proposals", params={"backend": "test"},
                        extra={"backend": "test", "dataset": "hicodet", "person_label": PERSON,
                               "num_objects": 80}) as w:
        w.write_strings("file_names", [im[0] for im in images])
        w.write_array("image_sizes", np.array([im[1] for im in images], dtype=np.int64))
        w.write_ragged("detections", [len(im[3]) for im in images],
                       boxes=np.concatenate([np.asarray(im[2], np.float32).reshape(-1, 4) for im in images]),
                       scores=np.concatenate([np.asarray(im[3], np.float32) for im in images]),
                       labels=np.concatenate([np.asarray(im[4], np.int64) for im in images]))


SPATIAL_CFG = {"human_score_threshold": 0.2, "object_score_threshold": 0.2, "nms_threshold": 0.5,
               "max_humans": 15, "max_objects": 15, "humans_as_objects": True, "eps": 1e-8}


@pytest.fixture()
def proposals_file(tmp_path):
    images = [
        # image 0: a person and a cup, plus a low-scoring bicycle (dropped)
        ("a.jpg", (100, 100), [[10, 10, 30, 50], [5, 5, 8, 8], [20, 30, 60, 40]],
         [0.9, 0.1, 0.8], [PERSON, 1, 3]),
        # image 1: no person -> no pairs
        ("b.jpg", (50, 40), [[0, 0, 10, 10], [5, 5, 20, 20]], [0.9, 0.8], [3, 4]),
        # image 2: no detections at all
        ("c.jpg", (64, 48), np.zeros((0, 4)), [], []),
        # image 3: two people and a dog; the dog row comes first
        ("d.jpg", (200, 100), [[100, 0, 150, 60], [0, 0, 40, 90], [50, 10, 90, 100]],
         [0.6, 0.95, 0.7], [16, PERSON, PERSON]),
    ]
    path = tmp_path / "proposals.h5"
    _write_proposals(path, images)
    return path, images


def test_stage_end_to_end(proposals_file, tmp_path):
    from weakhoi.artifacts import open_artifact
    from weakhoi.spatial import write_pair_features

    prop, images = proposals_file
    out = tmp_path / "pairs.zarr"
    n = write_pair_features(prop, out, **SPATIAL_CFG, progress=False)
    assert n == 1 + 0 + 0 + 4
    with open_artifact(out, "pair_features") as art, open_artifact(prop, "proposals") as pa:
        assert art.strings("file_names") == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
        np.testing.assert_array_equal(art.array("image_sizes"), [[100, 100], [50, 40], [64, 48], [200, 100]])
        pairs = art.ragged("pairs")
        assert pairs.lengths.tolist() == [1, 0, 0, 4]
        p0 = pairs[0]
        assert p0["human"].tolist() == [0] and p0["object"].tolist() == [2]
        np.testing.assert_allclose(p0["spatial"][0], _enc([0.2, 0.3, 0.4, 0.35, 0.2, 0.4, 0.4, 0.1,
                                                          0.08, 0.04, 0.5, 0.5, 4.0, 1 / 11,
                                                          1.0, 0.0, 0.125, 0.0]), rtol=1e-6, atol=1e-6)
        p3 = pairs[3]
        # humans by score: row 1 (0.95), row 2 (0.7); objects: 1, 2, 0 (0.95, 0.7, 0.6)
        assert list(zip(p3["human"].tolist(), p3["object"].tolist())) == [(1, 2), (1, 0), (2, 1), (2, 0)]
        boxes3 = pa.ragged("detections")[3]["boxes"]
        np.testing.assert_allclose(p3["spatial"], spatial_encoding(boxes3[p3["human"]], boxes3[p3["object"]], 200, 100),
                                   rtol=1e-6)
        assert p3["spatial"].dtype == np.float32 and p3["human"].dtype == np.int64
        attrs = art.attrs
        assert attrs["proposals_params_hash"] == pa.attrs["params_hash"]
        assert attrs["params"] == SPATIAL_CFG
        assert attrs["max_humans"] == 15 and attrs["humans_as_objects"] is True
        assert attrs["person_label"] == PERSON
        assert list(attrs["input_hashes"]) == [prop.as_posix()]


def test_stage_cli(proposals_file, tmp_path):
    from typer.testing import CliRunner

    import yaml
    from pipeline.cli import app
    from weakhoi.artifacts import open_artifact
    from weakhoi.errors import ArtifactError, ConfigError

    prop, _ = proposals_file
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"spatial": dict(SPATIAL_CFG, humans_as_objects=False)}))
    out = tmp_path / "pairs.zarr"
    res = CliRunner().invoke(app, ["spatial", "--proposals", str(prop), "--out", str(out),
                                   "--params", str(params)])
    assert res.exit_code == 0, res.output
    with open_artifact(out, "pair_features") as art:
        # without humans as objects, image 3 has no non-person object except the dog
        assert art.ragged("pairs").lengths.tolist() == [1, 0, 0, 2]

    params.write_text(yaml.safe_dump({"spatial": dict(SPATIAL_CFG, max_humans=-1)}))
    res = CliRunner().invoke(app, ["spatial", "--proposals", str(prop), "--out", str(tmp_path / "x.zarr"),
                                   "--params", str(params)])
    assert isinstance(res.exception, ConfigError) and "spatial.max_humans" in str(res.exception)
    assert not (tmp_path / "x.zarr").exists()

    params.write_text(yaml.safe_dump({"spatial": SPATIAL_CFG}))
    res = CliRunner().invoke(app, ["spatial", "--proposals", str(tmp_path / "missing.h5"),
                                   "--out", str(tmp_path / "x.zarr"), "--params", str(params)])
    assert isinstance(res.exception, ArtifactError) and "missing.h5" in str(res.exception)
