"""HICO-DET evaluation: hand-computed cases of the official protocol, an independent slow
reference (a plain port of the MATLAB loops) on random inputs, and the JSON interchange."""
from __future__ import annotations

import json

import numpy as np
import pytest

from weakhoi.boxes import hico_to_continuous
from weakhoi.data.records import HOIDataset, ImageAnnotation
from weakhoi.errors import DataError
from weakhoi.eval.detections import HOIDetections, read_detections_json, write_detections_json
from weakhoi.eval.hicodet import evaluate_hicodet, image_objects_from_boxes, image_objects_from_hoi_labels
from weakhoi.vocab import Vocabulary

# small vocabulary: 5 classes, 2 of them rare
VOCAB = Vocabulary.build("toy", ["bicycle", "cup", "person"], ["hold", "no_interaction", "ride"],
                         [(2, 0), (0, 0), (0, 1), (1, 1), (0, 2)], rare=[1, 3])
RIDE_BIKE, HOLD_BIKE, HOLD_CUP, NOINT_CUP, HOLD_PERSON = range(5)


def make_dataset(images: list[tuple[str, list[tuple[int, list, list]]]], vocab: Vocabulary = VOCAB) -> HOIDataset:
    """images: (file_name, [(hoi, human box, object box)]) with 1-based inclusive boxes."""
    recs = []
    for name, pairs in images:
        hoi = np.array([p[0] for p in pairs], dtype=np.int64)
        recs.append(ImageAnnotation(
            name, 640, 480,
            hico_to_continuous(np.array([p[1] for p in pairs], float).reshape(-1, 4)),
            hico_to_continuous(np.array([p[2] for p in pairs], float).reshape(-1, 4)),
            hoi, vocab.hoi_verb[hoi], vocab.hoi_object[hoi]))
    return HOIDataset("toy", "test", vocab, recs, source="toy.json")


def make_dets(ds: HOIDataset, rows: list[tuple[str, int, list, list, float]]) -> HOIDetections:
    """rows: (file_name, hoi, human box, object box, score) with 1-based boxes, file order."""
    if not rows:
        return HOIDetections.empty()
    return HOIDetections.from_arrays([ds.index_of(r[0]) for r in rows],
                                     hico_to_continuous(np.array([r[2] for r in rows], float)),
                                     hico_to_continuous(np.array([r[3] for r in rows], float)),
                                     [r[1] for r in rows], [r[4] for r in rows])


H1, O1 = [1, 1, 10, 10], [11, 11, 20, 20]
H2, O2 = [101, 101, 110, 110], [111, 111, 120, 120]


def test_iou_exactly_half_is_a_hit():
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)])])
    # human box covers pixel rows 1..5 of the 10x10 GT: 50 / 100 pixels -> IoU exactly 0.5
    # (a continuous IoU on the raw 1-based numbers would give 36/81 and miss)
    res = evaluate_hicodet(ds, make_dets(ds, [("a.jpg", HOLD_BIKE, [1, 1, 10, 5], O1, 0.9)]))
    assert res.per_class_ap[HOLD_BIKE] == pytest.approx(1.0, abs=1e-12)
    # one pixel less: 40/100 -> miss
    res = evaluate_hicodet(ds, make_dets(ds, [("a.jpg", HOLD_BIKE, [1, 1, 10, 4], O1, 0.9)]))
    assert res.per_class_ap[HOLD_BIKE] == 0.0


def test_overlap_is_min_of_human_and_object():
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)])])
    res = evaluate_hicodet(ds, make_dets(ds, [("a.jpg", HOLD_BIKE, H1, [11, 11, 20, 14], 0.9)]))  # IoU_o 0.4
    assert res.per_class_ap[HOLD_BIKE] == 0.0


def test_duplicates_are_false_positives():
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1), (HOLD_BIKE, H2, O2)])])
    dets = make_dets(ds, [("a.jpg", HOLD_BIKE, H1, O1, 0.9), ("a.jpg", HOLD_BIKE, H1, O1, 0.8),
                          ("a.jpg", HOLD_BIKE, H2, O2, 0.7)])
    res = evaluate_hicodet(ds, dets)
    # tp fp tp, npos 2: rec .5 .5 1, prec 1 .5 2/3 -> (6 * 1 + 5 * 2/3) / 11
    assert res.per_class_ap[HOLD_BIKE] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-12)
    assert res.num_tp[HOLD_BIKE] == 2 and res.per_class_recall[HOLD_BIKE] == 1.0


