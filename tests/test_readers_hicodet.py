"""HICO-DET readers: the shared instances JSON, a hand-built official anno_bbox.mat, the
PPDM/QPIC layout and bad inputs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from weakhoi.data.hicodet import (read_hico_qpic_json, read_hicodet, read_hicodet_instances_json,
                                  read_hicodet_mat)
from weakhoi.data.loaders import load_dataset
from weakhoi.errors import DataError
from weakhoi.vocab import hicodet_vocabulary

V = hicodet_vocabulary()


def hoi_of(verb: str, obj: str) -> int:
    i = V.hoi_index(V.verbs.index(verb), V.objects.index(obj))
    assert i >= 0
    return i


# ---------------------------------------------------------------------------------------------
# shared instances_test2015.json
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_ds(hicodet_test_json):
    return read_hicodet_instances_json(hicodet_test_json)


def test_shared_counts(shared_ds, hicodet_test_json):
    with hicodet_test_json.open() as f:
        raw = json.load(f)
    assert len(shared_ds) == 9658
    empty = [i for i, r in enumerate(shared_ds) if r.num_pairs == 0]
    assert len(empty) == 112
    assert empty == sorted(raw["empty"])
    assert shared_ds.name == "hicodet" and shared_ds.split == "test"
    assert shared_ds.vocab is hicodet_vocabulary()
    assert sum(r.num_pairs for r in shared_ds) == sum(len(a["hoi"]) for a in raw["annotation"])


def test_shared_image0_conversion(shared_ds):
    r = shared_ds[0]
    assert r.file_name == "HICO_test2015_00000001.jpg"
    assert (r.width, r.height) == (640, 427)
    # raw boxes_h [[320, 306, 359, 349], [270, 303, 311, 350]] (1-based inclusive pixels)
    np.testing.assert_array_equal(r.boxes_h, [[319, 305, 359, 349], [269, 302, 311, 350]])
    # raw boxes_o [148, 345, 376, 414] twice
    np.testing.assert_array_equal(r.boxes_o, [[147, 344, 376, 414]] * 2)
    assert r.hoi.tolist() == [245, 245] and r.verb.tolist() == [87, 87] and r.object.tolist() == [8, 8]
    assert r.boxes_h.dtype == np.float64 and r.hoi.dtype == np.int64


def test_loader_dispatch_instances(hicodet_test_json):
    ds = load_dataset("hicodet", hicodet_test_json.parent, split="test2015")
    assert len(ds) == 9658 and ds.split == "test2015"


# ---------------------------------------------------------------------------------------------
# official anno_bbox.mat
# ---------------------------------------------------------------------------------------------
BOX_DT = [("x1", "O"), ("x2", "O"), ("y1", "O"), ("y2", "O")]   # official field order
HOI_DT = [("id", "O"), ("bboxhuman", "O"), ("bboxobject", "O"), ("connection", "O"), ("invis", "O")]
IMG_DT = [("filename", "O"), ("size", "O"), ("hoi", "O")]


def _boxes(rows):
    """rows of (x1, y1, x2, y2) -> 1 x M struct array with fields x1, x2, y1, y2."""
    a = np.zeros((1, len(rows)), dtype=BOX_DT)
    for k, (x1, y1, x2, y2) in enumerate(rows):
        a[0, k] = (float(x1), float(x2), float(y1), float(y2))
    return a


def _hois(entries):
    a = np.zeros((1, len(entries)), dtype=HOI_DT)
    for k, (hid, hum, obj, conn, invis) in enumerate(entries):
        a[0, k] = (float(hid),
                   _boxes(hum) if hum else np.zeros((0, 0)),
                   _boxes(obj) if obj else np.zeros((0, 0)),
                   np.asarray(conn, dtype=np.float64).reshape(-1, 2) if conn else np.zeros((0, 0)),
                   float(invis))
    return a


def _images(images):
    a = np.zeros((1, len(images)), dtype=IMG_DT)
    for k, (fn, w, h, hois) in enumerate(images):
        a[0, k] = (fn, {"width": float(w), "height": float(h), "depth": 3.0}, _hois(hois))
    return a


@pytest.fixture()
def anno_mat(tmp_path) -> Path:
    train = [
        ("HICO_train2015_00000001.jpg", 640, 480, [
            # two humans, one object, both connected (2 x 2 connection)
            (153, [(10, 20, 100, 200), (300, 50, 400, 300)], [(50, 100, 150, 250)], [[1, 1], [2, 1]], 0),
            # invisible: no boxes, skipped
            (1, [], [], [], 1),
            # single box each and a 1 x 2 connection (squeezed to 1-D by scipy)
            (600, [(1, 1, 640, 480)], [(5, 6, 7, 8)], [[1, 1]], 0),
        ]),
        # one hoi entry only (1 x 1 struct array, squeezed to a single struct)
        ("HICO_train2015_00000002.jpg", 100, 80, [
            (hoi_of("ride", "bicycle") + 1, [(2, 3, 50, 60)], [(10, 20, 90, 80)], [[1, 1]], 0),
        ]),
        # every interaction invisible: an image without pairs
        ("HICO_train2015_00000003.jpg", 50, 50, [(7, [], [], [], 1), (8, [], [], [], 1)]),
    ]
    test = [("HICO_test2015_00000001.jpg", 200, 100, [
        (hoi_of("hold", "cup") + 1, [(11, 12, 40, 90)], [(30, 40, 60, 70), (70, 40, 90, 70)],
         [[1, 2]], 0)])]
    p = tmp_path / "anno_bbox.mat"
    scipy.io.savemat(p, {"bbox_train": _images(train), "bbox_test": _images(test),
                         "list_action": np.zeros((1, 1))})
    return p


def test_mat_train(anno_mat):
    ds = read_hicodet_mat(anno_mat, "train")
    assert ds.split == "train" and len(ds) == 3
    a, b, c = ds
    assert (a.file_name, a.width, a.height) == ("HICO_train2015_00000001.jpg", 640, 480)
    np.testing.assert_array_equal(a.boxes_h, [[9, 19, 100, 200], [299, 49, 400, 300], [0, 0, 640, 480]])
    np.testing.assert_array_equal(a.boxes_o, [[49, 99, 150, 250], [49, 99, 150, 250], [4, 5, 7, 8]])
    assert a.hoi.tolist() == [152, 152, 599]
    assert a.verb.tolist() == [V.hoi_verb[152], V.hoi_verb[152], V.hoi_verb[599]]
    assert a.object.tolist() == [V.hoi_object[152], V.hoi_object[152], V.hoi_object[599]]
    assert (b.width, b.height) == (100, 80)
    np.testing.assert_array_equal(b.boxes_h, [[1, 2, 50, 60]])
    np.testing.assert_array_equal(b.boxes_o, [[9, 19, 90, 80]])
    assert b.hoi.tolist() == [hoi_of("ride", "bicycle")]
    assert b.verb.tolist() == [V.verbs.index("ride")] and b.object.tolist() == [V.objects.index("bicycle")]
    assert c.num_pairs == 0 and c.boxes_h.shape == (0, 4) and c.boxes_o.shape == (0, 4)


def test_mat_test_single_image(anno_mat):
    ds = load_dataset("hicodet", anno_mat, split="test")
    assert len(ds) == 1 and ds.split == "test"
    r = ds[0]
    # connection (1, 2): human 1 with the second object box
    np.testing.assert_array_equal(r.boxes_h, [[10, 11, 40, 90]])
    np.testing.assert_array_equal(r.boxes_o, [[69, 39, 90, 70]])
    assert r.hoi.tolist() == [hoi_of("hold", "cup")]


def test_mat_errors(tmp_path, anno_mat):
    with pytest.raises(DataError, match="nope.mat.*not found"):
        read_hicodet_mat(tmp_path / "nope.mat")
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataError, match="bad.mat"):
        read_hicodet_mat(bad)
    with pytest.raises(DataError, match="split"):
        read_hicodet_mat(anno_mat, "val")
    p = tmp_path / "ids.mat"
    scipy.io.savemat(p, {"bbox_train": _images([("x.jpg", 10, 10, [(601, [(1, 1, 5, 5)], [(1, 1, 5, 5)], [[1, 1]], 0)])])})
    with pytest.raises(DataError, match=r"ids.mat.*bbox_train\[0\] \(x.jpg\).*HOI id 601"):
        read_hicodet_mat(p)
    scipy.io.savemat(p, {"bbox_train": _images([("y.jpg", 10, 10, [(5, [(1, 1, 5, 5)], [(1, 1, 5, 5)], [[1, 2]], 0)])])})
    with pytest.raises(DataError, match=r"y.jpg.*connection \(1, 2\)"):
        read_hicodet_mat(p)
    scipy.io.savemat(p, {"bbox_train": _images([("z.jpg", 10, 10, [(5, [(1, 1, 50, 5)], [(1, 1, 5, 5)], [[1, 1]], 0)])])})
    with pytest.raises(DataError, match=r"ids.mat.*z.jpg.*human box.*outside the 10x10"):
        read_hicodet_mat(p)
    scipy.io.savemat(p, {"other": np.zeros(3)})
    with pytest.raises(DataError, match="ids.mat.*bbox_train"):
        read_hicodet_mat(p)


# ---------------------------------------------------------------------------------------------
# PPDM / QPIC layout
# ---------------------------------------------------------------------------------------------
def _qpic_entries():
    ride, hold = V.verbs.index("ride") + 1, V.verbs.index("hold") + 1
    return [
        {"file_name": "a.jpg",
         "annotations": [{"bbox": [11, 21, 60, 90], "category_id": 1},
                         {"bbox": [31, 41, 100, 95], "category_id": 2},     # bicycle
                         {"bbox": [1, 1, 20, 20], "category_id": 47}],      # cup
         "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": ride,
                             "hoi_category_id": hoi_of("ride", "bicycle") + 1},
                            {"subject_id": 0, "object_id": 2, "category_id": hold}]},  # derived HOI
        {"file_name": "b.jpg", "annotations": [], "hoi_annotation": []},
    ]


def test_qpic_with_sizes(tmp_path):
    p = tmp_path / "trainval_hico.json"
    p.write_text(json.dumps(_qpic_entries()))
    ds = read_hico_qpic_json(p, sizes={"a.jpg": (100, 100), "b.jpg": (30, 40)})
    assert ds.split == "trainval" and len(ds) == 2
    a, b = ds
    np.testing.assert_array_equal(a.boxes_h, [[10, 20, 60, 90], [10, 20, 60, 90]])
    np.testing.assert_array_equal(a.boxes_o, [[30, 40, 100, 95], [0, 0, 20, 20]])
    assert a.hoi.tolist() == [hoi_of("ride", "bicycle"), hoi_of("hold", "cup")]
    assert a.object.tolist() == [V.objects.index("bicycle"), V.objects.index("cup")]
    assert a.verb.tolist() == [V.verbs.index("ride"), V.verbs.index("hold")]
    assert (b.width, b.height, b.num_pairs) == (30, 40, 0)


def test_qpic_sizes_from_images(tmp_path):
    from PIL import Image

    p = tmp_path / "test_hico.json"
    p.write_text(json.dumps(_qpic_entries()))
    img = tmp_path / "images"
    img.mkdir()
    Image.new("RGB", (120, 110)).save(img / "a.jpg")
    Image.new("RGB", (33, 44)).save(img / "b.jpg")
    ds = load_dataset("hicodet", p, images=img, check_images=True)
    assert [(r.width, r.height) for r in ds] == [(120, 110), (33, 44)]
    assert ds.split == "test" and ds.image_path(0) == img / "a.jpg"
    (img / "b.jpg").unlink()
    with pytest.raises(DataError, match=r"b.jpg.*entry 1 of .*test_hico.json"):
        load_dataset("hicodet", p, images=img)


def test_qpic_without_sizes(tmp_path):
    """require_sizes=False: the QPIC layout reads without images or sizes (vocabulary, HICO-DET
    evaluation); sizes are 0 x 0 and only the extent check is skipped."""
    from weakhoi.data.loaders import load_vocabulary

    p = tmp_path / "test_hico.json"
    p.write_text(json.dumps(_qpic_entries()))
    with pytest.raises(DataError, match="test_hico.json.*image root.*sizes"):
        load_dataset("hicodet", p)                        # the default still needs sizes
    ds = load_dataset("hicodet", p, require_sizes=False)
    a, b = ds
    assert [(r.width, r.height) for r in ds] == [(0, 0), (0, 0)]
    np.testing.assert_array_equal(a.boxes_h, [[10, 20, 60, 90], [10, 20, 60, 90]])
    np.testing.assert_array_equal(a.boxes_o, [[30, 40, 100, 95], [0, 0, 20, 20]])
    assert a.hoi.tolist() == [hoi_of("ride", "bicycle"), hoi_of("hold", "cup")]
    np.testing.assert_array_equal(a.instance_boxes[1], [30, 40, 100, 95])
    assert b.num_pairs == 0
    assert load_vocabulary("hicodet", p) is V
    e = _qpic_entries()
    e[0]["annotations"][1]["bbox"] = [31, 41, 30, 95]    # continuous x1 = x2 = 30: zero width
    p.write_text(json.dumps(e))
    with pytest.raises(DataError, match=r"test_hico.json: entry 0 \(a.jpg\).*degenerate"):
        load_dataset("hicodet", p, require_sizes=False)


def test_qpic_errors(tmp_path):
    p = tmp_path / "test_hico.json"
    p.write_text(json.dumps(_qpic_entries()))
    with pytest.raises(DataError, match="test_hico.json.*image root.*sizes"):
        read_hico_qpic_json(p)
    sizes = {"a.jpg": (100, 100), "b.jpg": (30, 40)}
    e = _qpic_entries()
    e[0]["hoi_annotation"][0]["hoi_category_id"] = hoi_of("hold", "cup") + 1  # verb is 'ride'
    p.write_text(json.dumps(e))
    with pytest.raises(DataError, match=r"test_hico.json: entry 0 \(a.jpg\).*do not match HOI"):
        read_hico_qpic_json(p, sizes=sizes)
    e = _qpic_entries()
    e[0]["annotations"][2]["category_id"] = 12   # not a COCO category
    p.write_text(json.dumps(e))
    with pytest.raises(DataError, match=r"entry 0 \(a.jpg\).*annotations\[2\].*category id 12"):
        read_hico_qpic_json(p, sizes=sizes)
    e = _qpic_entries()
    e[0]["hoi_annotation"][1]["category_id"] = V.verbs.index("ride") + 1  # (ride, cup): no class
    p.write_text(json.dumps(e))
    with pytest.raises(DataError, match=r"hoi_annotation\[1\].*not a HICO-DET HOI class"):
        read_hico_qpic_json(p, sizes=sizes)
    e = _qpic_entries()
    del e[1]["hoi_annotation"]
    p.write_text(json.dumps(e))
    with pytest.raises(DataError, match=r"entry 1 \(b.jpg\).*missing key 'hoi_annotation'"):
        read_hico_qpic_json(p, sizes=sizes)


@pytest.mark.parametrize("key, value", [("hoi_category_id", 3.5), ("subject_id", 0.5),
                                        ("category_id", "27"), ("object_id", True)])
def test_qpic_non_integer_ids_are_refused_not_truncated(tmp_path, key, value):
    """Issue 7 item 5: `int(3.5)` silently made HOI 3 of a non-integer id."""
    e = _qpic_entries()
    e[0]["hoi_annotation"][0][key] = value
    p = tmp_path / "test_hico.json"
    p.write_text(json.dumps(e))
    with pytest.raises(DataError, match=rf"entry 0 \(a.jpg\): hoi_annotation\[0\]: {key} must be an "
                                        rf"integer, got {re.escape(repr(value))}"):
        read_hico_qpic_json(p, sizes={"a.jpg": (100, 100), "b.jpg": (30, 40)})


def test_mat_non_integer_hoi_id_is_refused(tmp_path):
    p = tmp_path / "ids.mat"
    scipy.io.savemat(p, {"bbox_train": _images([("x.jpg", 10, 10, [(5.5, [(1, 1, 5, 5)], [(1, 1, 5, 5)],
                                                                   [[1, 1]], 0)])])})
    with pytest.raises(DataError, match=r"x.jpg\): hoi\[0\]: field 'id' must be an integer, got 5.5"):
        read_hicodet_mat(p)


def test_directory_lookup_lists_each_candidate_once(tmp_path):
    """Issue 7 item 8: the lookup error listed test_hico.json twice."""
    with pytest.raises(DataError, match="looked for") as e:
        load_dataset("hicodet", tmp_path, split="test")
    looked = str(e.value).split("looked for ")[1].rstrip(")").split(", ")
    assert looked == ["instances_test.json", "instances_test2015.json", "anno_bbox.mat", "test_hico.json"]


# ---------------------------------------------------------------------------------------------
# bad inputs in the instances layout
# ---------------------------------------------------------------------------------------------
def _instances():
    h = hoi_of("ride", "bicycle")
    return {"filenames": ["x.jpg", "y.jpg"], "size": [[100, 50], [20, 20]],
            "annotation": [{"boxes_h": [[1, 1, 10, 10]], "boxes_o": [[5, 5, 100, 50]], "hoi": [h],
                            "verb": [int(V.hoi_verb[h])], "object": [int(V.hoi_object[h])]},
                           {"boxes_h": [], "boxes_o": [], "hoi": [], "verb": [], "object": []}],
            "empty": [1]}


def test_instances_small_ok(tmp_path):
    p = tmp_path / "instances_train2015.json"
    p.write_text(json.dumps(_instances()))
    ds = read_hicodet(p)
    assert ds.split == "train" and len(ds) == 2
    np.testing.assert_array_equal(ds[0].boxes_o, [[4, 4, 100, 50]])   # x2 = width is inside


@pytest.mark.parametrize("mutate, pattern", [
    (lambda d: d["annotation"][0]["boxes_o"].__setitem__(0, [5, 5, 102, 50]),
     r"entry 0 \(x.jpg\).*object box.*outside the 100x50"),
    (lambda d: d["annotation"][0]["boxes_h"].__setitem__(0, [10, 1, 9, 10]),
     r"entry 0 \(x.jpg\).*human box.*degenerate"),
    (lambda d: d["annotation"][0].__setitem__("hoi", [600]), r"entry 0 \(x.jpg\).*unknown HOI id 600"),
    (lambda d: d["annotation"][0].__setitem__("verb", [117]), r"entry 0 \(x.jpg\).*unknown verb id 117"),
    (lambda d: d["annotation"][0].__setitem__("object", [0]), r"entry 0 \(x.jpg\).*do not match HOI"),
    (lambda d: d["annotation"][1].pop("verb"), r"entry 1 \(y.jpg\).*missing key 'verb'"),
    (lambda d: d.pop("size"), r"missing key 'size'"),
    (lambda d: d["annotation"][0].__setitem__("hoi", [1, 2]), r"entry 0 \(x.jpg\).*lengths differ"),
])
def test_instances_bad_inputs(tmp_path, mutate, pattern):
    d = _instances()
    mutate(d)
    p = tmp_path / "instances_bad.json"
    p.write_text(json.dumps(d))
    with pytest.raises(DataError, match="instances_bad.json") as e:
        read_hicodet_instances_json(p)
    assert e.match(pattern)


def test_missing_and_bad_json(tmp_path):
    with pytest.raises(DataError, match="missing.json.*not found"):
        read_hicodet(tmp_path / "missing.json")
    p = tmp_path / "broken.json"
    p.write_text('{"filenames": [')
    with pytest.raises(DataError, match="broken.json.*not valid JSON"):
        read_hicodet(p)
    with pytest.raises(DataError, match="unknown dataset kind"):
        load_dataset("hico", p)


def test_missing_image_check(tmp_path):
    p = tmp_path / "instances_test2015.json"
    p.write_text(json.dumps(_instances()))
    img = tmp_path / "img"
    img.mkdir()
    (img / "x.jpg").write_bytes(b"")
    read_hicodet(p, images=img)                    # no check by default
    with pytest.raises(DataError, match=r"missing image .*y.jpg \(entry 1 of .*instances_test2015.json\)"):
        read_hicodet(p, images=img, check_images=True)


def test_vocabulary_mismatch_and_synhoi(tmp_path):
    d = _instances()
    voc = V.to_hicodet_json_dict()
    wrong = dict(voc, correspondence=[list(c) for c in voc["correspondence"]])
    wrong["correspondence"][0][2] = 5
    p = tmp_path / "instances_x.json"
    p.write_text(json.dumps({**d, **wrong}))
    with pytest.raises(DataError, match="instances_x.json.*correspondence"):
        read_hicodet(p)
    # HICO-DET's own vocabulary keys: the packaged vocabulary is used
    p.write_text(json.dumps({**d, **voc}))
    assert read_hicodet(p).vocab is V
    # a SynHOI-style file with its own small vocabulary
    syn = {"filenames": ["s.png"], "size": [[64, 48]],
           "annotation": [{"boxes_h": [[1, 1, 20, 40]], "boxes_o": [[30, 10, 60, 30]],
                           "hoi": [1], "verb": [0], "object": [1]}],
           "objects": ["ball", "person"], "verbs": ["kick", "hold"],
           "correspondence": [[0, 0, 0], [1, 1, 0], [2, 0, 1]], "rare": [2],
           "verb_phrases": ["kicking", "holding"]}
    p2 = tmp_path / "instances_train.json"
    p2.write_text(json.dumps(syn))
    ds = load_dataset("synhoi", p2)
    assert ds.name == "synhoi" and ds.vocab.objects == ("ball", "person")
    assert ds.vocab.prompts()[1] == "a person kicking a person"
    np.testing.assert_array_equal(ds[0].boxes_o, [[29, 9, 60, 30]])
    del syn["verbs"]
    p2.write_text(json.dumps(syn))
    with pytest.raises(DataError, match="instances_train.json.*'verbs'"):
        load_dataset("synhoi", p2)


def test_instances_key_gives_every_annotated_box(tmp_path):
    """SynHOI lists every drawn person/object (also those in no pair) under 'instances'."""
    import json as _json

    from weakhoi.data.hicodet import read_hicodet_instances_json
    from weakhoi.vocab import Vocabulary

    vocab = Vocabulary.build("toy", ["ball", "person"], ["hold", "no_interaction"], [(0, 0), (1, 0)])
    d = {"filenames": ["a.png"], "size": [[100, 80]],
         "annotation": [{"boxes_h": [[1, 1, 20, 40]], "boxes_o": [[21, 21, 30, 30]], "hoi": [0],
                         "object": [0], "verb": [0]}],
         "instances": [{"boxes": [[1, 1, 20, 40], [21, 21, 30, 30], [51, 11, 60, 20], [61, 1, 90, 70]],
                        "object": [1, 0, 0, 1], "interacting": [1, 1, 0, 0]}]}
    d.update(vocab.to_hicodet_json_dict())
    p = tmp_path / "instances_train.json"
    p.write_text(_json.dumps(d))
    rec = read_hicodet_instances_json(p, kind="synhoi")[0]
    np.testing.assert_array_equal(rec.instance_boxes[2], [50, 10, 60, 20])  # 1-based -> continuous
    assert rec.instance_labels.tolist() == [1, 0, 0, 1]
    d["instances"][0]["object"][3] = 7
    p.write_text(_json.dumps(d))
    with pytest.raises(DataError, match=r"entry 0 \(a.png\): instances\[3\]: unknown object id 7"):
        read_hicodet_instances_json(p, kind="synhoi")


def test_mat_duplicate_hoi_last_entry_wins(tmp_path):
    """Official eval_one.m: ``gt_all{hoi_id, i} = boxes`` overwrites, so for the same HOI id
    listed twice in one image only the last visible entry's pairs are ground truth; an invisible
    later entry does not overwrite, a visible one without connections overwrites with nothing."""
    hc, hb = hoi_of("hold", "cup") + 1, hoi_of("ride", "bicycle") + 1
    img = ("HICO_test2015_00000001.jpg", 200, 100, [
        (hc, [(1, 1, 10, 10)], [(20, 20, 30, 30)], [[1, 1]], 0),                      # overwritten
        (hb, [(5, 5, 50, 50)], [(60, 60, 90, 90)], [[1, 1]], 0),
        (hc, [(2, 2, 12, 12), (3, 3, 13, 13)], [(40, 40, 50, 50)], [[1, 1], [2, 1]], 0),  # kept
        (hc, [], [], [], 1),                                                          # invisible
    ])
    img2 = ("HICO_test2015_00000002.jpg", 200, 100, [
        (hb, [(5, 5, 50, 50)], [(60, 60, 90, 90)], [[1, 1]], 0),
        (hb, [(5, 5, 50, 50)], [(60, 60, 90, 90)], [], 0),          # visible, no connection
    ])
    p = tmp_path / "anno_bbox.mat"
    scipy.io.savemat(p, {"bbox_train": _images([img, img2]), "bbox_test": _images([img, img2])})
    test = read_hicodet_mat(p, "test")
    r = test[0]
    assert sorted(r.hoi.tolist()) == sorted([hc - 1, hc - 1, hb - 1])
    cup = r.hoi == hc - 1
    np.testing.assert_array_equal(r.boxes_h[cup], [[1, 1, 12, 12], [2, 2, 13, 13]])
    np.testing.assert_array_equal(r.boxes_o[cup], [[39, 39, 50, 50], [39, 39, 50, 50]])
    assert test[1].num_pairs == 0
    # training split (not evaluated): every pair is kept
    train = read_hicodet_mat(p, "train")
    assert train[0].num_pairs == 4 and train[1].num_pairs == 1
    assert read_hicodet_mat(p, "test", last_duplicate_wins=False)[0].num_pairs == 4
