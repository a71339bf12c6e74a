"""The real-data path before anyone spends GPU hours on it: train -> infer -> evaluate on the
HICO-DET layout (600 classes, 117 verbs) and on V-COCO (action-role classes, person-person
pairs, the official metric keys), with real test annotations from ../shared/data used as both
splits, placeholder images of the annotated sizes, simulated detections, the RN50 architecture
with random init at a small input size, and a few iterations. Skipped when the data is absent.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image

from pipeline_helpers import run_cli, write_params

NUM_IMAGES = 120


def _placeholders(directory: Path, sizes: dict[str, tuple[int, int]]) -> None:
    directory.mkdir(parents=True)
    for name, (w, h) in sizes.items():
        Image.new("RGB", (w, h), (100 + len(name) % 50, 110, 120)).save(directory / name)


def _chain(tmp: Path, dataset: str, annotations: Path, images: Path, image_size: int = 64) -> dict:
    params = write_params(
        tmp / "params.yaml",
        detect={"backend": "simulated", "simulated_on_real_data": True},
        encode={"bank": "random", "model": "RN50"},
        train={"iterations": 2, "batch_size": 2, "image_size": image_size, "log_every": 1,
               "checkpoint_every": 0, "max_pairs": 8,
               "model": {"backbone": {"model": "RN50", "batchnorm": "frozen_stats"}}},
        infer={"batch_size": 16})
    art = {k: tmp / v for k, v in {"props": "proposals.h5", "pairs": "pairs.zarr", "bank": "bank.h5",
                                   "model": "model.h5", "scores": "scores.h5"}.items()}
    common = ["--dataset", dataset, "--annotations", annotations]
    run_cli("detect", *common, "--images", images, "--out", art["props"], "--params", params)
    run_cli("spatial", "--proposals", art["props"], "--out", art["pairs"], "--params", params)
    run_cli("encode", *common, "--out", art["bank"], "--params", params)
    run_cli("train", *common, "--images", images, "--proposals", art["props"], "--pairs", art["pairs"],
            "--bank", art["bank"], "--out", art["model"], "--curves", tmp / "curves",
            "--checkpoint-root", tmp / "ckpt", "--params", params)
    run_cli("infer", *common, "--images", images, "--model", art["model"], "--proposals", art["props"],
            "--pairs", art["pairs"], "--out", art["scores"], "--params", params)
    log = run_cli("evaluate", "scores", "--scores", art["scores"], *common,
                  "--train-annotations", annotations, "--metrics", tmp / "metrics.json",
                  "--per-class", tmp / "per_class.json", "--plots-dir", tmp / "plots",
                  "--params", params)
    return {"log": log, "metrics": json.loads((tmp / "metrics.json").read_text()), **art}


@pytest.mark.slow
def test_hicodet_layout_train_infer_evaluate(hicodet_test_json, tmp_path):
    from weakhoi.model.io import read_model_state
    from weakhoi.scores import read_hoi_scores

    full = json.loads(hicodet_test_json.read_text())
    keep = list(range(NUM_IMAGES))
    sub = {k: full[k] for k in ("objects", "verbs", "correspondence", "rare", "non_rare")}
    sub["filenames"] = [full["filenames"][i] for i in keep]
    sub["size"] = [full["size"][i] for i in keep]
    sub["annotation"] = [full["annotation"][i] for i in keep]
    sub["empty"] = [i for i in full["empty"] if i < NUM_IMAGES]
    ann = tmp_path / "instances_test2015.json"
    ann.write_text(json.dumps(sub))
    _placeholders(tmp_path / "images", dict(zip(sub["filenames"], map(tuple, sub["size"]))))
    out = _chain(tmp_path, "hicodet", ann, tmp_path / "images")
    cfg, _, _ = read_model_state(out["model"])
    assert (cfg.num_hois, cfg.num_verbs, cfg.num_objects, cfg.embed_dim) == (600, 117, 80, 1024)
    scores = read_hoi_scores(out["scores"])
    assert len(scores) == NUM_IMAGES and scores.num_hois == 600
    m = out["metrics"]["hicodet"]
    for setting in ("default", "known_object"):
        assert set(m[setting]) >= {"full", "rare", "non_rare"}
        assert all(0.0 <= m[setting][k] <= 100.0 for k in ("full", "rare", "non_rare"))
    assert "Full" in out["log"] and "Non-Rare" in out["log"]


@pytest.mark.slow
def test_vcoco_train_infer_evaluate(vcoco_dir, tmp_path):
    from weakhoi.model.io import read_model_state

    full = json.loads((vcoco_dir / "instances_vcoco_test.json").read_text())
    idx = [i for i, a in enumerate(full["annotations"]) if a["boxes_h"]][:NUM_IMAGES]
    sub = {k: full[k] for k in ("classes", "objects", "action_to_object")}
    sub["annotations"] = [full["annotations"][i] for i in idx]
    sub["images"] = [full["images"][i] for i in idx]
    ann = tmp_path / "instances_vcoco_test.json"
    ann.write_text(json.dumps(sub))
    sizes = {}
    for a in sub["annotations"]:
        boxes = [b for b in a["boxes_h"] + a["boxes_o"] if b and all(math.isfinite(v) for v in b)]
        sizes[a["file_name"]] = (max(64, math.ceil(max(b[2] for b in boxes)) + 1),
                                 max(64, math.ceil(max(b[3] for b in boxes)) + 1))
    _placeholders(tmp_path / "images", sizes)
    person_person = sum(1 for a in sub["annotations"] for o in a["objects"] if o == 1)
    assert person_person > 0                        # person-person pairs are on the path
    out = _chain(tmp_path, "vcoco", ann, tmp_path / "images")
    cfg, _, _ = read_model_state(out["model"])
    assert cfg.num_verbs == 24 and cfg.num_objects == 80
    m = out["metrics"]["vcoco"]
    assert {"role_ap_s1", "role_ap_s2"} <= set(m)
    assert all(0.0 <= m[k] <= 100.0 for k in ("role_ap_s1", "role_ap_s2"))
