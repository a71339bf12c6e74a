"""Visual backbone: a trunk giving the feature map Γ at stride 32 and a CLIP attention pool.

* ``clip``: the ModifiedResNet visual tower of an open_clip CLIP (RN50, RN101,
  weakhoi-tiny-rn), loaded through :func:`weakhoi.clip.load_clip` (tag, local checkpoint or
  seeded random init); its text tower is dropped (the knowledge bank comes from the ``encode``
  artifact). Γ = ``layer4`` output, the pool is the tower's own ``attnpool``.
* ``frcnn`` (paper Exp 8): torchvision's ResNet-50 body of the COCO Faster R-CNN R50-FPN,
  weights read from a local checkpoint (``backbone.body.*`` keys), and a freshly initialised
  open_clip ``AttentionPool2d`` (7x7 grid, CLIP's initialisation) projecting 2048 -> D.

BatchNorm: ``frozen`` turns every BatchNorm2d into torchvision's ``FrozenBatchNorm2d``
(statistics and affine fixed, as detection codebases do with small per-GPU batches; it also
makes a DDP run equal to one process with the same global batch); ``frozen_stats`` keeps the
running statistics fixed but trains the affine scale and shift (also batch-independent, so DDP
equals one process; needed for a randomly initialised CLIP ResNet, whose residual branches end
in a BatchNorm with scale 0 that ``frozen`` would never let learn); ``train`` normalises with
batch statistics and updates them.
Images enter as [B, 3, S, S] in [0, 1] (or uint8 0..255) and are normalised here with the
backbone's own mean / std.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import AssetMissingError, ConfigError
from .config import BackboneConfig

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STRIDE = 32


class Backbone(nn.Module):
    """``trunk`` images -> Γ [B, C, S/32, S/32]; ``attnpool`` the CLIP attention pool (C -> D)."""

    def __init__(self, trunk: nn.Module, attnpool: nn.Module, mean: tuple[float, ...],
                 std: tuple[float, ...], info: dict[str, Any]) -> None:
        super().__init__()
        self.trunk = trunk
        self.attnpool = attnpool
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.info = dict(info)
        self.stride = STRIDE
        self.feature_dim = int(attnpool.k_proj.in_features)     # C
        self.embed_dim = int(attnpool.c_proj.out_features)      # D
        side = int(round((attnpool.positional_embedding.shape[0] - 1) ** 0.5))
        self.grid = side                                        # the pool's native grid

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] uint8 or float in [0, 1] -> Γ [B, C, S/32, S/32]."""
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        # channels_last: ~17 % faster convolutions on CPU (bench), and the NHWC layout GPUs use
        return self.trunk(x.contiguous(memory_format=torch.channels_last))


class _CLIPTrunk(nn.Module):
    """ModifiedResNet up to layer4 (its attnpool is held by the Backbone, not called here)."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.stem = _Stem(visual)
        self.layer1, self.layer2 = visual.layer1, visual.layer2
        self.layer3, self.layer4 = visual.layer3, visual.layer4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)                                        # [B, w, S/4, S/4]
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))   # [B, 32w, S/32, S/32]


class _Stem(nn.Module):
    def __init__(self, v: nn.Module) -> None:
        super().__init__()
        self.conv1, self.bn1, self.act1 = v.conv1, v.bn1, v.act1
        self.conv2, self.bn2, self.act2 = v.conv2, v.bn2, v.act2
        self.conv3, self.bn3, self.act3 = v.conv3, v.bn3, v.act3
        self.avgpool = v.avgpool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.act3(self.bn3(self.conv3(x)))
        return self.avgpool(x)


class _TorchvisionTrunk(nn.Module):
    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))    # [B, 64, S/4, S/4]
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))   # [B, 2048, S/32, S/32]


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Every BatchNorm2d / SyncBatchNorm of ``module`` becomes a FrozenBatchNorm2d (in place)."""
    from open_clip.utils import freeze_batch_norm_2d

    return freeze_batch_norm_2d(module)


class FrozenStatsBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that always normalises with its running statistics (never updates them)
    while its affine weight and bias stay trainable."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight,
                                        self.bias, False, 0.0, self.eps)


