"""The SynHOI caption split ("web data" for the CLIP prior): disjoint from train/test, no boxes,
a flat class distribution, captions built from the image content with the configured noise."""
from __future__ import annotations

import hashlib
import re
from dataclasses import fields, replace

import numpy as np
import pytest

from weakhoi.data.synhoi import (INTERACTION_RANKING, CaptionConfig, CaptionSplit, SynHOIConfig,
                                 generate_captions, generate_split, synhoi_vocabulary)
from weakhoi.data.synhoi.captions import (CAPTION_STREAM, NOISE_KINDS, VERB_FORMS, _caption_seed, caption_rngs,
                                          write_caption)
from weakhoi.data.synhoi.scene import SPLITS, _box_blur9, _split_seed
from weakhoi.errors import ConfigError

SCENE = SynHOIConfig()


@pytest.fixture(scope="module")
def split() -> CaptionSplit:
    return generate_captions(SCENE, CaptionConfig(num=240))


def _hashes(images) -> set[str]:
    return {hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest() for a in images}


def test_seed_stream_differs_from_train_and_test():
    for seed in (0, 1, 7):
        cap = _caption_seed(seed)
        assert list(cap.entropy) == [seed, CAPTION_STREAM, 0]
        for s in SPLITS:
            assert list(_split_seed(seed, s).entropy) != list(cap.entropy)
        # the first draws of image 0 differ from those of train/test image 0
        from weakhoi.data.synhoi import _image_rng
        first = caption_rngs(seed, 0)[0].random(4)
        for s in SPLITS:
            assert not np.allclose(first, _image_rng(seed, s, 0).random(4))


def test_no_caption_image_is_a_train_or_test_image(tmp_path, split):
    cfg = SynHOIConfig(num_train=60, num_test=30)
    seen = set()
    for s, num in (("train", cfg.num_train), ("test", cfg.num_test)):
        d = tmp_path / s
        d.mkdir()
        names, _ = generate_split(cfg, s, num, d)
        from PIL import Image
        seen |= _hashes([np.asarray(Image.open(d / n).convert("RGB")) for n in names])
    caps = _hashes(split.images)
    assert len(caps) == len(split)                       # no duplicate inside the split either
    assert not caps & seen


def test_captions_carry_no_boxes_or_labels(split):
    assert {f.name for f in fields(CaptionSplit)} == {"images", "captions", "hoi_counts", "noise"}
    assert len(split.images) == len(split.captions) == 240
    for img, cap in zip(split.images, split.captions):
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert 128 <= img.shape[0] <= 160 and 128 <= img.shape[1] <= 160
        assert isinstance(cap, str) and cap.strip() == cap and len(cap) > 3
        assert not re.search(r"[0-9\[\]{}]", cap), cap       # no coordinates, ids or placeholders


def test_every_class_is_reasonably_frequent(split):
    vocab = synhoi_vocabulary()
    counts = split.hoi_counts
    inter = np.array([vocab.hoi_index(vocab.verbs.index(v), vocab.objects.index(o)) for v, o in INTERACTION_RANKING])
    # the train split's weights fall by 0.75 per rank (the last class 240x rarer than the first);
    # here every interaction class is drawn equally often
    assert counts[inter].min() >= 0.5 * counts[inter].mean(), counts[inter]
    assert (counts > 0).all(), counts                     # no_interaction classes included


def test_captions_mention_the_interactions(split):
    verbs = [f for forms in VERB_FORMS.values() for form in forms for f in form]
    with_verb = [c for c in split.captions if any(re.search(rf"\b{re.escape(f)}\b", c.lower()) for f in verbs)]
    assert len(with_verb) >= 0.75 * len(split)
    assert split.noise["objects_only"] >= 1 and split.noise["with_context"] >= 1
    assert set(split.noise) == set(NOISE_KINDS)
    assert len(set(split.captions)) >= 0.9 * len(split)        # varied, not one template


