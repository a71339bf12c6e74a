"""The network (paper §3.2): the exact fast RoI attention pool, shapes, switches, gradient
routing and the model artifact."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from open_clip.modified_resnet import AttentionPool2d
from torchvision.ops import roi_align

from weakhoi.model.config import BackboneConfig, LossConfig, ModelConfig
from weakhoi.model.network import build_model, union_boxes, verb_prompt_weights
from weakhoi.model.roi_pool import (global_attention_pool, interpolate_positional_embedding,
                                    roi_align_matrices, roi_attention_pool)


def random_boxes(n: int, width: float, height: float, gen: torch.Generator) -> torch.Tensor:
    """[n, 4] valid xyxy boxes inside (and some beyond) a width x height image."""
    a = torch.rand(n, 4, generator=gen, dtype=torch.float64) * torch.tensor([width, height] * 2)
    return torch.stack([torch.minimum(a[:, 0], a[:, 2]), torch.minimum(a[:, 1], a[:, 3]),
                        torch.maximum(a[:, 0], a[:, 2]), torch.maximum(a[:, 1], a[:, 3])], 1)


EDGE_BOXES = [[-40.0, -20.0, 30.0, 50.0],     # partly outside the image (top-left)
              [250.0, 200.0, 600.0, 900.0],   # beyond the bottom-right edge
              [10.0, 10.0, 10.0, 10.0],       # zero-size
              [0.0, 0.0, 320.0, 256.0],       # the whole image
              [3.0, 100.0, 4.5, 240.0]]       # thinner than a feature cell


# --------------------------------------------------------------------------- RoI pooling

@pytest.mark.parametrize("sampling_ratio", [2, 1, 0])
def test_interpolation_matrices_reproduce_torchvision_roi_align(sampling_ratio):
    gen = torch.Generator().manual_seed(0)
    C, H, W = 5, 8, 10
    feat = torch.randn(C, H, W, generator=gen, dtype=torch.float64)
    boxes = torch.cat([random_boxes(30, W * 32, H * 32, gen), torch.tensor(EDGE_BOXES, dtype=torch.float64)])
    ref = roi_align(feat[None], [boxes], 7, 1 / 32, sampling_ratio, aligned=True)   # [R, C, 7, 7]
    ay, ax = roi_align_matrices(boxes, H, W, 7, 1 / 32, sampling_ratio)
    ours = torch.einsum("riy,rjx,cyx->rcij", ay, ax, feat)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("sampling_ratio", [2, 0])
def test_fast_roi_attention_pool_equals_roi_align_then_clip_pool(sampling_ratio):
    """Forward and gradients (feature map and every pool parameter) to 1e-5, float32, against
    torchvision's roi_align(aligned=True) followed by open_clip's AttentionPool2d.forward."""
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    C, H, W, heads, D = 128, 8, 10, 8, 64
    pool = AttentionPool2d(7, C, heads, D)
    feat = torch.randn(C, H, W, generator=gen).requires_grad_(True)
    boxes = torch.cat([random_boxes(40, W * 32, H * 32, gen),
                       torch.tensor(EDGE_BOXES, dtype=torch.float64)]).float()
    crops = roi_align(feat[None], [boxes], 7, 1 / 32, sampling_ratio, aligned=True)
    ref = pool(crops)                                                  # open_clip's own forward
    ours = roi_attention_pool(pool, feat, boxes, 1 / 32, 7, sampling_ratio)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    weights = torch.randn(ref.shape, generator=gen)
    params = [feat, *pool.parameters()]
    g_ref = torch.autograd.grad((ref * weights).sum(), params)
    g_ours = torch.autograd.grad((ours * weights).sum(), params)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_batched_roi_pool_equals_one_image_at_a_time():
    """Several images with different RoI counts (one with none) in one call."""
    gen = torch.Generator().manual_seed(6)
    pool = AttentionPool2d(4, 64, 4, 32)
    feat = torch.randn(3, 64, 5, 6, generator=gen)
    counts = [4, 0, 7]
    boxes = [random_boxes(n, 6 * 32, 5 * 32, gen).float() for n in counts]
    ours = roi_attention_pool(pool, feat, torch.cat(boxes), 1 / 32, 4, 2, counts)
    ref = torch.cat([roi_attention_pool(pool, feat[i], boxes[i], 1 / 32, 4, 2) for i in range(3)])
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_roi_pool_on_a_grid_other_than_the_pools_interpolates_positions():
    gen = torch.Generator().manual_seed(2)
    pool = AttentionPool2d(4, 64, 4, 32)
    feat = torch.randn(64, 6, 6, generator=gen)
    boxes = random_boxes(12, 192, 192, gen).float()
    ours = roi_attention_pool(pool, feat, boxes, 1 / 32, 7, 2)         # 7x7 crops, 4x4 pool
    crops = roi_align(feat[None], [boxes], 7, 1 / 32, 2, aligned=True)
    torch.testing.assert_close(ours, global_attention_pool(pool, crops), atol=1e-5, rtol=1e-5)
    assert roi_attention_pool(pool, feat, torch.zeros(0, 4), 1 / 32, 4).shape == (0, 32)


def test_global_pool_equals_open_clip_and_interpolates_positional_embedding():
    gen = torch.Generator().manual_seed(3)
    pool = AttentionPool2d(7, 64, 4, 32)
    x = torch.randn(3, 64, 7, 7, generator=gen)
    torch.testing.assert_close(global_attention_pool(pool, x), pool(x), atol=1e-5, rtol=1e-5)
    pos = interpolate_positional_embedding(pool.positional_embedding, 7, 7)
    assert pos is pool.positional_embedding                           # native grid: untouched
    pos = interpolate_positional_embedding(pool.positional_embedding, 5, 9)
    assert pos.shape == (1 + 45, 64)
    torch.testing.assert_close(pos[0], pool.positional_embedding[0])   # mean-token row kept
    assert global_attention_pool(pool, torch.randn(2, 64, 5, 9, generator=gen)).shape == (2, 32)


@pytest.mark.parametrize("grid", [(7, 7), (5, 9)])
def test_global_pool_from_shared_projections_equals_the_plain_pool(grid):
    """The network projects each map once (k, v) for v_g and all RoIs; projecting the native
    positional embedding and then interpolating equals interpolating and then projecting."""
    from weakhoi.model.roi_pool import PoolMaps, global_pool_from_maps

    gen = torch.Generator().manual_seed(4)
    pool = AttentionPool2d(7, 64, 4, 32)
    x = torch.randn(2, 64, *grid, generator=gen, requires_grad=True)
    ref = global_attention_pool(pool, x)
    ours = global_pool_from_maps(PoolMaps(pool, x))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    g1 = torch.autograd.grad(ref.sum(), [x, pool.positional_embedding])
    g2 = torch.autograd.grad(ours.sum(), [x, pool.positional_embedding])
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- the network

def tiny_config(**kw) -> ModelConfig:
    kw.setdefault("backbone", BackboneConfig(model="weakhoi-tiny-rn", seed=0))
    return ModelConfig(num_hois=6, num_verbs=3, num_objects=4, embed_dim=128, **kw)


HOI_VERB = torch.tensor([0, 1, 2, 0, 1, 2])
HOI_OBJECT = torch.tensor([1, 1, 2, 2, 3, 3])


def bank(n=6, d=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)


def toy_inputs(size=128):
    g = torch.Generator().manual_seed(5)
    images = torch.rand(2, 3, size, size, generator=g)
    boxes = torch.tensor([[4, 8, 60, 120], [50, 30, 100, 90], [70, 70, 120, 126],        # image 0
                          [10, 10, 64, 100], [60, 40, 120, 110]], dtype=torch.float32)  # image 1
    inputs = {"images": images, "boxes": boxes * size / 128, "box_counts": [3, 2],
              "human": torch.tensor([0, 0, 3]), "object": torch.tensor([1, 2, 4]),
              "pair_counts": [2, 1], "spatial": torch.randn(3, 36, generator=g)}
    targets = {"hoi": torch.tensor([[0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0]], dtype=torch.float32),
               "verb": torch.tensor([[0, 1, 0], [0, 1, 0]], dtype=torch.float32),
               "object": torch.tensor([[0, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.float32),
               "pair_object": torch.tensor([1, 2, 3])}
    return inputs, targets


def test_forward_shapes_tiny():
    net = build_model(tiny_config(), bank(), HOI_VERB, HOI_OBJECT)
    inputs, _ = toy_inputs(160)                     # 5x5 map: positional embedding interpolated
    out = net(**inputs)
    assert out["s_g"].shape == (2, 6) and out["v_g"].shape == (2, 128)
    assert out["s_p"].shape == (3, 3) and out["s_b"].shape == (3,) and out["v_p"].shape == (3, 128)
    assert all(torch.isfinite(out[k]).all() for k in ("s_g", "s_p", "s_b"))
    # no pairs at all: empty bag, still a global score
    empty = dict(inputs, human=torch.zeros(0, dtype=torch.long), object=torch.zeros(0, dtype=torch.long),
                 pair_counts=[0, 0], spatial=torch.zeros(0, 36))
    out = net(**empty)
    assert out["s_p"].shape == (0, 3) and out["s_g"].shape == (2, 6)


@pytest.mark.slow
def test_forward_shapes_rn50_random_init():
    cfg = ModelConfig(num_hois=6, num_verbs=3, num_objects=4, embed_dim=1024,
                      backbone=BackboneConfig(model="RN50", seed=0))
    net = build_model(cfg, bank(6, 1024), HOI_VERB, HOI_OBJECT)
    assert net.backbone.feature_dim == 2048 and net.roi_size == 7
    inputs, _ = toy_inputs(128)
    with torch.no_grad():
        out = net(**inputs)
    assert out["s_g"].shape == (2, 6) and out["s_p"].shape == (3, 3) and out["v_g"].shape == (2, 1024)


def test_same_seed_same_initial_weights_and_outputs():
    a = build_model(tiny_config(), bank(), HOI_VERB, HOI_OBJECT)
    b = build_model(tiny_config(), bank(), HOI_VERB, HOI_OBJECT)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    c = build_model(tiny_config(backbone=BackboneConfig(seed=1)), bank(), HOI_VERB, HOI_OBJECT)
    assert not torch.equal(a.pair_embed.layers[0].weight, c.pair_embed.layers[0].weight)


def _grads(cfg: ModelConfig, loss_cfg: LossConfig = LossConfig()) -> tuple[torch.nn.Module, dict]:
    from weakhoi.losses import WeakHOICriterion

    net = build_model(cfg, bank(), HOI_VERB, HOI_OBJECT)
    inputs, targets = toy_inputs()
    losses = WeakHOICriterion(loss_cfg)(net(**inputs), targets, iteration=10)
    losses["loss"].backward()
    return net, {n: p.grad for n, p in net.named_parameters()}


def _nonzero(g) -> bool:
    return g is not None and bool(g.abs().sum() > 0)


def test_gradients_reach_exactly_what_each_switch_enables():
    # full model: the bank learns through L_g only
    net, g = _grads(tiny_config())
    assert _nonzero(g["bank"])
    assert _nonzero(g["backbone.trunk.stem.conv1.weight"]) and _nonzero(g["ktn.fk.layers.0.weight"])
    assert _nonzero(g["relatedness_head.layers.0.weight"]) and _nonzero(g["verb_head.layers.0.weight"])
    # the local branch never trains the bank: without HOI recognition it gets nothing
    net, g = _grads(tiny_config(hoi_recognition=False))
    assert "global_head.log_scale" not in g
    assert not _nonzero(g["bank"])
    assert _nonzero(g["ktn.log_scale"])            # KTN attention still learns its temperature
    # frozen bank (Exp 2): no gradient at all
    net, g = _grads(tiny_config(bank_trainable=False))
    assert not net.bank.requires_grad and g["bank"] is None
    # SRC off: the relatedness head gets no gradient
    net, g = _grads(tiny_config(), LossConfig(src=False))
    assert not _nonzero(g["relatedness_head.layers.0.weight"])
    # during the SRC warm-up neither
    net, g = _grads(tiny_config(), LossConfig(src_warmup=100))
    assert not _nonzero(g["relatedness_head.layers.0.weight"])


@pytest.mark.parametrize("mode", ["none", "softmax", "uniform", "sigmoid", "union"])
def test_ktn_variants(mode):
    net = build_model(tiny_config(ktn=mode), bank(), HOI_VERB, HOI_OBJECT)
    inputs, _ = toy_inputs()
    out = net(**inputs)
    assert out["s_p"].shape == (3, 3)
    assert (net.ktn.fk is None) == (mode == "none")
    assert (net.ktn.log_scale is not None) == (mode in ("softmax", "sigmoid"))
    if mode in ("softmax", "uniform", "sigmoid"):
        v_u = torch.randn(4, 128, generator=torch.Generator().manual_seed(0))
        alpha = net.ktn.attention(v_u, net.bank.detach())
        if mode == "sigmoid":                            # element-wise in (0, 1), scaled by 1/N
            assert torch.all(alpha > 0) and torch.all(alpha <= 1 / 6) and alpha.sum(1).max() < 1
        else:
            torch.testing.assert_close(alpha.sum(1), torch.ones(4))
        if mode == "uniform":
            torch.testing.assert_close(alpha, torch.full((4, 6), 1 / 6))
    if mode == "none":                                   # baseline: v̂_p = v_p
        v_p = torch.randn(3, 128)
        assert torch.equal(net.ktn(v_p, torch.randn(3, 128), net.bank), v_p)


def test_prompt_initialised_verb_classifier():
    b = bank()
    net = build_model(tiny_config(fp_init="prompts"), b, HOI_VERB, HOI_OBJECT)
    expect = torch.stack([(b[0] + b[3]) / 2, (b[1] + b[4]) / 2, (b[2] + b[5]) / 2])
    torch.testing.assert_close(net.verb_head.weight.detach(), expect)
    torch.testing.assert_close(verb_prompt_weights(b, HOI_VERB, 3), expect)


def test_batchnorm_policy():
    from torchvision.ops.misc import FrozenBatchNorm2d

    from weakhoi.model.backbone import FrozenStatsBatchNorm2d

    frozen = build_model(tiny_config(), bank(), HOI_VERB, HOI_OBJECT)
    kinds = {type(m) for m in frozen.backbone.trunk.modules()}
    assert FrozenBatchNorm2d in kinds and torch.nn.BatchNorm2d not in kinds
    # frozen: a random-init residual branch (its last BN has scale 0) gets no gradient ...
    net, g = _grads(tiny_config())
    assert not _nonzero(g["backbone.trunk.layer4.0.conv1.weight"])
    # ... frozen_stats trains the BN affine, so the branch learns; statistics stay put
    cfg = tiny_config(backbone=BackboneConfig(batchnorm="frozen_stats"))
    net, g = _grads(cfg)
    bn = net.backbone.trunk.layer4[0].bn3
    assert isinstance(bn, FrozenStatsBatchNorm2d) and _nonzero(g["backbone.trunk.layer4.0.bn3.weight"])
    stats = bn.running_mean.clone()
    net.train()(**toy_inputs()[0])
    assert torch.equal(bn.running_mean, stats)
    trained = build_model(tiny_config(backbone=BackboneConfig(batchnorm="train")), bank(), HOI_VERB, HOI_OBJECT)
    bn = next(m for m in trained.backbone.trunk.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    trained.train()(**toy_inputs()[0])
    assert not torch.equal(bn.running_mean, before)


def test_union_boxes():
    u = union_boxes(torch.tensor([[0.0, 5, 10, 20]]), torch.tensor([[4.0, 1, 30, 8]]))
    assert u.tolist() == [[0.0, 1.0, 30.0, 20.0]]


def test_frcnn_backbone_from_local_weights(tmp_path):
    """Exp 8: the ResNet-50 body of torchvision's Faster R-CNN, from a local state dict."""
    import torchvision

    from weakhoi.errors import AssetMissingError

    det = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    path = tmp_path / "frcnn.pth"
    torch.save(det.state_dict(), path)
    cfg = ModelConfig(num_hois=6, num_verbs=3, num_objects=4, embed_dim=128,
                      backbone=BackboneConfig(kind="frcnn", frcnn_weights=str(path), frcnn_heads=8))
    net = build_model(cfg, bank(), HOI_VERB, HOI_OBJECT)
    body = dict(det.backbone.body.named_parameters())
    body.update(dict(det.backbone.body.named_buffers()))
    trunk = net.backbone.trunk.state_dict()
    assert torch.equal(trunk["layer3.2.conv2.weight"], body["layer3.2.conv2.weight"])
    assert torch.equal(trunk["bn1.running_var"], body["bn1.running_var"])
    with torch.no_grad():
        out = net(**toy_inputs()[0])
    assert out["s_g"].shape == (2, 6)
    missing = BackboneConfig(kind="frcnn", frcnn_weights=str(tmp_path / "nope.pth"))
    with pytest.raises(AssetMissingError, match="nope.pth"):
        build_model(ModelConfig(6, 3, 4, 128, backbone=missing), bank(), HOI_VERB, HOI_OBJECT)


