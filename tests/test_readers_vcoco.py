"""V-COCO vocabulary, prompts and readers (shared instances_vcoco layout; official files built
in the test)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from weakhoi.data.loaders import load_dataset
from weakhoi.data.vcoco import (VCOCO_ACTION_ROLES, read_vcoco_instances_json, read_vcoco_official,
                                vcoco_verb_names, vcoco_vocabulary)
from weakhoi.errors import DataError
from weakhoi.vocab import coco91_to_object, hicodet_vocabulary

HICO = hicodet_vocabulary()


# ---------------------------------------------------------------------------------------------
# vocabulary and prompts
# ---------------------------------------------------------------------------------------------
def test_action_roles():
    names = vcoco_verb_names()
    assert len(names) == 25 and len(VCOCO_ACTION_ROLES) == 25
    assert names[:3] == ["hold_obj", "sit_instr", "ride_instr"]
    assert "point_instr" in names and "point_instr" not in vcoco_verb_names(include_point=False)
    assert len(vcoco_verb_names(include_point=False)) == 24
    # agent-only actions have no class
    assert not any(n.startswith(("stand_", "walk_", "run_", "smile_")) for n in names)


def test_vocabulary_any_object_and_table():
    v = vcoco_vocabulary()
    assert v.objects == HICO.objects and v.person == 49
    assert v.num_verbs == 25 and v.num_hois == 25 * 80 and not v.rare.any()
    cup, knife = HICO.objects.index("cup"), HICO.objects.index("knife")
    t = vcoco_vocabulary({"hold_obj": ["cup", "knife"], "cut_instr": [knife]}, include_point=False)
    assert t.num_verbs == 24 and t.num_hois == 3
    assert [t.hoi_name(i) for i in range(3)] == ["hold_obj cup", "hold_obj knife", "cut_instr knife"]
    assert t.hoi_roles == ("obj", "obj", "instr")
    assert t.hoi_index(0, cup) == 0
    with pytest.raises(DataError, match="unknown object 'spoonx'"):
        vcoco_vocabulary({"hold_obj": ["spoonx"]})


def test_prompts_per_role():
    t = vcoco_vocabulary({"hold_obj": ["apple"], "cut_instr": ["knife"], "eat_obj": ["cake"],
                          "talk_on_phone_instr": ["cell_phone"], "ride_instr": ["horse"]})
    p = t.prompts()                      # roles -> weakhoi.vocab.VCOCO_ROLE_TEMPLATES
    assert p == ["a person holding an apple", "a person riding with horse",
                 "a person eating a cake", "a person talking on phone with cell phone",
                 "a person cutting with knife"]
    custom = {"obj": "{verb_phrase}/{object}", "instr": "{verb_phrase}+{object}"}
    assert t.prompts(role_templates=custom)[1] == "riding+horse"
    assert t.prompts(role_templates=custom)[0] == "holding/apple"
    with pytest.raises(DataError, match="role 'instr', no template"):
        t.prompts(role_templates={"obj": "{object}"})
    assert HICO.prompts(role_templates=custom) == HICO.prompts()   # no roles: templates unused
    assert HICO.prompts()[0] == "a person boarding an airplane"


# ---------------------------------------------------------------------------------------------
# shared instances_vcoco_*.json
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vcoco_train_raw(vcoco_dir: Path) -> dict:
    with (vcoco_dir / "instances_vcoco_train.json").open() as f:
        return json.load(f)


def test_shared_train(vcoco_dir, vcoco_train_raw):
    raw = vcoco_train_raw
    ds = read_vcoco_instances_json(vcoco_dir / "instances_vcoco_train.json", require_sizes=False)
    assert ds.name == "vcoco" and ds.split == "train" and len(ds) == 2533
    v = ds.vocab
    assert v.num_verbs == 24 and "point_instr" not in v.verbs
    assert [n.replace("_", " ") for n in v.verbs] == [c.replace("_", " ") for c in raw["classes"]]
    # classes: one per (action-role, object) listed in action_to_object
    assert v.num_hois == sum(len(set(a)) for a in raw["action_to_object"])
    assert sum(r.num_pairs for r in ds) == sum(len(a["actions"]) for a in raw["annotations"])
    a0, r0 = raw["annotations"][0], ds[0]
    assert r0.file_name == a0["file_name"] and r0.image_id == raw["images"][0]
    np.testing.assert_array_equal(r0.boxes_h, a0["boxes_h"])   # continuous already: unchanged
    np.testing.assert_array_equal(r0.boxes_o, a0["boxes_o"])
    for k, (act, obj) in enumerate(zip(a0["actions"], a0["objects"])):
        assert v.verbs[r0.verb[k]] == raw["classes"][act].replace(" ", "_")
        assert v.objects[r0.object[k]] == raw["objects"][obj].replace(" ", "_")
        assert v.hoi_verb[r0.hoi[k]] == r0.verb[k] and v.hoi_object[r0.hoi[k]] == r0.object[k]
    assert (r0.width, r0.height) == (0, 0)   # sizes unknown without images


def test_shared_vocab_same_in_all_splits(vcoco_dir):
    ds = load_dataset("vcoco", vcoco_dir, split="test", require_sizes=False)
    assert ds.split == "test" and len(ds) == 4946
    assert ds[0].file_name.startswith("COCO_val2014_")
    train = read_vcoco_instances_json(vcoco_dir / "instances_vcoco_train.json", require_sizes=False)
    np.testing.assert_array_equal(ds.vocab.hoi_verb, train.vocab.hoi_verb)
    np.testing.assert_array_equal(ds.vocab.hoi_object, train.vocab.hoi_object)
    p = ds.vocab.prompts()
    verbs, objs = list(ds.vocab.verbs), list(ds.vocab.objects)
    i = ds.vocab.hoi_index(verbs.index("ride_instr"), objs.index("horse"))
    assert p[i] == "a person riding with horse"
    i = ds.vocab.hoi_index(verbs.index("hold_obj"), objs.index("cup"))
    assert p[i] == "a person holding a cup"


def test_shared_requires_sizes(vcoco_dir):
    with pytest.raises(DataError, match="instances_vcoco_val.json.*no image sizes"):
        read_vcoco_instances_json(vcoco_dir / "instances_vcoco_val.json")


def test_instances_sizes_and_bad_box(tmp_path, vcoco_train_raw):
    d = {k: vcoco_train_raw[k] for k in ("classes", "objects", "action_to_object")}
    d["images"] = [5]
    d["annotations"] = [{"file_name": "COCO_x.jpg", "boxes_h": [[0, 0, 10, 20]],
                         "boxes_o": [[5, 5, 30, 20]], "actions": [0], "objects": [42]}]  # hold cup
    p = tmp_path / "instances_vcoco_mini.json"
    p.write_text(json.dumps(d))
    ds = read_vcoco_instances_json(p, sizes={"COCO_x.jpg": (30, 20)}, split="mini")
    assert (ds[0].width, ds[0].height) == (30, 20) and ds[0].image_id == 5
    assert ds.vocab.hoi_name(int(ds[0].hoi[0])) == "hold_obj cup"
    with pytest.raises(DataError, match=r"instances_vcoco_mini.json: entry 0 \(COCO_x.jpg\).*object box"):
        read_vcoco_instances_json(p, sizes={"COCO_x.jpg": (25, 20)})
    d["annotations"][0]["actions"] = [24]
    p.write_text(json.dumps(d))
    with pytest.raises(DataError, match=r"entry 0 \(COCO_x.jpg\).*unknown action-role id 24"):
        read_vcoco_instances_json(p, require_sizes=False)


# ---------------------------------------------------------------------------------------------
# official files
# ---------------------------------------------------------------------------------------------
def _official(tmp_path: Path, nested: bool = False):
    def entry(action, roles, ann_ids, labels, image_ids, role_ids):
        # role_ids: [N][R]; the official json stores it flat, role-major
        flat = [int(r[k]) for k in range(len(roles)) for r in role_ids]
        return {"action_name": action, "role_name": roles, "ann_id": ann_ids, "label": labels,
                "image_id": image_ids, "role_object_id": role_ids if nested else flat,
                "include": [[] for _ in roles]}

    vcoco = [
        entry("hold", ["agent", "obj"], [10, 20], [1, 0], [1, 2], [[10, 11], [20, 0]]),
        entry("stand", ["agent"], [10, 20], [1, 1], [1, 2], [[10], [20]]),
        entry("eat", ["agent", "obj", "instr"], [10, 20], [1, 1], [1, 2], [[10, 11, 0], [20, 0, 0]]),
    ]
    coco = {
        "images": [{"id": 1, "file_name": "COCO_val2014_000000000001.jpg", "width": 100, "height": 80},
                   {"id": 2, "file_name": "COCO_val2014_000000000002.jpg", "width": 60, "height": 60},
                   {"id": 3, "file_name": "COCO_val2014_000000000003.jpg", "width": 50, "height": 50}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 40], "area": 800, "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 47, "bbox": [30, 30, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 20, "image_id": 2, "category_id": 1, "bbox": [0, 5, 15, 50], "area": 750, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person"}, {"id": 47, "name": "cup"}],
    }
    vp, cp, sp = tmp_path / "vcoco_test.json", tmp_path / "instances_vcoco_all_2014.json", tmp_path / "vcoco_test.ids"
    vp.write_text(json.dumps(vcoco))
    cp.write_text(json.dumps(coco))
    sp.write_text("1\n2\n\n3\n")
    return vp, cp, sp


@pytest.mark.parametrize("nested", [False, True])
def test_official(tmp_path, nested):
    vp, cp, sp = _official(tmp_path, nested)
    ds = read_vcoco_official(vp, cp, sp)
    assert ds.name == "vcoco" and ds.split == "test" and len(ds) == 3
    v = ds.vocab
    hold, eat_o, eat_i = (v.verbs.index(n) for n in ("hold_obj", "eat_obj", "eat_instr"))
    cup = HICO.objects.index("cup")
    assert int(coco91_to_object(v)[47]) == cup
    # observed (role, object) pairs: (hold_obj, cup), (eat_obj, cup)
    assert v.num_hois == 2 and [v.hoi_name(i) for i in range(2)] == ["hold_obj cup", "eat_obj cup"]
    r1, r2, r3 = ds
    assert (r1.file_name, r1.width, r1.height, r1.image_id) == ("COCO_val2014_000000000001.jpg", 100, 80, 1)
    np.testing.assert_array_equal(r1.boxes_h, [[10, 10, 30, 50]] * 3)       # xywh -> xyxy
    np.testing.assert_array_equal(r1.boxes_o[:2], [[30, 30, 40, 40]] * 2)
    assert np.isnan(r1.boxes_o[2]).all()                                     # eat instr missing
    assert r1.verb.tolist() == [hold, eat_o, eat_i]
    assert r1.object.tolist() == [cup, cup, -1]
    assert r1.hoi.tolist() == [0, 1, -1]
    # person 20: hold label 0 (no pair), eat label 1 with both roles missing
    assert r2.verb.tolist() == [eat_o, eat_i] and r2.object.tolist() == [-1, -1]
    assert np.isnan(r2.boxes_o).all() and r2.hoi.tolist() == [-1, -1]
    np.testing.assert_array_equal(r2.boxes_h, [[0, 5, 15, 55]] * 2)
    assert r3.num_pairs == 0 and r3.image_id == 3
    # through the loader, with a fixed vocabulary (stable indices across splits)
    fixed = vcoco_vocabulary()
    ds2 = load_dataset("vcoco", vp, coco_json=cp, split_ids=sp, vocab=fixed)
    assert ds2.vocab is fixed
    assert ds2[0].hoi.tolist()[:2] == [fixed.hoi_index(hold, cup), fixed.hoi_index(eat_o, cup)]


def test_official_errors(tmp_path):
    vp, cp, sp = _official(tmp_path)
    with pytest.raises(DataError, match="missing.ids.*not found"):
        read_vcoco_official(vp, cp, tmp_path / "missing.ids")
    with pytest.raises(DataError, match="split_ids"):
        load_dataset("vcoco", vp, coco_json=cp)
    with pytest.raises(DataError, match="coco_json"):
        load_dataset("vcoco", vp)
    sp.write_text("1\n")          # image 2 is annotated but not in the split
    with pytest.raises(DataError, match=r"vcoco_test.json: entry 2 \(eat\), annotation 1.*image id 2"):
        read_vcoco_official(vp, cp, sp)
    sp.write_text("1\n2\nx\n")
    with pytest.raises(DataError, match="vcoco_test.ids: line 3"):
        read_vcoco_official(vp, cp, sp)
    sp.write_text("1\n2\n")
    data = json.loads(vp.read_text())
    data[0]["role_object_id"][2] = 99   # role object annotation 99 does not exist
    vp.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"entry 0 \(hold\), annotation 0.*annotation id 99"):
        read_vcoco_official(vp, cp, sp)
    data[0]["role_object_id"] = [10, 20, 11]
    vp.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"entry 0 \(hold\).*role_object_id"):
        read_vcoco_official(vp, cp, sp)
    del data[0]["label"]
    vp.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"entry 0.*missing key 'label'"):
        read_vcoco_official(vp, cp, sp)


def test_read_split_ids_accepts_integral_floats(tmp_path):
    """One reader for the data layer and the evaluation: like the official np.loadtxt, '2.0'
    is image 2; fractional or non-numeric lines are errors naming the line."""
    from weakhoi.data.vcoco import read_split_ids

    p = tmp_path / "vcoco_test.ids"
    p.write_text("1\n\n2.0\n 3 \n")
    assert read_split_ids(p) == [1, 2, 3]
    p.write_text("1\n2.5\n")
    with pytest.raises(DataError, match=r"vcoco_test.ids: line 2: '2.5' is not an integer image id"):
        read_split_ids(p)
    p.write_text("1\ninf\n")
    with pytest.raises(DataError, match="line 2"):
        read_split_ids(p)
    with pytest.raises(DataError, match="nope.ids: split id file not found"):
        read_split_ids(tmp_path / "nope.ids")


def test_role_matrix_layouts():
    from weakhoi.data.vcoco import role_matrix

    flat = [10, 11, 12, 0, 21, 22]             # role-major: agent ids, then obj ids (N=3, R=2)
    np.testing.assert_array_equal(role_matrix(flat, 3, 2, "w"), [[10, 0], [11, 21], [12, 22]])
    np.testing.assert_array_equal(role_matrix([[10, 0], [11, 21], [12, 22]], 3, 2, "w"),
                                  [[10, 0], [11, 21], [12, 22]])
    with pytest.raises(DataError, match=r"entry 7: 'role_object_id' has shape \[5\], expected 2 x 3"):
        role_matrix([1, 2, 3, 4, 5], 3, 2, "entry 7")
