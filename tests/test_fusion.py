"""Score fusion (paper §3.2.5) on hand-built tensors; expected values are computed here with
plain Python math, independently of weakhoi.fusion."""
from __future__ import annotations

import math

import pytest
import torch

from weakhoi.fusion import FusionConfig, fuse_image, fuse_scores


def f64(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# 3 verbs x 2 objects; valid classes: (v0, o0) -> 0, (v1, o0) -> 1, (v1, o1) -> 2, (v2, o1) -> 3
TABLE = torch.tensor([[0, -1], [1, 2], [-1, 3]])
S = [[1.0, 2.0, 0.5],          # pair 0, object class 0: verbs 0, 1 valid
     [0.0, -1.0, 3.0],         # pair 1, object class 1: verbs 1, 2 valid
     [-2.0, 0.5, 1.0]]         # pair 2, object class 0
OBJ = [0, 1, 0]
S_G = [0.3, -1.2, 2.0, 0.7]
S_B = [1.5, -0.5, 0.0]
S_H = [0.9, 0.8, 0.6]
S_O = [0.7, 0.5, 0.95]
VALID = {0: (0, 1), 1: (1, 2), 2: (0, 1)}      # pair -> valid verbs
HOI = {(0, 0): 0, (0, 1): 1, (1, 1): 2, (1, 2): 3, (2, 0): 0, (2, 1): 1}


def run(cfg: FusionConfig, s_clip=None, pairs=(0, 1, 2)) -> dict[tuple[int, int], float]:
    idx = list(pairs)
    out = fuse_image(f64(S_G), f64([S[i] for i in idx]), f64([S_B[i] for i in idx]),
                     f64([S_H[i] for i in idx]), f64([S_O[i] for i in idx]),
                     torch.tensor([OBJ[i] for i in idx]), TABLE, cfg,
                     None if s_clip is None else f64([s_clip[i] for i in idx]))
    assert out.pair.dtype == torch.int64 and out.hoi.dtype == torch.int64 and out.score.dtype == torch.float64
    return {(idx[int(p)], int(h)): float(s) for p, h, s in zip(out.pair, out.hoi, out.score)}


def e_p(pair: int, verb: int, pairs=(0, 1, 2)) -> float:
    col = [S[m][verb] for m in pairs]
    return sig(max(col)) * math.exp(S[pair][verb]) / sum(math.exp(c) for c in col)


def expected(pair: int, verb: int, gamma=2.8, glob=True, rel=True, softmax=True, pairs=(0, 1, 2)) -> float:
    e = e_p(pair, verb, pairs) if softmax else sig(S[pair][verb])
    s = e * (sig(S_G[HOI[(pair, verb)]]) if glob else 1.0) * (sig(S_B[pair]) if rel else 1.0)
    return (S_H[pair] * S_O[pair]) ** gamma * s


def test_full_fusion_matches_the_formula_and_masks_invalid_classes():
    got = run(FusionConfig())
    want = {(p, HOI[(p, v)]): expected(p, v) for p, verbs in VALID.items() for v in verbs}
    assert set(got) == set(want)                   # (v2, o0), (v0, o1) never scored
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12)


def test_softmax_runs_over_the_pairs_of_the_image():
    cfg = FusionConfig(gamma=0.0, use_global=False, use_relatedness=False)
    got = run(cfg)
    # verb 1 is valid for all three pairs: the normalised scores sum to sigma(max_m S[:, 1])
    assert sum(got[(p, HOI[(p, 1)])] for p in range(3)) == pytest.approx(sig(2.0), rel=1e-12)
    # the softmax includes pairs whose object cannot take the verb: pair 1 (object 1) still
    # takes part in the normalisation of verb 0
    assert got[(0, 0)] == pytest.approx(sig(1.0) * math.exp(1.0) / (math.exp(1.0) + 1.0 + math.exp(-2.0)))
    # with pair 2 alone, e_p = sigma(s_p)
    alone = run(cfg, pairs=(2,))
    assert alone[(2, 0)] == pytest.approx(sig(-2.0)) and alone[(2, 1)] == pytest.approx(sig(0.5))


def test_gamma_exponent():
    base = run(FusionConfig(gamma=0.0))
    for gamma in (1.0, 2.8):
        got = run(FusionConfig(gamma=gamma))
        for (p, h), value in got.items():
            assert value == pytest.approx(base[(p, h)] * (S_H[p] * S_O[p]) ** gamma, rel=1e-12)


@pytest.mark.parametrize("switch", ["use_global", "use_relatedness", "pair_softmax"])
def test_each_switch(switch):
    kw = {"use_global": True, "use_relatedness": True, "pair_softmax": True, switch: False}
    got = run(FusionConfig(**kw))
    for p, verbs in VALID.items():
        for v in verbs:
            want = expected(p, v, glob=kw["use_global"], rel=kw["use_relatedness"], softmax=kw["pair_softmax"])
            assert got[(p, HOI[(p, v)])] == pytest.approx(want, rel=1e-12)
    # and the switch changes something
    assert got != run(FusionConfig())


