"""End-to-end HICO-DET cases through the CLI (``evaluate hicodet``), with per-class APs computed
by hand following the official MATLAB code (``eval_one.m`` + ``VOCevaldet_bboxpair.m``).

Files: annotations in the ``instances_test2015.json`` layout (1-based HICO pixel indices, no
vocabulary keys -> HICO-DET's 600 classes) and detections in the interchange JSON (0-based HOI).

Geometry: "slot" k of an image is the pair human [100k+1, 1, 100k+10, 10] (inclusive area
10 x 10 = 100), object [100k+1, 21, 100k+20, 40]. Detections either copy a slot (overlap 1), use
a human box [100k+1, 1, 100k+10, 5] (inclusive: 50 / 100 = exactly 0.5 -> hit; continuous
arithmetic would give 36/81 -> miss), a human box [100k+1, 1, 100k+10, 4] (0.4 -> miss), or
boxes far from everything (overlap 0).

11-point thresholds are MATLAB's ``0:0.1:1``: t4 = 0.30000000000000004 (> 0.3), t7 = 0.6 and
t8 = 0.7 exactly.
"""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipeline.evaluate import app
from weakhoi.vocab import hicodet_vocabulary

V = hicodet_vocabulary()


def hoi_of(verb: str, obj: str) -> int:
    return int(V.hoi_index(V.verbs.index(verb), V.objects.index(obj)))


A = hoi_of("hold", "cup")          # 10 GT pairs: recall 0.3 / 0.6 / 0.7 exactly
C = hoi_of("drink_with", "cup")     # no GT, only detections (same object as A)
B = hoi_of("ride", "bicycle")      # score tie resolved by dataset order
D = hoi_of("hold", "bicycle")      # a GT pair listed twice

IMGS = [f"HICO_test2015_{i:08d}.jpg" for i in (1, 2, 3, 4)]


def slot(k: int) -> tuple[list, list]:
    return [100 * k + 1, 1, 100 * k + 10, 10], [100 * k + 1, 21, 100 * k + 20, 40]


def half(k: int) -> tuple[list, list]:   # human IoU exactly 0.5 (inclusive), object exact
    return [100 * k + 1, 1, 100 * k + 10, 5], slot(k)[1]


def near(k: int) -> tuple[list, list]:   # human IoU 0.4
    return [100 * k + 1, 1, 100 * k + 10, 4], slot(k)[1]


FAR = ([2001, 2001, 2010, 2010], [2001, 2021, 2020, 2040])

# ground truth: image -> [(hoi, slot)]
GT = {
    0: [(A, 0), (A, 1), (A, 2), (A, 3), (B, 5)],   # a1..a4, b1
    1: [(A, 0), (A, 1), (A, 2), (B, 5)],           # a5..a7, b2
    2: [(A, 0), (A, 1), (A, 2), (D, 4), (D, 4)],   # a8..a10, d listed twice
    3: [(B, 7)],                                   # no GT of A (no cup at all)
}


def write_annotations(path) -> None:
    ann = []
    for i in range(4):
        pairs = GT[i]
        ann.append({"boxes_h": [slot(k)[0] for _, k in pairs], "boxes_o": [slot(k)[1] for _, k in pairs],
                    "hoi": [h for h, _ in pairs], "verb": [int(V.hoi_verb[h]) for h, _ in pairs],
                    "object": [int(V.hoi_object[h]) for h, _ in pairs]})
    path.write_text(json.dumps({"filenames": IMGS, "size": [[2100, 2100]] * 4, "annotation": ann}))


# Class A, detections with distinct scores, ranked (image, boxes, outcome):
A_DETS = [
    (0, slot(0), "H"),   # 1 a1
    (0, half(1), "H"),   # 2 a2, IoU exactly 0.5
    (1, slot(0), "H"),   # 3 a5                          -> rec 0.3, prec 1
    (3, slot(0), "F"),   # 4 image without GT of A (removed in Known-Object)
    (0, slot(0), "F"),   # 5 duplicate of a1 (already matched)
    (1, near(1), "F"),   # 6 IoU 0.4 with a6
    (2, slot(0), "H"),   # 7 a8
    (0, slot(2), "H"),   # 8 a3
    (2, slot(1), "H"),   # 9 a9                          -> rec 0.6, prec 6/9
    (0, FAR, "F"),       # 10 overlaps nothing
    (1, slot(1), "H"),   # 11 a6 (the near miss above did not consume it) -> rec 0.7, prec 7/11
    (3, slot(0), "F"),   # 12 image without GT of A (removed in Known-Object)
]


def build_detections(path) -> None:
    per_image: dict[int, list] = {i: [] for i in range(4)}
    n = len(A_DETS)
    for r, (i, (h, o), _) in enumerate(A_DETS):
        per_image[i].append((h, o, A, 1.0 - r / 100))
    # class C (no ground truth): two detections
    per_image[0].append((*slot(0), C, 0.99))
    per_image[3].append((*slot(0), C, 0.5))
    # class B: image 1 (index 0) FP at 0.9, image 2 (index 1) hit at 0.9 (tie), image 1 hit at 0.4
    per_image[0].append((*FAR, B, 0.9))
    per_image[0].append((*slot(5), B, 0.4))
    per_image[1].append((*slot(5), B, 0.9))
    # class D: both detections exactly on the doubly listed pair
    per_image[2].append((*slot(4), D, 0.9))
    per_image[2].append((*slot(4), D, 0.8))
    assert n == 12
    # the file lists the images in reverse order: the tie order must follow the dataset order
    images = [{"file_name": IMGS[i], "boxes_h": [d[0] for d in per_image[i]],
               "boxes_o": [d[1] for d in per_image[i]], "hoi": [d[2] for d in per_image[i]],
               "scores": [d[3] for d in per_image[i]]} for i in (3, 2, 1, 0)]
    path.write_text(json.dumps({"images": images}))


