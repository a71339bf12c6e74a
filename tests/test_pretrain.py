"""Pretraining the tiny CLIP on the caption split (`weakhoi pretrain`): the training pieces, a
fast run that must beat random init at zero-shot recognition, the checkpoint as a local CLIP
checkpoint, byte reproducibility, and the stage (enabled and disabled)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from weakhoi.artifacts import OUTPUT_MARKER
from weakhoi.clip import TINY_MODEL, build_knowledge_bank, encode_prompts, load_clip, read_knowledge_bank, \
    write_knowledge_bank
from weakhoi.data.loaders import load_dataset
from weakhoi.data.synhoi import CaptionConfig, SynHOIConfig, generate, generate_captions
from weakhoi.errors import ConfigError
from weakhoi.pretrain import (CAPTIONS_NAME, CHECKPOINT_NAME, PROVENANCE_NAME, PretrainConfig, augment,
                              clip_forward, lr_at, pretrain_clip, prior_provenance, read_checkpoint_provenance,
                              tokenize_captions, write_prior)
from weakhoi.zero_shot import evaluate_zero_shot, image_level_ap, load_split_images, model_mean_std

ROOT = Path(__file__).resolve().parents[1]
#: Fast settings: 2000 captions, 100 steps (about two minutes on 2 cores; shorter runs or a higher
#: peak lr stay at the contrastive loss's chance level, log(batch)).
FAST = PretrainConfig(steps=100, batch_size=64, lr=5e-4, warmup_steps=20, low_res_fraction=0.3,
                      bn_recalibrate_batches=4)
FAST_CAPTIONS = CaptionConfig(num=2000)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def testset(tmp_path_factory):
    """A small SynHOI test split (its own rare split from 40 train images), images in memory."""
    d = tmp_path_factory.mktemp("synhoi")
    generate(SynHOIConfig(num_train=40, num_test=120), d)
    ds = load_dataset("synhoi", d / "instances_test.json", d / "images" / "test")
    images, labels = load_split_images(ds, 128)
    return ds.vocab, images, labels


@pytest.fixture(scope="module")
def trained():
    split = generate_captions(SynHOIConfig(), FAST_CAPTIONS, workers=2)
    return split, pretrain_clip(split.images, split.captions, FAST, progress=False)


# ------------------------------------------------------------------------------------------
# pieces
# ------------------------------------------------------------------------------------------
def test_short_context_matches_encode_text_and_pool_resampling_trains_the_table():
    net, tok, _ = load_clip(TINY_MODEL, None, seed=3)
    captions = ["a person riding a horse", "a ball kicked by a kid next to a bottle", "a cup"]
    tokens = tokenize_captions(tok, captions)
    assert tokens.shape == (3, len(tok(["a ball kicked by a kid next to a bottle"])[0].nonzero()))
    images = torch.rand(3, 3, 128, 128)
    with torch.no_grad():
        img_f, txt_f, scale = clip_forward(net, images, tokens)
        ref_t = net.encode_text(tok(captions), normalize=True)            # the full 77 tokens
        ref_i = net.encode_image(images, normalize=True)
    assert torch.allclose(txt_f, ref_t, atol=1e-5) and torch.allclose(img_f, ref_i, atol=1e-6)
    assert torch.isclose(scale, net.logit_scale.exp())
    net.train()
    img_f, _, _ = clip_forward(net, torch.rand(4, 3, 64, 64), tokens[:1].expand(4, -1))   # 2x2 grid
    img_f.sum().backward()
    assert img_f.shape == (4, 128)
    assert net.visual.attnpool.positional_embedding.grad.abs().sum() > 0


def test_augment_is_seeded_and_keeps_the_value_range():
    x = torch.randint(0, 256, (6, 3, 128, 128), dtype=torch.uint8)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    a = augment(x, 64, torch.Generator().manual_seed(1), 0.88, True, 0.15, mean, std)
    b = augment(x, 64, torch.Generator().manual_seed(1), 0.88, True, 0.15, mean, std)
    c = augment(x, 64, torch.Generator().manual_seed(2), 0.88, True, 0.15, mean, std)
    assert a.shape == (6, 3, 64, 64) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= (0 - 0.5) / 0.25 - 1e-5 and a.max() <= (1 - 0.5) / 0.25 + 1e-5
    ident = augment(x, 128, torch.Generator(), 1.0, False, 0.0, mean, std)   # no-op settings
    assert torch.allclose(ident, (x.float() / 255 - 0.5) / 0.25, atol=1e-4)


def test_lr_schedule_warms_up_then_decays_to_min_lr():
    cfg = PretrainConfig(steps=100, lr=1e-3, min_lr=1e-5, warmup_steps=10)
    lrs = [lr_at(s, cfg) for s in range(cfg.steps)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(1e-5, rel=0.05)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"pretrain\.steps"):
        PretrainConfig(steps=0).validate()
    with pytest.raises(ConfigError, match=r"pretrain\.crop_scale"):
        PretrainConfig(crop_scale=1.5).validate()
    with pytest.raises(ConfigError, match=r"pretrain\.flip"):
        PretrainConfig(flip="yes").validate()
    with pytest.raises(ConfigError, match="multiples of 32"):
        pretrain_clip([np.zeros((128, 128, 3), np.uint8)] * 4, ["a cup"] * 4,
                      PretrainConfig(steps=1, batch_size=2, low_res_size=48))


def test_image_level_ap_against_hand_computed_values():
    from weakhoi.data.synhoi import synhoi_vocabulary
    vocab = synhoi_vocabulary(rare=[1])
    labels = np.zeros((4, vocab.num_hois))
    labels[[0, 2], 0] = 1            # class 0: positives ranked 1st and 3rd -> AP (1 + 2/3) / 2
    labels[3, 1] = 1                 # class 1 (rare): positive ranked last -> AP 1/4
    scores = np.zeros((4, vocab.num_hois))
    scores[:, 0] = [0.9, 0.8, 0.7, 0.1]
    scores[:, 1] = [0.9, 0.8, 0.7, 0.1]
    r = image_level_ap(scores, labels, vocab)
    assert r["num_classes"] == 2 and r["num_rare"] == 1
    assert r["non_rare"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert r["rare"] == pytest.approx(25.0)
    assert r["chance"] == pytest.approx(100 * (0.5 + 0.25) / 2)
    assert np.isnan(r["per_class"][2])


# ------------------------------------------------------------------------------------------
# a fast run
# ------------------------------------------------------------------------------------------
def test_pretraining_beats_random_init_at_zero_shot(trained, testset):
    split, result = trained
    vocab, images, labels = testset
    losses = [h["loss"] for h in result.history]
    # clearly below the loss of embeddings that carry no information, log(batch) (a collapse)
    assert np.mean(losses[-5:]) < np.log(FAST.batch_size) - 0.3 < np.mean(losses[:5]), losses
    rand_net, tok, _ = load_clip(TINY_MODEL, None, seed=FAST.seed)
    rand = evaluate_zero_shot(rand_net, tok, vocab, images, labels)
    pre = evaluate_zero_shot(result.net, result.tokenizer, vocab, images, labels)
    assert pre["map"] >= rand["map"] + 5.0 and pre["map"] >= 1.5 * rand["map"], (pre, rand)
    assert pre["map"] >= 2.0 * pre["chance"], (pre, rand)
    assert pre["non_rare"] > rand["non_rare"]


def test_checkpoint_loads_like_a_real_local_checkpoint(trained, testset, tmp_path):
    split, result = trained
    vocab = testset[0]
    prov = prior_provenance({"pretrain": FAST.params()}, split, result)
    doc = write_prior(tmp_path / "prior", result, prov, split.captions)
    ckpt = tmp_path / "prior" / CHECKPOINT_NAME
    assert doc["checkpoint"] == {"file": CHECKPOINT_NAME, "sha256": _sha(ckpt)}
    net, tok, info = load_clip(TINY_MODEL, str(ckpt))
    assert info["random_init"] is False and info["pretrained_sha256"] == _sha(ckpt)
    want = result.net.state_dict()
    got = net.state_dict()
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    # a plain torch state dict (the other local checkpoint format) of the same weights loads
    # to the same model through the same path
    pt = tmp_path / "same.pt"
    torch.save(want, pt)
    net_pt, _, _ = load_clip(TINY_MODEL, str(pt))
    assert all(torch.equal(v, net_pt.state_dict()[k]) for k, v in got.items())
    # the knowledge bank built from it names the checkpoint and its hash
    kb = build_knowledge_bank(vocab, pretrained=str(ckpt))
    assert torch.allclose(kb.bank, encode_prompts(result.net, result.tokenizer, kb.prompts), atol=1e-6)
    write_knowledge_bank(tmp_path / "kb.h5", kb, {"pretrained": str(ckpt)})
    attrs = read_knowledge_bank(tmp_path / "kb.h5").attrs
    assert attrs["pretrained_file"] == str(ckpt) and attrs["pretrained_sha256"] == _sha(ckpt)
    # provenance: inside the checkpoint and beside it, no time stamps or commits
    inner = read_checkpoint_provenance(ckpt)
    beside = json.loads((tmp_path / "prior" / PROVENANCE_NAME).read_text())
    assert inner == {k: v for k, v in beside.items() if k != "checkpoint"} == json.loads(json.dumps(prov))
    assert inner["input_hashes"] == {"synhoi caption split (drawn in memory)": split.digest()}
    assert not {"created_utc", "git_commit", "time", "date"} & set(beside)
    assert (tmp_path / "prior" / CAPTIONS_NAME).read_text().splitlines() == split.captions


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path):
    split = generate_captions(SynHOIConfig(), CaptionConfig(num=40))
    cfg = PretrainConfig(steps=3, batch_size=16, warmup_steps=1, bn_recalibrate_batches=1)
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        res = pretrain_clip(split.images, split.captions, PretrainConfig(**{**cfg.params(), "seed": seed}),
                            progress=False)
        write_prior(tmp_path / name, res, prior_provenance({"pretrain": res.config.params()}, split, res))
    for f in (CHECKPOINT_NAME, PROVENANCE_NAME):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert _sha(tmp_path / "a" / CHECKPOINT_NAME) != _sha(tmp_path / "c" / CHECKPOINT_NAME)


# ------------------------------------------------------------------------------------------
# the stage
# ------------------------------------------------------------------------------------------
def _tiny_params(tmp: Path, **pretrain) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["pretrain"].update(steps=2, batch_size=8, warmup_steps=1, bn_recalibrate_batches=1, workers=1,
                              **pretrain)
    params["pretrain"]["captions"].update(num=16)
    p = tmp / "params.yaml"
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    return p


def test_stage_writes_a_reproducible_prior_and_curves(tmp_path):
    params = _tiny_params(tmp_path)
    out, live = tmp_path / "prior", tmp_path / "live"
    args = ["pretrain", "--out", str(out), "--curves", str(live), "--dataset", "synhoi", "--params", str(params)]
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted([CHECKPOINT_NAME, PROVENANCE_NAME, CAPTIONS_NAME,
                                                            OUTPUT_MARKER])
    prov = json.loads((out / PROVENANCE_NAME).read_text())
    assert prov["params"]["pretrain"]["steps"] == 2 and prov["params"]["pretrain"]["captions"]["num"] == 16
    assert set(prov["params"]["synhoi"]) >= {"min_size", "max_size", "noise_std"}
    metrics = json.loads((live / "metrics.json").read_text())
    assert metrics["step"] == 2 and set(metrics["pretrain"]) >= {"loss", "lr", "logit_scale"}
    assert len((live / "plots" / "metrics" / "pretrain" / "loss.tsv").read_text().splitlines()) == 3   # header + 2
    # another process, same params: the same bytes (no time stamps, no hash-seed dependence)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args2 = [sys.executable, "-m", "pipeline.cli", *args]
    args2[args2.index(str(out))] = str(tmp_path / "again")
    args2[args2.index(str(live))] = str(tmp_path / "live2")
    p = subprocess.run(args2, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    for f in (CHECKPOINT_NAME, PROVENANCE_NAME, CAPTIONS_NAME):
        assert (out / f).read_bytes() == (tmp_path / "again" / f).read_bytes(), f
    for f in live.rglob("*"):                          # curves: no wall-clock column either
        if f.is_file():
            assert f.read_bytes() == (tmp_path / "live2" / f.relative_to(live)).read_bytes(), f


def test_stage_is_a_cheap_marker_without_synhoi_or_when_disabled(tmp_path):
    for dataset, enabled in (("hicodet", "auto"), ("vcoco", "auto"), ("synhoi", False)):
        params = _tiny_params(tmp_path, enabled=enabled)
        out = tmp_path / f"prior_{dataset}"
        r = CliRunner().invoke(app, ["pretrain", "--out", str(out), "--curves", str(tmp_path / "live"),
                                     "--dataset", dataset, "--params", str(params)], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        assert sorted(p.name for p in out.iterdir()) == sorted([PROVENANCE_NAME, OUTPUT_MARKER])
        marker = json.loads((out / PROVENANCE_NAME).read_text())
        assert marker["enabled"] is False and marker["dataset"] == dataset
    # forced on for another dataset: trains
    params = _tiny_params(tmp_path, enabled=True)
    r = CliRunner().invoke(app, ["pretrain", "--out", str(tmp_path / "forced"), "--curves", str(tmp_path / "l"),
                                 "--dataset", "hicodet", "--params", str(params)], catch_exceptions=False)
    assert r.exit_code == 0 and (tmp_path / "forced" / CHECKPOINT_NAME).is_file()


def test_stage_bad_params_exit_2_naming_the_key(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    params = _tiny_params(tmp_path, enabled="sometimes")
    p = subprocess.run([sys.executable, "-m", "pipeline.cli", "pretrain", "--out", str(tmp_path / "o"),
                        "--curves", str(tmp_path / "l"), "--params", str(params)],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith("error: ") and "pretrain.enabled" in p.stderr, p.stderr
    for key, value, needle in (("lr", -1, r"params: pretrain\.lr"), ("bogus", 1, r"pretrain\.bogus"),
                               ("templates", ["{subject}"], None)):
        params = _tiny_params(tmp_path, **({key: value} if key != "templates" else {}))
        if key == "templates":
            doc = yaml.safe_load(params.read_text())
            doc["pretrain"]["captions"]["templates"] = value
            params.write_text(yaml.safe_dump(doc))
            needle = r"params: pretrain\.captions\.templates"
        with pytest.raises(ConfigError, match=needle):
            CliRunner().invoke(app, ["pretrain", "--out", str(tmp_path / "o"), "--curves", str(tmp_path / "l"),
                                     "--params", str(params)], catch_exceptions=False)
    assert not (tmp_path / "o").exists()