def test_best_gt_already_matched_gives_fp_without_fallback():
    g2h = [1, 1, 10, 12]  # second GT pair overlapping the first (same object box)
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1), (HOLD_BIKE, g2h, O1)])])
    # d2: IoU_h with H1 = 90/100 = .9 (best), with g2h = 90/120 = .75 (would be a hit)
    d2h = [1, 1, 10, 9]
    dets = make_dets(ds, [("a.jpg", HOLD_BIKE, H1, O1, 0.9), ("a.jpg", HOLD_BIKE, d2h, O1, 0.8)])
    res = evaluate_hicodet(ds, dets)
    # tp fp, npos 2: rec .5 .5, prec 1 .5 -> thresholds 0..0.5 -> 6/11 (a fallback would give 1)
    assert res.per_class_ap[HOLD_BIKE] == pytest.approx(6 / 11, abs=1e-12)


def test_ties_on_best_overlap_go_to_first_gt():
    # two identical GT pairs; detection 1 claims the first, detection 2's best (tie) is the
    # first again -> FP, although the second identical pair is unmatched
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1), (HOLD_BIKE, H1, O1)])])
    dets = make_dets(ds, [("a.jpg", HOLD_BIKE, H1, O1, 0.9), ("a.jpg", HOLD_BIKE, H1, O1, 0.8)])
    res = evaluate_hicodet(ds, dets)
    assert res.num_tp[HOLD_BIKE] == 1
    assert res.per_class_ap[HOLD_BIKE] == pytest.approx(6 / 11, abs=1e-12)


def test_false_positives_on_images_without_gt_count():
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)]), ("b.jpg", [(HOLD_CUP, H1, O1)])])
    dets = make_dets(ds, [("a.jpg", HOLD_BIKE, H1, O1, 0.5), ("b.jpg", HOLD_BIKE, H1, O1, 0.9)])
    res = evaluate_hicodet(ds, dets)
    # fp tp, npos 1: rec 0 1, prec 0 .5 -> every threshold sees .5
    assert res.per_class_ap[HOLD_BIKE] == pytest.approx(0.5, abs=1e-12)
    # also in an image without any annotation at all
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)]), ("empty.jpg", [])])
    dets = make_dets(ds, [("a.jpg", HOLD_BIKE, H1, O1, 0.5), ("empty.jpg", HOLD_BIKE, H1, O1, 0.9)])
    assert evaluate_hicodet(ds, dets).per_class_ap[HOLD_BIKE] == pytest.approx(0.5, abs=1e-12)


def test_recall_reaching_point_six_and_seven():
    boxes = [([1 + 30 * k, 1, 10 + 30 * k, 10], [1 + 30 * k, 201, 10 + 30 * k, 210]) for k in range(10)]
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, h, o) for h, o in boxes[:5]] +
                        [(RIDE_BIKE, h, o) for h, o in boxes])])
    rows = [("a.jpg", HOLD_BIKE, h, o, 0.9 - 0.1 * k) for k, (h, o) in enumerate(boxes[:3])]
    rows.append(("a.jpg", HOLD_BIKE, [300, 300, 310, 310], O1, 0.1))  # FP after recall .6
    rows += [("a.jpg", RIDE_BIKE, h, o, 0.9 - 0.05 * k) for k, (h, o) in enumerate(boxes[:7])]
    res = evaluate_hicodet(ds, make_dets(ds, rows))
    assert res.per_class_ap[HOLD_BIKE] == pytest.approx(7 / 11, abs=1e-12)  # t = 0 .. 0.6
    assert res.per_class_ap[RIDE_BIKE] == pytest.approx(8 / 11, abs=1e-12)  # t = 0 .. 0.7