def test_clip_only_and_fuse():
    clip = [[2.0, -1.0, 9.0], [9.0, 0.5, 1.5], [0.0, 0.0, 9.0]]   # 9.0 sit on invalid classes
    only = run(FusionConfig(clip="only"), s_clip=clip)
    fuse = run(FusionConfig(clip="fuse"), s_clip=clip)
    for p, verbs in VALID.items():
        z = sum(math.exp(clip[p][u]) for u in verbs)                # softmax over valid classes only
        for v in verbs:
            prob = math.exp(clip[p][v]) / z
            det = (S_H[p] * S_O[p]) ** 2.8
            assert only[(p, HOI[(p, v)])] == pytest.approx(det * prob, rel=1e-12)
            assert fuse[(p, HOI[(p, v)])] == pytest.approx(expected(p, v) * prob, rel=1e-12)
    with pytest.raises(ValueError, match="needs CLIP scores"):
        run(FusionConfig(clip="fuse"))


def test_empty_image_and_pairs_without_valid_class():
    t = torch.zeros
    out = fuse_image(f64(S_G), t((0, 3)), t(0), t(0), t(0), t(0, dtype=torch.int64), TABLE, FusionConfig())
    assert [x.numel() for x in out] == [0, 0, 0]
    # an object class without any valid verb gives nothing (and no NaN)
    table = torch.tensor([[0, -1], [1, -1], [-1, -1]])
    out = fuse_image(f64(S_G[:2]), f64(S[:2]), f64(S_B[:2]), f64(S_H[:2]),
                     f64(S_O[:2]), torch.tensor([1, 1]), table, FusionConfig(clip="only"),
                     f64(S[:2]))
    assert out.pair.numel() == 0


def test_order_ties_and_top_k():
    # all scores equal: order is (pair, verb); the cap keeps the first entries in that order
    cfg = FusionConfig(gamma=0.0, use_global=False, use_relatedness=False, pair_softmax=False)
    S2 = torch.zeros((3, 3))
    args = (torch.zeros(4), S2, torch.zeros(3), torch.ones(3), torch.ones(3), torch.tensor(OBJ), TABLE)
    out = fuse_image(*args, cfg)
    assert list(zip(out.pair.tolist(), out.hoi.tolist())) == [(0, 0), (0, 1), (1, 2), (1, 3), (2, 0), (2, 1)]
    capped = fuse_image(*args, FusionConfig(gamma=0.0, use_global=False, use_relatedness=False,
                                            pair_softmax=False, max_per_image=4))
    assert list(zip(capped.pair.tolist(), capped.hoi.tolist())) == [(0, 0), (0, 1), (1, 2), (1, 3)]
    # otherwise by score, descending; the cap keeps the highest
    got = run(FusionConfig())
    top2 = sorted(got.values(), reverse=True)[:2]
    out = fuse_image(f64(S_G), f64(S), f64(S_B), f64(S_H), f64(S_O),
                     torch.tensor(OBJ), TABLE, FusionConfig(max_per_image=2))
    assert out.score.tolist() == pytest.approx(top2, rel=1e-12)


def test_batched_images_are_independent():
    """Two images in one call: each image's softmax and cap use only its own pairs."""
    cfg = FusionConfig(max_per_image=3)
    sg = f64([S_G, [-0.5, 0.5, 1.0, -2.0]])
    pair_image = torch.tensor([0, 0, 1, 1, 1])
    sp = f64([S[0], S[1], S[2], S[0], S[1]])
    sb, sh, so = (f64([x[0], x[1], x[2], x[0], x[1]]) for x in (S_B, S_H, S_O))
    obj = torch.tensor([OBJ[0], OBJ[1], OBJ[2], OBJ[0], OBJ[1]])
    out = fuse_scores(sg, pair_image, sp, sb, sh, so, obj, TABLE, cfg)
    first = fuse_image(sg[0], sp[:2], sb[:2], sh[:2], so[:2], obj[:2], TABLE, cfg)
    second = fuse_image(sg[1], sp[2:], sb[2:], sh[2:], so[2:], obj[2:], TABLE, cfg)
    assert out.pair.tolist() == first.pair.tolist() + (second.pair + 2).tolist()
    assert out.hoi.tolist() == first.hoi.tolist() + second.hoi.tolist()
    assert out.score.tolist() == first.score.tolist() + second.score.tolist()
    # the first image alone, hand-computed (pairs 0 and 1 only in the softmax)
    want = sorted((expected(p, v, pairs=(0, 1)) for p in (0, 1) for v in VALID[p]), reverse=True)[:3]
    assert first.score.tolist() == pytest.approx(want, rel=1e-12)


def test_config_validation():
    for bad in ({"gamma": -1.0}, {"gamma": float("inf")}, {"gamma": True}, {"clip": "maybe"},
                {"use_global": 1}, {"max_per_image": -1}, {"max_per_image": 2.5}):
        with pytest.raises(ValueError):
            FusionConfig(**bad)