def test_model_artifact_roundtrip(tmp_path):
    from weakhoi.artifacts import open_artifact
    from weakhoi.model.io import load_model, write_model

    net = build_model(tiny_config(ktn="sigmoid"), bank(), HOI_VERB, HOI_OBJECT).eval()
    path = tmp_path / "model.h5"
    write_model(path, net, params={"seed": 0}, extra={"note": "test"})
    loaded, attrs = load_model(path)
    assert loaded.cfg == net.cfg and attrs["note"] == "test"
    inputs, _ = toy_inputs()
    with torch.no_grad():
        a, b = net(**inputs), loaded(**inputs)
    for k in ("s_g", "s_p", "s_b"):
        assert torch.equal(a[k], b[k]), k
    with open_artifact(path, "model") as art:
        assert art.attrs["artifact_type"] == "model"


@pytest.mark.parametrize("which", ["hicodet", "vcoco"])
def test_vocabulary_survives_the_model_artifact(which):
    from weakhoi.data.vcoco import vcoco_vocabulary
    from weakhoi.model.io import vocabulary_from_dict, vocabulary_to_dict
    from weakhoi.vocab import hicodet_vocabulary

    v = hicodet_vocabulary() if which == "hicodet" else vcoco_vocabulary({"hold_obj": ["cup"], "cut_instr": [48]})
    import json

    w = vocabulary_from_dict(json.loads(json.dumps(vocabulary_to_dict(v))))
    assert (w.objects, w.verbs, w.hoi_roles, w.verb_phrases, w.name) == \
        (v.objects, v.verbs, v.hoi_roles, v.verb_phrases, v.name)
    assert (w.hoi_verb == v.hoi_verb).all() and (w.hoi_object == v.hoi_object).all()
    assert (w.rare == v.rare).all() and w.prompts() == v.prompts()


def test_config_validation():
    from weakhoi.errors import ConfigError

    with pytest.raises(ConfigError, match="model.ktn"):
        tiny_config(ktn="attention")
    with pytest.raises(ConfigError, match="frcnn_weights"):
        BackboneConfig(kind="frcnn")
    with pytest.raises(ConfigError, match="loss.top_k"):
        LossConfig(top_k=0)
    cfg = tiny_config(ktn="union", spatial_hidden=(64,))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert math.isclose(cfg.prior_prob, 0.01) and np.isfinite(cfg.global_bias_init)