def test_classes_without_gt_count_in_the_means():
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)])])
    res = evaluate_hicodet(ds, make_dets(ds, [("a.jpg", HOLD_BIKE, H1, O1, 0.9),
                                              ("a.jpg", HOLD_CUP, H1, O1, 0.9)]))
    # 11 additions of 1/11 give 1.0000000000000002, in MATLAB too
    assert res.per_class_ap.tolist() == pytest.approx([0.0, 1.0, 0.0, 0.0, 0.0], abs=1e-12)
    assert res.full == pytest.approx(1 / 5)
    assert res.rare_map == pytest.approx(1 / 2)        # rare = {HOLD_BIKE, NOINT_CUP}
    assert res.non_rare_map == pytest.approx(0.0)
    d = res.to_json_dict()
    assert d["full"] == pytest.approx(20.0) and d["rare"] == pytest.approx(50.0) and d["non_rare"] == 0.0
    assert len(d["per_class_ap"]) == 5 and d["setting"] == "default"


def test_empty_detections():
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)])])
    res = evaluate_hicodet(ds, HOIDetections.empty())
    assert res.full == 0.0 and res.per_class_ap.shape == (5,)
    assert res.to_json_dict()["counts"]["detections"] == 0


def test_score_ties_keep_dataset_then_file_order():
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H2, O2)]), ("b.jpg", [(HOLD_BIKE, H1, O1)])])
    # same score: the FP in a.jpg (first image) ranks first whatever the file order is
    for rows in ([("a.jpg", HOLD_BIKE, H1, O1, 0.5), ("b.jpg", HOLD_BIKE, H1, O1, 0.5)],
                 [("b.jpg", HOLD_BIKE, H1, O1, 0.5), ("a.jpg", HOLD_BIKE, H1, O1, 0.5)]):
        res = evaluate_hicodet(ds, make_dets(ds, rows))
        # fp tp; npos 2 -> rec 0 .5, prec 0 .5 -> thresholds 0..0.5 see .5
        assert res.per_class_ap[HOLD_BIKE] == pytest.approx(6 * 0.5 / 11, abs=1e-12)
    # within an image the file order decides: FP first, then TP
    ds1 = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)])])
    res = evaluate_hicodet(ds1, make_dets(ds1, [("a.jpg", HOLD_BIKE, H2, O2, 0.5), ("a.jpg", HOLD_BIKE, H1, O1, 0.5)]))
    assert res.per_class_ap[HOLD_BIKE] == pytest.approx(0.5, abs=1e-12)
    res = evaluate_hicodet(ds1, make_dets(ds1, [("a.jpg", HOLD_BIKE, H1, O1, 0.5), ("a.jpg", HOLD_BIKE, H2, O2, 0.5)]))
    assert res.per_class_ap[HOLD_BIKE] == pytest.approx(1.0, abs=1e-12)


def test_known_object_filtering():
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)]), ("b.jpg", [(HOLD_CUP, H1, O1)])])
    rows = [("a.jpg", HOLD_BIKE, H1, O1, 0.5), ("b.jpg", HOLD_BIKE, H1, O1, 0.9),
            ("b.jpg", RIDE_BIKE, H1, O1, 0.9)]
    dets = make_dets(ds, rows)
    default = evaluate_hicodet(ds, dets)
    ko = evaluate_hicodet(ds, dets, known_object=True)
    assert default.per_class_ap[HOLD_BIKE] == pytest.approx(0.5, abs=1e-12)
    # b.jpg has no bicycle: its HOLD_BIKE FP is dropped
    assert ko.per_class_ap[HOLD_BIKE] == pytest.approx(1.0, abs=1e-12)
    assert ko.setting == "known_object" and ko.to_json_dict()["counts"]["detections_removed_known_object"] == 2
    # explicit image labels (official-style): b.jpg labelled with a bicycle HOI keeps the FP
    objs = image_objects_from_hoi_labels(ds, [[HOLD_BIKE], [HOLD_CUP, RIDE_BIKE]])
    ko2 = evaluate_hicodet(ds, dets, known_object=True, image_objects=objs)
    assert ko2.per_class_ap[HOLD_BIKE] == pytest.approx(0.5, abs=1e-12)
    assert image_objects_from_boxes(ds).tolist() == [[True, False, False], [False, True, False]]


# -- independent slow reference: plain port of eval_one.m / VOCevaldet_bboxpair.m ---------------