def freeze_batchnorm_stats(module: nn.Module) -> nn.Module:
    """Every BatchNorm2d of ``module`` becomes a :class:`FrozenStatsBatchNorm2d` (in place)."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d) and not isinstance(child, FrozenStatsBatchNorm2d):
            new = FrozenStatsBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                         child.track_running_stats)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            freeze_batchnorm_stats(child)
    return module


def _clip_backbone(cfg: BackboneConfig) -> Backbone:
    from ..clip import load_clip

    net, _, info = load_clip(cfg.model, cfg.pretrained, seed=cfg.seed, cache_dir=cfg.cache_dir)
    visual = getattr(net, "visual", None)
    if visual is None or not hasattr(visual, "attnpool") or not hasattr(visual, "layer4"):
        raise ConfigError(f"CLIP model {cfg.model!r} has no ResNet visual tower with an attention "
                          f"pool (weakhoi needs a ModifiedResNet: RN50, RN101, weakhoi-tiny-rn)")
    trunk = _CLIPTrunk(visual)
    return Backbone(trunk, visual.attnpool, CLIP_MEAN, CLIP_STD, {"kind": "clip", **info})


def _load_frcnn_body(resnet: nn.Module, path: Path) -> None:
    """Load the ``backbone.body.*`` weights of a torchvision Faster R-CNN checkpoint."""
    if not path.is_file():
        raise AssetMissingError(
            f"Faster R-CNN checkpoint {path} not found (train.model.backbone.frcnn_weights): "
            f"download fasterrcnn_resnet50_fpn_coco-258fb6c6.pth from torchvision's model zoo "
            f"on a machine with network access and give its local path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's asset problem
        raise AssetMissingError(f"{path}: cannot read Faster R-CNN checkpoint ({e})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    prefix = "backbone.body."
    body = {k[len(prefix):]: v for k, v in state.items() if isinstance(k, str) and k.startswith(prefix)}
    if not body:
        raise AssetMissingError(f"{path}: no 'backbone.body.*' weights (expected torchvision's "
                                f"fasterrcnn_resnet50_fpn state dict)")
    missing, unexpected = resnet.load_state_dict(body, strict=False)
    missing = [k for k in missing if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise AssetMissingError(f"{path}: backbone.body weights do not fit ResNet-50 (missing "
                                f"{missing[:3]}, unexpected {list(unexpected)[:3]})")


def _frcnn_backbone(cfg: BackboneConfig, embed_dim: int, load_weights: bool = True) -> Backbone:
    import torchvision
    from open_clip.modified_resnet import AttentionPool2d
    from torchvision.ops.misc import FrozenBatchNorm2d

    from ..artifacts import hash_path

    path = Path(str(cfg.frcnn_weights)).expanduser()
    norm = {"frozen": FrozenBatchNorm2d, "frozen_stats": FrozenStatsBatchNorm2d}.get(
        cfg.batchnorm, nn.BatchNorm2d)
    resnet = torchvision.models.resnet50(weights=None, norm_layer=norm)
    if load_weights:
        _load_frcnn_body(resnet, path)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    pool = AttentionPool2d(7, 2048, cfg.frcnn_heads, embed_dim)
    with torch.no_grad():   # CLIP's initialisation of the pool, seeded
        pool.positional_embedding.copy_(torch.randn(pool.positional_embedding.shape, generator=gen)
                                        / 2048 ** 0.5)
        std = 2048 ** -0.5
        for lin in (pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj):
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) * std)
            lin.bias.zero_()
    info: dict[str, Any] = {"kind": "frcnn", "frcnn_weights": str(path), "random_init_attnpool": True}
    if load_weights:
        info["frcnn_sha256"] = hash_path(path)
    return Backbone(_TorchvisionTrunk(resnet), pool, IMAGENET_MEAN, IMAGENET_STD, info)


def build_backbone(cfg: BackboneConfig, embed_dim: int, load_weights: bool = True) -> Backbone:
    """The backbone of ``cfg`` with its BatchNorm policy applied; ``embed_dim`` (the bank's D)
    must equal the attention pool's output dimension (checked for CLIP). ``load_weights=False``
    builds the architecture only (random init; for loading a trained model's state)."""
    if cfg.kind == "clip":
        bb = _clip_backbone(cfg if load_weights else replace(cfg, pretrained=None))
    else:
        bb = _frcnn_backbone(cfg, embed_dim, load_weights)
    if bb.embed_dim != embed_dim:
        raise ConfigError(f"backbone {cfg.model!r} embeds into D={bb.embed_dim} but the knowledge "
                          f"bank has D={embed_dim}: encode the bank with the same CLIP architecture")
    if cfg.batchnorm == "frozen":
        freeze_batchnorm(bb.trunk)
    elif cfg.batchnorm == "frozen_stats":
        freeze_batchnorm_stats(bb.trunk)
    bb.trunk.to(memory_format=torch.channels_last)
    return bb
