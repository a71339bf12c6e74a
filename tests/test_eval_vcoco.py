"""V-COCO evaluation on synthetic official-format files: hand-computed cases (scenario 1 vs 2,
ignored persons, the +1 IoU convention, the 24/25 means) and an independent slow reference (a
plain port of vsrl_eval's per-image loops) on random inputs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from weakhoi.errors import DataError
from weakhoi.eval.vcoco import (evaluate_vcoco, load_vcoco_ground_truth, read_vcoco_detections_json,
                                vcoco_detections_from_list)

ACTIONS = [("hold", ["agent", "obj"]), ("stand", ["agent"]), ("cut", ["agent", "instr", "obj"]),
           ("point", ["agent", "instr"])]
CATS = [{"id": 1, "name": "person"}, {"id": 2, "name": "knife"}, {"id": 3, "name": "cup"}]


def write_official(tmp_path, images, anns, vcoco_anns):
    """images: [(id, w, h)]; anns: [(ann_id, image_id, cat, [x, y, w, h])];
    vcoco_anns: [(person ann_id, image_id, {action: [role ann ids (0 = missing)] or None})]."""
    coco = {"images": [{"id": i, "width": w, "height": h, "file_name": f"{i}.jpg"} for i, w, h in images],
            "annotations": [{"id": a, "image_id": im, "category_id": c, "bbox": b, "area": float(b[2] * b[3]),
                             "iscrowd": 0} for a, im, c, b in anns],
            "categories": CATS}
    vc = []
    for name, roles in ACTIONS:
        ids = [v[0] for v in vcoco_anns]
        labels = [1 if v[2].get(name) is not None else 0 for v in vcoco_anns]
        roi = [[v[0]] + (list(v[2][name]) if v[2].get(name) is not None else [0] * (len(roles) - 1))
               for v in vcoco_anns]
        flat = [roi[n][r] for r in range(len(roles)) for n in range(len(ids))]  # role-major, as released
        vc.append({"action_name": name, "role_name": roles, "ann_id": ids, "label": labels,
                   "image_id": [v[1] for v in vcoco_anns], "role_object_id": flat, "include": [[]]})
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    (tmp_path / "vcoco.json").write_text(json.dumps(vc))
    (tmp_path / "split.ids").write_text("\n".join(str(i) for i, _, _ in images) + "\n")
    return load_vcoco_ground_truth(tmp_path / "vcoco.json", tmp_path / "coco.json", tmp_path / "split.ids")


def det(image_id, box, **kw):
    d = {"image_id": image_id, "person_box": box}
    d.update(kw)
    return d


@pytest.fixture
def toy(tmp_path):
    # image 10: person 100 (V-COCO) at clean box [10, 10, 100, 100] (xywh w - 1 convention),
    # person 102 (not in V-COCO) at [400, 10, 490, 100], knife 101 at [200, 200, 239, 239]
    images = [(10, 640, 480)]
    anns = [(100, 10, 1, [10, 10, 91, 91]), (101, 10, 2, [200, 200, 40, 40]), (102, 10, 1, [400, 10, 91, 91])]
    vanns = [(100, 10, {"hold": [101], "stand": [], "cut": [0, 101], "point": [101]})]
    return write_official(tmp_path, images, anns, vanns)


P100, P102, KNIFE = [10, 10, 100, 100], [400, 10, 490, 100], [200, 200, 239, 239]


def role_ap(res, name, scen):
    return res.to_json_dict()[f"role_ap_s{scen}"][name]


def test_ground_truth_reading(toy):
    assert toy.actions == ("hold", "stand", "cut", "point")
    assert toy.person_boxes.tolist() == [P100, P102]
    assert toy.person_ignore.tolist() == [False, True]
    assert toy.npos().tolist() == [1, 1, 1, 1]
    assert toy.role_boxes[0, 2, 0].tolist() == [-1, -1, -1, -1]      # cut-instr missing
    assert toy.role_boxes[0, 2, 1].tolist() == KNIFE                  # cut-obj


def test_scenario_1_vs_2_on_missing_role(toy):
    empty = vcoco_detections_from_list([det(10, P100, cut_instr=[0, 0, 0, 0, 0.9])], toy)
    some = vcoco_detections_from_list([det(10, P100, cut_instr=[*KNIFE, 0.9])], toy)
    nan = vcoco_detections_from_list([det(10, P100, cut_instr=[math.nan] * 4 + [0.9])], toy)
    for dets in (empty, nan):
        r = evaluate_vcoco(toy, dets)
        assert role_ap(r, "cut-instr", 1) == pytest.approx(100.0)
        assert role_ap(r, "cut-instr", 2) == pytest.approx(100.0)
    r = evaluate_vcoco(toy, some)
    assert role_ap(r, "cut-instr", 1) == 0.0           # a box where none exists: wrong in scenario 1
    assert role_ap(r, "cut-instr", 2) == pytest.approx(100.0)


def test_persons_not_in_vcoco_are_ignored(toy):
    dets = [det(10, P102, hold_agent=0.99, hold_obj=[*KNIFE, 0.99]),   # best person is 102: skipped
            det(10, P100, hold_agent=0.5, hold_obj=[*KNIFE, 0.5])]
    r = evaluate_vcoco(toy, vcoco_detections_from_list(dets, toy))
    d = r.to_json_dict()
    assert d["agent_ap"]["hold"] == pytest.approx(100.0)   # would be 50 if the first counted as FP
    assert role_ap(r, "hold-obj", 1) == pytest.approx(100.0)
    # a detection overlapping nobody goes to the best (zero-overlap) person: if that is a V-COCO
    # person it is a false positive
    dets.append(det(10, [600, 400, 630, 470], hold_agent=0.9))
    r = evaluate_vcoco(toy, vcoco_detections_from_list(dets, toy))
    assert r.to_json_dict()["agent_ap"]["hold"] == pytest.approx(50.0)  # fp tp: rec 0 1, prec 0 .5


def test_role_iou_uses_plus_one_convention(toy):
    # GT knife [200, 200, 239, 239] is 40 x 40 pixels inclusive; [200, 200, 239, 219] is 40 x 20:
    # IoU exactly 0.5 (continuous IoU without +1 would be 39*19/39^2 < 0.5)
    r = evaluate_vcoco(toy, vcoco_detections_from_list([det(10, P100, hold_obj=[200, 200, 239, 219, 0.9])], toy))
    assert role_ap(r, "hold-obj", 1) == pytest.approx(100.0)
    r = evaluate_vcoco(toy, vcoco_detections_from_list([det(10, P100, hold_obj=[200, 200, 239, 218, 0.9])], toy))
    assert role_ap(r, "hold-obj", 1) == 0.0


def test_duplicates_and_means(toy):
    dets = [det(10, P100, hold_agent=0.9, hold_obj=[*KNIFE, 0.9], cut_obj=[*KNIFE, 0.8],
                cut_instr=[0, 0, 0, 0, 0.8], point_instr=[*P102, 0.7], stand_agent=0.9, cut_agent=0.9,
                point_agent=0.9),
            det(10, P100, hold_agent=0.8, hold_obj=[*KNIFE, 0.8])]  # duplicate: FP
    r = evaluate_vcoco(toy, vcoco_detections_from_list(dets, toy))
    d = r.to_json_dict()
    # hold: tp fp, npos 1 -> rec 1 1, prec 1 .5 -> AP 1
    assert d["agent_ap"]["hold"] == pytest.approx(100.0)
    # point-instr: wrong box -> 0; the 4 pairs: hold-obj 1, cut-instr 1, cut-obj 1, point-instr 0
    assert role_ap(r, "point-instr", 1) == 0.0
    assert d["role_map_s1"] == pytest.approx(75.0)
    assert d["role_map_s1_no_point"] == pytest.approx(100.0)
    assert d["counts"]["action_roles"] == 4 and d["counts"]["action_roles_no_point"] == 3
    assert d["agent_map"] == pytest.approx(100.0)


def test_empty_and_missing_predictions(toy):
    r = evaluate_vcoco(toy, vcoco_detections_from_list([], toy))
    d = r.to_json_dict()
    assert d["agent_map"] == 0.0 and d["role_map_s1"] == 0.0 and d["role_map_s2"] == 0.0
    # keys absent / null -> no prediction (not an error, not a detection)
    r = evaluate_vcoco(toy, vcoco_detections_from_list([det(10, P100, hold_agent=None)], toy))
    assert r.to_json_dict()["agent_ap"]["hold"] == 0.0


def test_errors(toy, tmp_path):
    with pytest.raises(DataError, match="image_id 99"):
        vcoco_detections_from_list([det(99, P100)], toy, "d.json")
    with pytest.raises(DataError, match="hold_obj"):
        vcoco_detections_from_list([det(10, P100, hold_obj=[1, 2, 3])], toy, "d.json")
    p = tmp_path / "d.json"
    p.write_text("[{")
    with pytest.raises(DataError, match="d.json"):
        read_vcoco_detections_json(p, toy)
    (tmp_path / "split.ids").write_text("10\n11\n")
    with pytest.raises(DataError, match="split.ids"):
        load_vcoco_ground_truth(tmp_path / "vcoco.json", tmp_path / "coco.json", tmp_path / "split.ids")


def test_person_iou_exactly_one_half_is_a_match(tmp_path):
    """A detection whose person box has IoU exactly 0.5 (+1 convention, exact in float32) with
    the ground-truth person counts (official: ovmax >= 0.5); one pixel less does not."""
    gt = write_official(tmp_path, [(1, 300, 300)],
                        [(1, 1, 1, [0, 0, 100, 100]), (2, 1, 2, [150, 150, 40, 40])],   # person 0..99
                        [(1, 1, {"hold": [2]})])
    half = evaluate_vcoco(gt, vcoco_detections_from_list([det(1, [0, 0, 99, 49], hold_agent=0.9)], gt))
    assert half.to_json_dict()["agent_ap"]["hold"] == pytest.approx(100.0)     # 100 x 50 / 100 x 100
    less = evaluate_vcoco(gt, vcoco_detections_from_list([det(1, [0, 0, 99, 48], hold_agent=0.9)], gt))
    assert less.to_json_dict()["agent_ap"]["hold"] == 0.0


def test_agent_map_counts_actions_without_positives_as_zero(tmp_path):
    """Official agent mAP: nansum over the actions / number of actions, so an action without
    positives (AP NaN) lowers the mean; the role means skip such classes (nanmean)."""
    gt = write_official(tmp_path, [(1, 300, 300)],
                        [(1, 1, 1, [0, 0, 100, 100]), (2, 1, 2, [150, 150, 40, 40])],
                        [(1, 1, {"hold": [2], "stand": [], "cut": [0, 2]})])    # nobody points
    r = evaluate_vcoco(gt, vcoco_detections_from_list(
        [det(1, [0, 0, 99, 99], hold_agent=0.9, hold_obj=[150, 150, 189, 189, 0.9])], gt))
    d = r.to_json_dict()
    assert np.isnan(r.agent_ap[gt.actions.index("point")]) and d["agent_ap"]["point"] is None
    assert d["agent_ap"]["hold"] == pytest.approx(100.0)
    assert d["agent_map"] == pytest.approx(100.0 / 4)      # hold 1, stand 0, cut 0, point NaN -> / 4
    assert d["role_ap_s1"]["point-instr"] is None
    assert d["role_map_s1"] == pytest.approx(100.0 / 3)    # hold-obj 1, cut-instr 0, cut-obj 0


# -- independent slow reference: plain port of vsrl_eval's loops -----------------------------------

def ref_voc_ap(rec, prec):
    """All-point AP written out as vsrl_eval does it (a loop for the envelope), independent of
    weakhoi.eval.ap."""
    mrec = [0.0, *map(float, rec), 1.0]
    mpre = [0.0, *map(float, prec), 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = float(np.maximum(mpre[i], mpre[i + 1]))
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])


def ref_overlap(boxes, ref):
    f = np.float32
    boxes = np.asarray(boxes, f).reshape(-1, 4)
    ref = np.asarray(ref, f)
    ixmin = np.maximum(boxes[:, 0], ref[0])
    iymin = np.maximum(boxes[:, 1], ref[1])
    ixmax = np.minimum(boxes[:, 2], ref[2])
    iymax = np.minimum(boxes[:, 3], ref[3])
    iw = np.maximum(ixmax - ixmin + f(1), f(0))
    ih = np.maximum(iymax - iymin + f(1), f(0))
    inters = iw * ih
    uni = (ref[2] - ref[0] + f(1)) * (ref[3] - ref[1] + f(1)) + (boxes[:, 2] - boxes[:, 0] + f(1)) * \
          (boxes[:, 3] - boxes[:, 1] + f(1)) - inters
    return inters / uni


def reference(gt, dets_list, role=None, scenario=1):
    """Returns {class: AP} for agent (role None) or role AP of every (action, role)."""
    out = {}
    A = len(gt.actions)
    keys = ([(a, None) for a in range(A)] if role is None else
            [(a, r) for a in range(A) for r in range(len(gt.roles[a]) - 1)])
    for a, r in keys:
        tp, fp, sc = [], [], []
        npos = 0
        for i, img_id in enumerate(gt.image_ids.tolist()):
            pidx = [j for j in range(len(gt.person_image)) if gt.person_image[j] == i]
            boxes = gt.person_boxes[pidx]
            npos += sum(gt.person_actions[j, a] == 1 for j in pidx)
            covered = [False] * len(pidx)
            mine = [d for d in dets_list if d["image_id"] == img_id]
            pb, s, rb = [], [], []
            for d in mine:
                if r is None:
                    v = d.get(f"{gt.actions[a]}_agent")
                    v = math.nan if v is None else v
                    box = None
                else:
                    v5 = d.get(f"{gt.actions[a]}_{gt.roles[a][r + 1]}")
                    v5 = [math.nan] * 5 if v5 is None else v5
                    v, box = v5[4], v5[:4]
                if not math.isnan(v):
                    pb.append(d["person_box"]); s.append(np.float32(v)); rb.append(box)
            s = np.array(s, np.float32)
            for j in np.argsort(s, kind="stable")[::-1]:
                ov = ref_overlap(boxes, pb[j])
                jm = int(ov.argmax())
                ovmax = ov.max()
                if gt.person_ignore[pidx[jm]]:
                    continue
                ok = gt.person_actions[pidx[jm], a] == 1 and ovmax >= 0.5
                if r is not None:
                    g = gt.role_boxes[pidx[jm], a, r]
                    if np.all(g == -1):
                        pr = np.asarray(rb[j], np.float32)
                        ov_role = 1.0 if scenario == 2 or np.all(pr == 0) or np.all(np.isnan(pr)) else 0.0
                    else:
                        ov_role = ref_overlap(g, rb[j])[0]
                    ok = ok and ov_role >= 0.5
                sc.append(s[j])
                if ok and not covered[jm]:
                    covered[jm] = True
                    tp.append(1); fp.append(0)
                else:
                    tp.append(0); fp.append(1)
        a_sc = np.array(sc, np.float32)
        idx = np.argsort(a_sc, kind="stable")[::-1]
        a_tp = np.cumsum(np.array(tp, np.float32)[idx])
        a_fp = np.cumsum(np.array(fp, np.float32)[idx])
        rec = a_tp / float(npos) if npos else None
        if npos == 0:
            ap = math.nan
        elif len(sc) == 0:
            ap = 0.0
        else:
            prec = a_tp / np.maximum(a_tp + a_fp, np.float32(np.finfo(np.float64).eps))
            ap = float(np.float32(ref_voc_ap(rec.astype(np.float64), prec.astype(np.float64))))
        out[(a, r)] = ap
    return out


def random_case(tmp_path, rng):
    images, anns, vanns, next_id = [], [], [], 1000
    for im in range(1, 9):
        images.append((im, 200, 150))
        objs = []
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.integers(0, 150), rng.integers(0, 100)
            anns.append((next_id, im, 2 + int(rng.integers(0, 2)), [int(x), int(y), int(rng.integers(5, 50)), int(rng.integers(5, 50))]))
            objs.append(next_id); next_id += 1
        for k in range(int(rng.integers(1, 5))):
            x, y = rng.integers(0, 150), rng.integers(0, 100)
            pid = next_id; next_id += 1
            anns.append((pid, im, 1, [int(x), int(y), int(rng.integers(10, 60)), int(rng.integers(10, 60))]))
            if k == 0 or rng.random() < 0.7:  # every split image has a V-COCO person (official check)
                acts = {}
                for name, roles in ACTIONS:
                    if rng.random() < 0.5:
                        acts[name] = [int(rng.choice(objs)) if rng.random() < 0.7 else 0 for _ in roles[1:]]
                vanns.append((pid, im, acts))
    gt = write_official(tmp_path, images, anns, vanns)
    dets = []
    pb = {a[0]: a[3] for a in anns}
    for _ in range(120):
        im = int(rng.integers(1, 9))
        cand = [a for a in anns if a[1] == im and a[2] == 1]
        b = pb[cand[int(rng.integers(0, len(cand)))][0]]
        box = [b[0] + rng.integers(-4, 5), b[1] + rng.integers(-4, 5), b[0] + b[2] - 1 + rng.integers(-4, 5),
               b[1] + b[3] - 1 + rng.integers(-4, 5)]
        d = {"image_id": im, "person_box": [float(v) for v in box]}
        objs = [a for a in anns if a[1] == im and a[2] != 1]
        for name, roles in ACTIONS:
            if rng.random() < 0.8:
                d[f"{name}_agent"] = float(rng.integers(0, 6)) / 6
            for role in roles[1:]:
                u = rng.random()
                if u < 0.15:
                    continue
                o = pb[objs[int(rng.integers(0, len(objs)))][0]]
                rbox = [o[0], o[1], o[0] + o[2] - 1 + rng.integers(-3, 4), o[1] + o[3] - 1] if u < 0.7 else [0, 0, 0, 0]
                d[f"{name}_{role}"] = [float(v) for v in rbox] + [float(rng.integers(0, 6)) / 6]
        dets.append(d)
    return gt, dets


@pytest.mark.parametrize("seed", range(6))
def test_matches_slow_reference_on_random_inputs(tmp_path, seed):
    gt, dets_list = random_case(tmp_path, np.random.default_rng(seed))
    res = evaluate_vcoco(gt, vcoco_detections_from_list(dets_list, gt))
    ref_agent = reference(gt, dets_list)
    np.testing.assert_array_equal(res.agent_ap, np.array([ref_agent[(a, None)] for a in range(len(gt.actions))]))
    for scen, got in ((1, res.role_ap_s1), (2, res.role_ap_s2)):
        ref = reference(gt, dets_list, role=True, scenario=scen)
        np.testing.assert_array_equal(got, np.array([ref[p] for p in res.role_pairs]))
    assert np.nanmax(res.role_ap_s1) > 0 and not np.array_equal(res.role_ap_s1, res.role_ap_s2)


def test_cli_writes_metrics(toy, tmp_path):
    from typer.testing import CliRunner

    from pipeline.evaluate import app

    d = tmp_path / "dets.json"
    # NaN literal and null are both "no prediction"
    d.write_text('[{"image_id": 10, "person_box": [10, 10, 100, 100], "hold_agent": 0.9, '
                 '"hold_obj": [200, 200, 239, 239, 0.9], "cut_instr": [0, 0, 0, 0, 0.5], "stand_agent": NaN, '
                 '"cut_obj": null}]')
    out = tmp_path / "M.json"
    res = CliRunner().invoke(app, ["vcoco", "--vcoco-json", str(tmp_path / "vcoco.json"), "--coco-json",
                                   str(tmp_path / "coco.json"), "--split-ids", str(tmp_path / "split.ids"),
                                   "--detections", str(d), "--output", str(out)])
    assert res.exit_code == 0, res.output
    m = json.loads(out.read_text())
    assert m["role_ap_s1"] == {"hold-obj": pytest.approx(100.0), "cut-instr": pytest.approx(100.0),
                               "cut-obj": 0.0, "point-instr": 0.0}
    assert m["role_map_s1"] == pytest.approx(50.0) and m["role_map_s1_no_point"] == pytest.approx(200 / 3)
    assert m["agent_map"] == pytest.approx(25.0)  # hold 1, stand/cut/point 0 over 4 actions
    assert "Scenario 1" in res.output