def reference_eval(ds: HOIDataset, dets: HOIDetections, known_object: bool = False) -> list[float]:
    n_img = len(ds)
    # the MATLAB side works on 1-based inclusive boxes
    def inclusive(b):
        return [float(b[0]) + 1.0, float(b[1]) + 1.0, float(b[2]), float(b[3])]
    img_objs = [set(ds.vocab.hoi_object[r.hoi].tolist()) for r in ds.records]
    aps = []
    for c in range(ds.vocab.num_hois):
        gt = [[] for _ in range(n_img)]
        npos = 0
        for i, r in enumerate(ds.records):
            for k in range(r.num_pairs):
                if r.hoi[k] == c:
                    gt[i].append(inclusive(r.boxes_h[k]) + inclusive(r.boxes_o[k]))
                    npos += 1
        det = []  # in image order, then file order
        for i in range(n_img):
            for d in range(len(dets)):
                if dets.image_index[d] == i and dets.hoi[d] == c:
                    if known_object and ds.vocab.hoi_object[c] not in img_objs[i]:
                        continue
                    det.append((i, inclusive(dets.boxes_h[d]) + inclusive(dets.boxes_o[d]), float(dets.scores[d])))
        det = sorted(det, key=lambda x: -x[2])  # Python's sort is stable
        matched = [[False] * len(g) for g in gt]
        tp, fp = [], []
        for i, bb, _ in det:
            ov_max, j_max = -float("inf"), -1
            for j, g in enumerate(gt[i]):
                ovs = []
                for o in (0, 4):
                    iw = min(bb[o + 2], g[o + 2]) - max(bb[o], g[o]) + 1
                    ih = min(bb[o + 3], g[o + 3]) - max(bb[o + 1], g[o + 1]) + 1
                    if iw > 0 and ih > 0:
                        ua = (bb[o + 2] - bb[o] + 1) * (bb[o + 3] - bb[o + 1] + 1) + \
                             (g[o + 2] - g[o] + 1) * (g[o + 3] - g[o + 1] + 1) - iw * ih
                        ovs.append(iw * ih / ua)
                    else:
                        ovs.append(0.0)
                m = min(ovs)
                if m > ov_max:
                    ov_max, j_max = m, j
            if ov_max >= 0.5 and not matched[i][j_max]:
                matched[i][j_max] = True
                tp.append(1)
                fp.append(0)
            else:
                tp.append(0)
                fp.append(1)
        ctp = cfp = 0.0
        rec, prec = [], []
        for t, f in zip(tp, fp):
            ctp += t
            cfp += f
            rec.append(ctp / npos if npos else float("nan"))
            prec.append(ctp / (cfp + ctp))
        ap = 0.0
        for k in range(11):
            # MATLAB 0:0.1:1 (colon: a + k*d for the first half, b - (n-k)*d for the second)
            thr = k * 0.1 if k <= 5 else 1.0 - (10 - k) * 0.1
            sel = [p for r_, p in zip(rec, prec) if r_ >= thr]
            ap = ap + (max(sel) if sel else 0.0) / 11
        aps.append(ap)
    return aps


def random_case(rng: np.random.Generator, n_img: int = 12, n_det: int = 150):
    images = []
    for i in range(n_img):
        pairs = []
        for _ in range(int(rng.integers(0, 6))):
            c = int(rng.integers(0, 4))  # class 4 never has GT
            x, y = rng.integers(1, 60, size=2)
            w, h = rng.integers(3, 30, size=2)
            ox, oy = rng.integers(1, 60, size=2)
            pairs.append((c, [x, y, x + w, y + h], [ox, oy, ox + w, oy + h]))
        images.append((f"img{i:03d}.jpg", pairs))
    ds = make_dataset(images)
    rows = []
    for _ in range(n_det):
        i = int(rng.integers(0, n_img))
        name, pairs = images[i]
        if pairs and rng.random() < 0.7:
            c, h, o = pairs[int(rng.integers(0, len(pairs)))]
            if rng.random() < 0.3:
                c = int(rng.integers(0, 5))
            jit = lambda b: (np.array(b, float) + rng.integers(-3, 4, size=4) * rng.choice([1.0, 0.5])).tolist()
            h, o = jit(h), jit(o)
        else:
            c = int(rng.integers(0, 5))
            x, y = rng.integers(1, 60, size=2)
            h = [x, y, x + int(rng.integers(3, 30)), y + int(rng.integers(3, 30))]
            o = [y, x, y + int(rng.integers(3, 30)), x + int(rng.integers(3, 30))]
        rows.append((name, c, h, o, float(rng.integers(0, 8)) / 8))  # coarse scores -> many ties
    return ds, make_dets(ds, rows)


