"""The `infer` stage: raw score components per image, the zero-shot CLIP union scores, and the
chain train -> infer -> evaluate on SynHOI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline_helpers import run_cli, small_synhoi, train_args, write_params
from weakhoi.data.pairs import PairImages, collate_pairs, load_image_pairs, model_inputs
from weakhoi.model.io import load_model
from weakhoi.scores import read_hoi_scores

IMAGE_SIZE = 64


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("infer")
    art = small_synhoi(tmp, num_train=10, num_test=6)
    params = write_params(tmp / "params_train.yaml", train={
        "iterations": 4, "batch_size": 2, "image_size": IMAGE_SIZE, "log_every": 2,
        "model": {"backbone": {"batchnorm": "frozen_stats"}}}, infer={"clip_scores": True})
    run_cli(*train_args(art, tmp / "run", params))
    art["model"], art["params_run"] = tmp / "run" / "model.h5", params
    return art


def infer_args(art, out: Path, params: Path) -> list:
    return ["infer", "--dataset", "synhoi", "--annotations", art["annotations_test"],
            "--images", art["images_test"], "--model", art["model"],
            "--proposals", art["proposals_test"], "--pairs", art["pairs_test"],
            "--bank", art["bank"], "--out", out, "--params", params]


def test_scores_are_the_networks_outputs_on_every_pair(trained, tmp_path):
    out = tmp_path / "scores.h5"
    run_cli(*infer_args(trained, out, trained["params_run"]))
    scores = read_hoi_scores(out)
    pairs, info = load_image_pairs(trained["proposals_test"], trained["pairs_test"])
    assert len(scores) == len(pairs) == 6 and scores.has_clip
    net, attrs = load_model(trained["model"])
    images = PairImages(trained["images_test"], pairs, IMAGE_SIZE, info["eps"])
    with torch.no_grad():
        ref = net(**model_inputs(collate_pairs([images.sample(i) for i in range(len(pairs))])))
    p0 = 0
    for i, p in enumerate(pairs):
        s = scores.image(i)
        assert s.num_pairs == p.num_pairs
        np.testing.assert_array_equal(s.human, p.human)
        np.testing.assert_array_equal(s.boxes, p.boxes)                 # the image's own pixels
        np.testing.assert_allclose(s.s_p, ref["s_p"][p0:p0 + p.num_pairs].numpy(), atol=1e-5)
        np.testing.assert_allclose(s.s_g, ref["s_g"][i].numpy(), atol=1e-5)
        valid = ~np.isnan(s.s_clip)                                                  # [P, A]
        table = scores.verb_object_to_hoi()
        expect = table[:, s.labels[s.object]].T >= 0                                 # [P, A]
        np.testing.assert_array_equal(valid, expect)
        p0 += p.num_pairs


def test_clip_union_score_equals_the_naive_computation(trained):
    """s_clip[p, a] = CLIP logit scale x cos(attention-pooled union crop of the frozen CLIP,
    prompt embedding of HOI class (a, object)), computed here with roi_align + the module."""
    from torchvision.ops import roi_align

    from weakhoi.clip import load_clip, read_knowledge_bank
    from weakhoi.data.loaders import load_vocabulary
    from weakhoi.inference import clip_scorer_from_bank

    vocab = load_vocabulary("synhoi", trained["annotations_test"])
    scorer = clip_scorer_from_bank(trained["bank"], vocab)
    pairs, info = load_image_pairs(trained["proposals_test"], trained["pairs_test"])
    i = next(k for k, p in enumerate(pairs) if p.num_pairs)
    batch = collate_pairs([PairImages(trained["images_test"], pairs, IMAGE_SIZE).sample(i)])
    ours = scorer(**model_inputs(batch), labels=batch["labels"])                 # [P, A]
    kb = read_knowledge_bank(trained["bank"])
    net, _, _ = load_clip(kb.attrs["model"], None, seed=int(kb.attrs["seed"]))
    v = net.visual.eval()
    x = (batch["images"].float() / 255 - scorer.backbone.mean) / scorer.backbone.std
    with torch.no_grad():
        feat = v.layer4(v.layer3(v.layer2(v.layer1(v.stem(x)))))
        bh, bo = batch["boxes"][batch["human"]], batch["boxes"][batch["object"]]
        union = torch.cat([torch.minimum(bh[:, :2], bo[:, :2]), torch.maximum(bh[:, 2:], bo[:, 2:])], 1)
        grid = int(round((v.attnpool.positional_embedding.shape[0] - 1) ** 0.5))   # the pool's own
        crops = roi_align(feat, [union], grid, 1 / 32, 2, aligned=True)
        emb = torch.nn.functional.normalize(v.attnpool(crops), dim=-1)
    table = vocab.verb_object_to_hoi()
    for p in range(len(union)):
        obj = int(batch["labels"][batch["object"][p]])
        for a in range(vocab.num_verbs):
            h = table[a, obj]
            if h < 0:
                assert torch.isnan(ours[p, a])
            else:
                want = float(net.logit_scale.detach().exp()) * float(emb[p] @ kb.bank[h])
                assert float(ours[p, a]) == pytest.approx(want, abs=1e-4)


def test_evaluate_after_infer_writes_metrics_and_plots(trained, tmp_path):
    out = tmp_path / "scores.h5"
    params = write_params(tmp_path / "p.yaml", infer={"clip_scores": False})
    run_cli(*infer_args(trained, out, params))
    assert not read_hoi_scores(out).has_clip
    log = run_cli("evaluate", "scores", "--scores", out, "--dataset", "synhoi",
                  "--annotations", trained["annotations_test"],
                  "--train-annotations", trained["annotations_train"],
                  "--metrics", tmp_path / "metrics.json", "--per-class", tmp_path / "per_class.json",
                  "--plots-dir", tmp_path / "plots", "--params", params)
    assert "Full" in log
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert set(m["hicodet"]) == {"default", "known_object"}
    assert 0.0 <= m["hicodet"]["default"]["full"] <= 100.0
    assert (tmp_path / "plots" / "per_class_ap.png").is_file()


def test_viz_predictions_beside_ground_truth(trained, tmp_path):
    from PIL import Image

    scores = tmp_path / "scores.h5"
    params = write_params(tmp_path / "p.yaml", infer={"clip_scores": False})
    run_cli(*infer_args(trained, scores, params))
    out = tmp_path / "sheet.png"
    log = run_cli("viz", "predictions", "--scores", scores, "--annotations", trained["annotations_test"],
                  "--images", trained["images_test"], "--out", out, "--index", 0, "--index", 2,
                  "--scale", 1, "--params", params)
    assert "2 images" in log
    with Image.open(out) as im:                     # two tiles per image, side by side
        w0 = Image.open(trained["images_test"] / sorted(p.name for p in trained["images_test"].iterdir())[0]).width
        assert im.format == "PNG" and im.width >= 2 * w0