def test_caption_content_and_noise_switches():
    plain = CaptionConfig(omit_interaction_rate=0, omit_object_rate=0, objects_only_rate=0, context_rate=0,
                          synonym_rate=0, typo_rate=0, templates=("{subject} {ing} {object}",),
                          prefixes=("",), suffixes=("",))
    rng = np.random.default_rng(0)
    noise = dict.fromkeys(NOISE_KINDS, 0)
    for _ in range(5):
        cap = write_caption(rng, plain, [("ride", "horse"), ("hold", "cup")], [], 0, ["horse", "cup"], [], noise)
        low = cap.lower()
        assert re.fullmatch(r"a person (riding a horse|holding a cup)\W.*a person (riding a horse|holding a cup)",
                            low) and "riding a horse" in low and "holding a cup" in low, cap
    objects_only = CaptionConfig(objects_only_rate=1.0, typo_rate=0, prefixes=("",), suffixes=("",), synonym_rate=0)
    cap = write_caption(rng, objects_only, [("kick", "ball")], [], 0, ["ball", "ball", "kite"], [], noise).lower()
    assert "kick" not in cap and "two balls" in cap and "a kite" in cap
    omit = CaptionConfig(omit_object_rate=1.0, objects_only_rate=0, typo_rate=0, synonym_rate=0, context_rate=0)
    cap = write_caption(rng, omit, [("lift", "box")], [], 0, ["box"], [], noise).lower()
    assert "box" not in cap and "something" in cap
    idle = replace(plain, context_rate=1.0, idle_templates=("{subject} and {object}",))
    cap = write_caption(rng, idle, [("kick", "ball")], ["kite"], 1, ["ball", "kite"], [], noise)
    assert "a person and a kite" in cap.lower() and "kicking a ball" in cap.lower()


def test_deterministic_and_independent_of_workers_and_caption_params():
    cfg = CaptionConfig(num=12)
    a = generate_captions(SCENE, cfg, workers=1, chunk=5)
    b = generate_captions(SCENE, cfg, workers=2, chunk=5)
    assert a.digest() == b.digest() and a.captions == b.captions
    other_text = generate_captions(SCENE, CaptionConfig(num=12, typo_rate=1.0, synonym_rate=1.0))
    assert all(np.array_equal(x, y) for x, y in zip(a.images, other_text.images))
    assert other_text.captions != a.captions
    other_seed = generate_captions(SCENE, CaptionConfig(num=12, seed=1))
    assert not _hashes(other_seed.images) & _hashes(a.images)
    longer = generate_captions(SCENE, CaptionConfig(num=14))            # image i does not depend on num
    assert longer.captions[:12] == a.captions


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"pretrain\.captions\.num"):
        CaptionConfig.from_mapping({"num": 0}, "pretrain.captions")
    with pytest.raises(ConfigError, match=r"unknown key pretrain\.captions\.bogus"):
        CaptionConfig.from_mapping({"bogus": 1}, "pretrain.captions")
    with pytest.raises(ConfigError, match=r"pretrain\.captions\.templates.*\{object\}"):
        CaptionConfig.from_mapping({"templates": ["{subject} rides"]}, "pretrain.captions")
    with pytest.raises(ConfigError, match=r"unknown placeholders \['colour'\]"):
        CaptionConfig.from_mapping({"templates": ["{subject} {ing} {colour} {object}"]}, "pretrain.captions")
    with pytest.raises(ConfigError, match=r"pretrain\.captions\.typo_rate"):
        CaptionConfig.from_mapping({"typo_rate": 2}, "pretrain.captions")
    with pytest.raises(ConfigError, match=r"pretrain\.captions\.prefixes"):
        CaptionConfig.from_mapping({"prefixes": "a photo of "}, "pretrain.captions")
    assert CaptionConfig.from_mapping({"templates": ["{object} {pp} by {subject}"]}).templates == \
        ("{object} {pp} by {subject}",)


def test_box_blur_is_bit_identical_to_np_convolve():
    """The vectorised background blur (it makes SynHOI and the caption split faster) gives
    exactly the bytes of the per-line ``np.convolve`` it replaced."""
    k = np.ones(9) / 9.0
    rng = np.random.default_rng(3)
    for h, w in ((128, 160), (97, 131), (160, 96)):      # lines >= 9 long (sides >= 96)
        a = rng.normal(0, 18, size=(h, w, 3))
        for axis in (0, 1):
            ref = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), axis, a)
            assert np.array_equal(_box_blur9(a, axis), ref)