@pytest.mark.parametrize("seed", range(8))
def test_matches_slow_reference_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    ds, dets = random_case(rng)
    for ko in (False, True):
        fast = evaluate_hicodet(ds, dets, known_object=ko).per_class_ap
        ref = np.array(reference_eval(ds, dets, known_object=ko))
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
        assert np.array_equal(fast, ref)  # same arithmetic -> bitwise equal
        assert (ref > 0).any()


# -- interchange JSON -----------------------------------------------------------------------------

def test_json_roundtrip_and_zero_based_hoi(tmp_path):
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)]), ("b.jpg", [])])
    dets = make_dets(ds, [("b.jpg", HOLD_CUP, H2, O2, 0.25), ("a.jpg", HOLD_BIKE, H1, O1, 0.5),
                          ("a.jpg", RIDE_BIKE, [1.5, 2, 10, 11], O1, 0.125)])
    p = tmp_path / "dets.json"
    write_detections_json(p, ds.file_names, dets)
    doc = json.loads(p.read_text())
    assert doc["box_convention"] == "hico"
    a = next(e for e in doc["images"] if e["file_name"] == "a.jpg")
    assert a["hoi"] == [HOLD_BIKE, RIDE_BIKE] and a["boxes_h"][0] == H1  # 1-based, as annotated
    back = read_detections_json(p, ds)
    for f in ("image_index", "boxes_h", "boxes_o", "hoi", "scores"):
        assert np.array_equal(getattr(back, f), getattr(dets, f)), f
    assert evaluate_hicodet(ds, back).per_class_ap[HOLD_BIKE] == pytest.approx(1.0, abs=1e-12)


def test_json_continuous_convention(tmp_path):
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)])])
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"box_convention": "continuous", "images": [
        {"file_name": "a.jpg", "boxes_h": [[0, 0, 10, 10]], "boxes_o": [[10, 10, 20, 20]],
         "hoi": [HOLD_BIKE], "scores": [1.0]}]}))
    ap = evaluate_hicodet(ds, read_detections_json(p, ds)).per_class_ap[HOLD_BIKE]
    assert ap == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("entry, message", [
    ({"file_name": "zzz.jpg", "boxes_h": [], "boxes_o": [], "hoi": [], "scores": []}, "zzz.jpg"),
    ({"file_name": "a.jpg", "boxes_h": [H1], "boxes_o": [O1], "hoi": [5], "scores": [1]}, "HOI id"),
    ({"file_name": "a.jpg", "boxes_h": [H1], "boxes_o": [O1], "hoi": [-1], "scores": [1]}, "HOI id"),
    ({"file_name": "a.jpg", "boxes_h": [H1], "boxes_o": [O1], "hoi": [0], "scores": [1, 2]}, "lengths"),
    ({"file_name": "a.jpg", "boxes_h": [[1, 2, 3]], "boxes_o": [O1], "hoi": [0], "scores": [1]}, "boxes_h"),
    ({"file_name": "a.jpg", "boxes_h": [H1], "boxes_o": [O1], "hoi": [0], "scores": [float("nan")]}, "NaN"),
    ({"file_name": "a.jpg", "boxes_h": [H1], "boxes_o": [O1], "hoi": [0]}, "scores"),
])
def test_json_errors_name_the_problem(tmp_path, entry, message):
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)])])
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"images": [entry]}))
    with pytest.raises(DataError, match=message) as e:
        read_detections_json(p, ds)
    assert str(p) in str(e.value)


