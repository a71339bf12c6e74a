"""`weakhoi predict` on arbitrary images: JSON structure, rendered PNG, per-image errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from pipeline.cli import app
from weakhoi.model.config import BackboneConfig, ModelConfig
from weakhoi.model.io import vocabulary_to_dict, write_model
from weakhoi.model.network import build_model
from weakhoi.vocab import hicodet_vocabulary

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


@pytest.fixture(scope="module")
def hico_model(tmp_path_factory) -> Path:
    """A randomly initialised tiny network over HICO-DET's 600 classes, as a model artifact."""
    v = hicodet_vocabulary()
    cfg = ModelConfig(v.num_hois, v.num_verbs, v.num_objects, 128, BackboneConfig(seed=0))
    bank = torch.nn.functional.normalize(torch.randn(v.num_hois, 128, generator=torch.Generator().manual_seed(0)), dim=-1)
    net = build_model(cfg, bank, torch.from_numpy(v.hoi_verb), torch.from_numpy(v.hoi_object))
    path = tmp_path_factory.mktemp("model") / "model.h5"
    write_model(path, net, params={"loss": {"src": True}},
                extra={"vocabulary": vocabulary_to_dict(v), "data_config": {"image_size": 128}})
    return path


def write_detections(directory: Path, stem: str, w: int, h: int) -> None:
    """Two people and three objects (COCO-91 ids: 1 person, 2 bicycle, 47 cup)."""
    boxes = [[0.1 * w, 0.1 * h, 0.4 * w, 0.9 * h], [0.5 * w, 0.2 * h, 0.8 * w, 0.95 * h],
             [0.3 * w, 0.5 * h, 0.7 * w, 0.9 * h], [0.05 * w, 0.05 * h, 0.2 * w, 0.2 * h],
             [0.6 * w, 0.6 * h, 0.9 * w, 0.7 * h]]
    doc = {"boxes": boxes, "scores": [0.95, 0.9, 0.8, 0.7, 0.6], "labels": [1, 1, 2, 47, 47]}
    (directory / f"{stem}.json").write_text(json.dumps(doc))


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def check_output(out: Path, stem: str, size: tuple[int, int], top_k: int) -> None:
    doc = json.loads((out / f"{stem}.json").read_text())
    assert (doc["width"], doc["height"]) == size
    preds = doc["predictions"]
    assert 0 < len(preds) <= top_k
    v = hicodet_vocabulary()
    for p in preds:
        assert set(p) >= {"human_box", "object_box", "verb", "object", "hoi", "hoi_name", "score"}
        assert p["hoi_name"] == v.hoi_name(p["hoi"]) and p["verb"] == v.verbs[v.hoi_verb[p["hoi"]]]
        assert p["object"] in ("bicycle", "cup", "person")
        x1, y1, x2, y2 = p["human_box"]
        assert 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]
    scores = [p["score"] for p in preds]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    with Image.open(out / f"{stem}.png") as im:
        assert im.format == "PNG" and im.size[0] >= size[0]


def test_predict_on_a_generated_image(hico_model, tmp_path):
    rng = np.random.default_rng(0)
    img = tmp_path / "street.jpg"
    Image.fromarray(rng.integers(0, 255, (300, 500, 3), dtype=np.uint8)).save(img)
    dets = tmp_path / "dets"
    dets.mkdir()
    write_detections(dets, "street", 500, 300)
    out = tmp_path / "out"
    r = run("predict", img, "--model", hico_model, "--detections", dets, "--out", out, "--top-k", 7,
            "--params", PARAMS)
    assert r.exit_code == 0, r.output
    check_output(out, "street", (500, 300), 7)


def test_predict_on_real_hicodet_images(hico_model, shared_data, tmp_path):
    images = sorted((shared_data / "images").glob("*.png"))
    if not images:
        pytest.skip("no real images in the shared data")
    dets = tmp_path / "dets"
    dets.mkdir()
    for p in images:
        with Image.open(p) as im:
            write_detections(dets, p.stem, *im.size)
    out = tmp_path / "out"
    r = run("predict", *images, "--model", hico_model, "--detections", dets, "--out", out,
            "--params", PARAMS)
    assert r.exit_code == 0, r.output
    for p in images:
        with Image.open(p) as im:
            check_output(out, p.stem, im.size, 10)


def test_bad_images_are_reported_and_the_others_processed(hico_model, tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (160, 120), (90, 120, 200)).save(good)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    missing = tmp_path / "missing.jpg"
    dets = tmp_path / "dets"
    dets.mkdir()
    for stem in ("good", "corrupt", "missing"):
        write_detections(dets, stem, 160, 120)
    out = tmp_path / "out"
    r = run("predict", corrupt, good, missing, "--model", hico_model, "--detections", dets,
            "--out", out, "--params", PARAMS)
    assert r.exit_code == 1
    assert "corrupt.png" in r.output and "missing.jpg" in r.output
    assert (out / "good.json").is_file() and (out / "good.png").is_file()
    assert not (out / "corrupt.json").exists() and not (out / "missing.json").exists()