def matlab_11pt(prec_at_threshold: list[float]) -> float:
    """``ap = ap + p/11`` in MATLAB's order."""
    ap = 0.0
    for p in prec_at_threshold:
        ap = ap + p / 11
    return ap


# Class A, default setting. Outcomes H H H F F F H H H F H F, npos 10:
#   k:    1   2   3   4    5   6   7    8    9    10  11    12
#   rec: .1  .2  .3  .3   .3  .3  .4   .5   .6   .6  .7    .7
#   prec: 1   1   1  3/4  3/5 1/2 4/7  5/8  6/9  6/10 7/11 7/12
# t = 0, .1, .2: 1. t = 0.30000000000000004: rec 0.3 (== 3/10) is below it, so max over k >= 7 =
# 6/9; t = .4, .5: 6/9; t = 0.6: k >= 9 -> 6/9; t = 0.7: k >= 11 -> 7/11; t = .8, .9, 1: 0.
AP_A = matlab_11pt([1, 1, 1, 6 / 9, 6 / 9, 6 / 9, 6 / 9, 7 / 11, 0, 0, 0])
# Known-Object: image 4 has no cup, detections 4 and 12 go. H H H F F H H H F H, npos still 10:
#   rec: .1 .2 .3 .3 .3 .4 .5 .6 .6 .7;  prec: 1 1 1 3/4 3/5 4/6 5/7 6/8 6/9 7/10
# t <= .2: 1; t = .3000..04, .4, .5, .6: max(4/6, 5/7, 6/8, 6/9, 7/10) = 3/4; t = .7: 7/10.
AP_A_KO = matlab_11pt([1, 1, 1, 3 / 4, 3 / 4, 3 / 4, 3 / 4, 7 / 10, 0, 0, 0])
# Class B, npos 2 (image 4's pair is never detected -> npos 3!). Recount: GT b1 (image 1),
# b2 (image 2), b3 (image 4): npos 3. Stable order: image 1 FP (0.9), image 2 hit (0.9), image 1
# hit (0.4): rec 0, 1/3, 2/3; prec 0, 1/2, 2/3. t = 0 .. 0.6: max = 2/3 (rec 2/3 >= 0.6);
# t = 0.7 .. 1: none. (Hit first, i.e. file order, would give 1 for t <= 1/3.)
AP_B = matlab_11pt([2 / 3] * 7 + [0] * 4)
# Class D: the pair listed twice is two GT rows (npos 2); both detections pick the FIRST row
# (ties keep the first), the second is a duplicate -> H F: rec .5 .5, prec 1 1/2.
# t = 0 .. .5: 1; t > .5: none.
AP_D = matlab_11pt([1] * 6 + [0] * 5)


@pytest.fixture()
def files(tmp_path):
    a, d = tmp_path / "instances_test2015.json", tmp_path / "dets.json"
    write_annotations(a)
    build_detections(d)
    return a, d, tmp_path


def run(files, *extra) -> dict:
    a, d, tmp = files
    out = tmp / "metrics.json"
    res = CliRunner().invoke(app, ["hicodet", "--annotations", str(a), "--detections", str(d),
                                   "--output", str(out), *extra])
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


def test_default_setting(files):
    m = run(files)
    ap = m["per_class_ap"]
    assert len(ap) == 600
    assert m["per_class_npos"][A] == 10 and m["per_class_npos"][B] == 3 and m["per_class_npos"][D] == 2
    assert ap[A] == pytest.approx(AP_A, abs=1e-9)
    assert ap[B] == pytest.approx(AP_B, abs=1e-9)
    assert ap[D] == pytest.approx(AP_D, abs=1e-9)
    assert ap[C] == 0.0
    assert sum(1 for x in ap if x != 0) == 3
    # Full mAP: every class counts, AP 0 without ground truth (official mean(AP) over 600)
    assert m["full"] == pytest.approx(100 * (AP_A + AP_B + AP_D) / 600, abs=1e-9)


def test_known_object_setting(files):
    m = run(files, "--known-object")
    ap = m["per_class_ap"]
    assert m["per_class_npos"][A] == 10          # npos unchanged by the Known-Object filter
    assert ap[A] == pytest.approx(AP_A_KO, abs=1e-9)
    assert ap[B] == pytest.approx(AP_B, abs=1e-9)
    assert ap[D] == pytest.approx(AP_D, abs=1e-9)
    assert ap[C] == 0.0


def test_hand_values_are_distinct_from_common_mistakes():
    # guards that the case discriminates: literal 0.3 threshold, arange thresholds, file order
    assert AP_A != matlab_11pt([1, 1, 1, 1, 6 / 9, 6 / 9, 6 / 9, 7 / 11, 0, 0, 0])
    assert AP_A != matlab_11pt([1, 1, 1, 6 / 9, 6 / 9, 6 / 9, 7 / 11, 0, 0, 0, 0])
    assert AP_B != matlab_11pt([1] * 4 + [2 / 3] * 3 + [0] * 4)