def test_json_duplicate_image_and_missing_file(tmp_path):
    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)])])
    e = {"file_name": "a.jpg", "boxes_h": [], "boxes_o": [], "hoi": [], "scores": []}
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"images": [e, e]}))
    with pytest.raises(DataError, match="twice"):
        read_detections_json(p, ds)
    with pytest.raises(DataError, match="not found"):
        read_detections_json(tmp_path / "nope.json", ds)
    p.write_text(json.dumps({"images": []}))
    assert len(read_detections_json(p, ds)) == 0


# -- command line on the real test annotations -------------------------------------------------------

def test_cli_on_real_annotations_with_ground_truth_as_detections(hicodet_test_json, tmp_path):
    from typer.testing import CliRunner

    from pipeline.evaluate import app
    from weakhoi.data.loaders import load_dataset

    ds = load_dataset("hicodet", hicodet_test_json, split="test")
    n = np.array([r.num_pairs for r in ds.records])
    gt_as_dets = HOIDetections.from_arrays(
        np.repeat(np.arange(len(ds)), n), np.concatenate([r.boxes_h for r in ds.records]),
        np.concatenate([r.boxes_o for r in ds.records]), np.concatenate([r.hoi for r in ds.records]),
        np.linspace(1, 0.5, int(n.sum())))
    dpath, mpath = tmp_path / "dets.json", tmp_path / "M.json"
    write_detections_json(dpath, ds.file_names, gt_as_dets)
    res = CliRunner().invoke(app, ["hicodet", "--annotations", str(hicodet_test_json), "--detections", str(dpath),
                                   "--output", str(mpath)])
    assert res.exit_code == 0, res.output
    assert "Full" in res.output and "Non-Rare" in res.output
    m = json.loads(mpath.read_text())
    assert m["setting"] == "default" and len(m["per_class_ap"]) == 600
    assert m["counts"]["images"] == 9658 and m["counts"]["detections"] == int(n.sum())
    # every ground-truth pair detected exactly once (all 600 classes have test pairs): AP 1 everywhere
    assert m["full"] == pytest.approx(100.0, abs=1e-9)
    assert np.allclose(m["per_class_ap"], 1.0, atol=1e-12, rtol=0)
    assert m["rare"] == pytest.approx(100 * np.mean(np.array(m["per_class_ap"])[ds.vocab.rare]))
    ko = CliRunner().invoke(app, ["hicodet", "--annotations", str(hicodet_test_json), "--detections", str(dpath),
                                  "--known-object", "--output", str(mpath)])
    assert ko.exit_code == 0, ko.output
    assert json.loads(mpath.read_text())["setting"] == "known_object"


def test_cli_rejects_unknown_images(hicodet_test_json, tmp_path):
    from typer.testing import CliRunner

    from pipeline.evaluate import app

    p = tmp_path / "d.json"
    p.write_text(json.dumps({"images": [{"file_name": "nope.jpg", "boxes_h": [], "boxes_o": [], "hoi": [],
                                         "scores": []}]}))
    res = CliRunner().invoke(app, ["hicodet", "--annotations", str(hicodet_test_json), "--detections", str(p)])
    assert isinstance(res.exception, DataError) and "nope.jpg" in str(res.exception)


def test_image_labels_from_anno_mat(tmp_path):
    import scipy.io

    from weakhoi.eval.hicodet import image_objects_from_anno_mat

    ds = make_dataset([("a.jpg", [(HOLD_BIKE, H1, O1)]), ("b.jpg", [(HOLD_CUP, H1, O1)])])
    anno = np.full((5, 3), np.nan)                  # [num_hois, n_images]; the .mat lists 3 images
    anno[HOLD_CUP, 0] = 1                            # b.jpg (column 0): a cup, positive
    anno[RIDE_BIKE, 0] = 0                           # ambiguous: does not count
    anno[HOLD_BIKE, 2] = 1                           # a.jpg (column 2): a bicycle
    anno[HOLD_PERSON, 2] = -1                        # negative: does not count
    names = np.array(["b.jpg", "other.jpg", "a.jpg"], dtype=object)
    p = tmp_path / "anno.mat"
    scipy.io.savemat(p, {"anno_test": anno, "list_test": names.reshape(-1, 1)})
    objs = image_objects_from_anno_mat(p, ds)
    #                     bicycle cup   person
    assert objs.tolist() == [[True, False, False], [False, True, False]]
    dets = make_dets(ds, [("a.jpg", HOLD_BIKE, H1, O1, 0.5), ("b.jpg", HOLD_BIKE, H1, O1, 0.9)])
    ko = evaluate_hicodet(ds, dets, known_object=True, image_objects=objs)
    assert ko.per_class_ap[HOLD_BIKE] == pytest.approx(1.0, abs=1e-12)
    scipy.io.savemat(p, {"anno_test": anno[:, :2], "list_test": names[:2].reshape(-1, 1)})
    with pytest.raises(DataError, match="a.jpg"):
        image_objects_from_anno_mat(p, ds)


def test_cli_on_qpic_test_hico_json_without_image_sizes(tmp_path):
    """The PPDM/QPIC test_hico.json stores no image sizes and the evaluation needs none: the
    command must work without images (regression: it required sizes)."""
    from typer.testing import CliRunner

    from pipeline.evaluate import app
    from weakhoi.vocab import hicodet_vocabulary

    V = hicodet_vocabulary()
    ride, bicycle = V.verbs.index("ride"), V.objects.index("bicycle")
    ride_bicycle = V.hoi_index(ride, bicycle)
    ann = tmp_path / "test_hico.json"
    ann.write_text(json.dumps([
        {"file_name": "a.jpg",
         "annotations": [{"bbox": [11, 21, 60, 90], "category_id": 1},       # person
                         {"bbox": [31, 41, 100, 95], "category_id": 2}],     # bicycle
         "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": ride + 1,
                             "hoi_category_id": ride_bicycle + 1}]},
        {"file_name": "b.jpg", "annotations": [], "hoi_annotation": []}]))
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps({"images": [
        {"file_name": "a.jpg", "boxes_h": [[11, 21, 60, 90]], "boxes_o": [[31, 41, 100, 95]],
         "hoi": [ride_bicycle], "scores": [0.9]},
        {"file_name": "b.jpg", "boxes_h": [[1, 1, 10, 10]], "boxes_o": [[1, 1, 10, 10]],
         "hoi": [ride_bicycle], "scores": [0.5]}]}))
    out = tmp_path / "m.json"
    res = CliRunner().invoke(app, ["hicodet", "--annotations", str(ann), "--detections", str(dets),
                                   "--output", str(out)])
    assert res.exit_code == 0, res.output
    m = json.loads(out.read_text())
    # ride-bicycle: TP at rank 1 (recall 1, precision 1), then an FP: AP 1; the 599 others: 0
    assert m["per_class_ap"][ride_bicycle] == pytest.approx(1.0, abs=1e-12)   # 11 x (1/11)
    assert m["full"] == pytest.approx(100.0 / 600, abs=1e-12)
    assert m["counts"]["images"] == 2 and m["counts"]["true_positives"] == 1
    assert m["counts"]["detections"] == 2


def test_write_detections_json_is_atomic(tmp_path):
    """A failure while streaming (a NaN score in the second image) leaves the previous file
    untouched and no temporary sibling behind."""
    out = tmp_path / "dets.json"
    out.write_text('{"previous": true}')                      # a JSON output of an earlier run
    dets = HOIDetections.from_arrays([0, 1], [[0, 0, 5, 5]] * 2, [[1, 1, 6, 6]] * 2, [3, 4],
                                     [0.9, float("nan")])
    with pytest.raises(ValueError, match="non-finite score in image b.jpg"):
        write_detections_json(out, ["a.jpg", "b.jpg"], dets)
    assert out.read_text() == '{"previous": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dets.json"]
    ok = HOIDetections.from_arrays([1], [[0, 0, 5, 5]], [[1, 1, 6, 6]], [4], [0.5])
    write_detections_json(out, ["a.jpg", "b.jpg"], ok)
    doc = json.loads(out.read_text())
    assert doc["images"] == [{"file_name": "b.jpg", "boxes_h": [[1.0, 1.0, 5.0, 5.0]],
                              "boxes_o": [[2.0, 2.0, 6.0, 6.0]], "hoi": [4], "scores": [0.5]}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dets.json"]
