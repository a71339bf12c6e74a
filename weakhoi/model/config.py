"""Typed configuration of the network (open_clip's ``CLIPVisionCfg`` pattern).

The library never reads ``params.yaml``: ``pipeline/train.py`` fills these dataclasses from the
``train.model`` section, the model artifact stores ``ModelConfig.to_dict()`` so ``infer`` and
``predict`` rebuild exactly the trained network, and every ablation of the paper's Tables 2-5
is a value here, not a code edit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from ..errors import ConfigError

BACKBONE_KINDS = ("clip", "frcnn")
BATCHNORM_MODES = ("frozen", "frozen_stats", "train")
KTN_MODES = ("none", "softmax", "uniform", "sigmoid", "union")
FP_INITS = ("random", "prompts")


def _choice(value: Any, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")
    return value


@dataclass(frozen=True)
class BackboneConfig:
    """Where Γ and the attention pool come from.

    ``kind='clip'``: an open_clip ModifiedResNet (``model``: RN50, RN101, weakhoi-tiny-rn, ...)
    with ``pretrained`` an open_clip tag, a local checkpoint path or None (random init seeded
    by ``seed``). ``kind='frcnn'``: the ResNet-50 body of torchvision's COCO Faster R-CNN
    R50-FPN from the local checkpoint ``frcnn_weights`` (paper Exp 8) with a freshly
    initialised CLIP-style attention pool (``frcnn_heads`` heads) projecting to the bank's
    dimension.
    """

    kind: str = "clip"
    model: str = "weakhoi-tiny-rn"
    pretrained: str | None = None
    frcnn_weights: str | None = None
    frcnn_heads: int = 32
    seed: int = 0
    batchnorm: str = "frozen"          # frozen | frozen_stats | train (see model/backbone.py)
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        _choice(self.kind, BACKBONE_KINDS, "backbone.kind")
        _choice(self.batchnorm, BATCHNORM_MODES, "backbone.batchnorm")
        if self.kind == "frcnn" and not self.frcnn_weights:
            raise ConfigError("backbone.kind frcnn needs backbone.frcnn_weights (a local "
                              "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth)")


@dataclass(frozen=True)
class ModelConfig:
    """The network of paper §3.2 and its switches.

    Sizes: ``num_hois`` N (rows of W_T), ``num_verbs`` A, ``num_objects`` C, ``embed_dim`` D
    (the bank's and the attention pool's dimension). Switches: ``hoi_recognition`` (global
    branch s_g = W_T v_g and L_g; paper Exp 1), ``bank_trainable`` (W_T trained through L_g;
    False = Exp 2), ``ktn`` (none = baseline v̂_p = v_p; softmax = paper; uniform / sigmoid /
    union = Table 4), ``fp_init`` (random MLP F_P, or ``prompts``: GEN-VLKT-style cosine
    classifier initialised from the per-verb mean of the bank, Table 3 Abl 4).
    """

    num_hois: int
    num_verbs: int
    num_objects: int
    embed_dim: int
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    hoi_recognition: bool = True
    bank_trainable: bool = True
    ktn: str = "softmax"
    fp_init: str = "random"
    hidden_dim: int | None = None          # MLP width (None: D)
    spatial_hidden: tuple[int, ...] = (128, 256)
    roi_size: int | None = None            # RoI-Align bins per side (None: the pool's grid)
    sampling_ratio: int = 2                # RoI-Align samples per bin and axis (<= 0: adaptive)
    global_scale_init: float = 10.0        # s_g = exp(t) cos(v_g, W_T) + b, SigLIP-style init
    global_bias_init: float = -10.0
    ktn_scale_init: float = 100.0          # KTN attention temperature (CLIP's logit scale)
    prior_prob: float = 0.01               # initial sigmoid of F_P / F_B outputs

    def __post_init__(self) -> None:
        for key in ("num_hois", "num_verbs", "num_objects", "embed_dim"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be a positive integer, got {getattr(self, key)!r}")
        _choice(self.ktn, KTN_MODES, "model.ktn")
        _choice(self.fp_init, FP_INITS, "model.fp_init")
        if not 0.0 < self.prior_prob < 1.0:
            raise ConfigError(f"model.prior_prob must be in (0, 1), got {self.prior_prob!r}")
        if self.roi_size is not None and self.roi_size < 1:
            raise ConfigError(f"model.roi_size must be >= 1 or null, got {self.roi_size!r}")

    @property
    def width(self) -> int:
        return self.hidden_dim or self.embed_dim

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spatial_hidden"] = list(self.spatial_hidden)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"model config: unknown key(s) {', '.join(unknown)}")
        bb = d.pop("backbone", {}) or {}
        if isinstance(bb, Mapping):
            bb_known = {f.name for f in fields(BackboneConfig)}
            bad = sorted(set(bb) - bb_known)
            if bad:
                raise ConfigError(f"model config: unknown backbone key(s) {', '.join(bad)}")
            bb = BackboneConfig(**bb)
        if "spatial_hidden" in d:
            d["spatial_hidden"] = tuple(int(x) for x in d["spatial_hidden"])
        return cls(backbone=bb, **d)


@dataclass(frozen=True)
class LossConfig:
    """Weights and switches of the weakly-supervised loss (paper §3.3; METHOD.md §3).

    ``src`` enables the self-taught relatedness loss L_b after ``src_warmup`` iterations with
    the ``top_k`` highest-scoring unmasked pairs per labelled verb as positives (Table 5).
    ``weight_reg`` > 0 adds Abl 4's L2 between the mean pair representation and v_g.
    """

    weight_g: float = 1.0
    weight_p: float = 1.0
    weight_b: float = 1.0
    weight_reg: float = 0.0
    src: bool = True
    top_k: int = 1
    src_warmup: int = 0

    def __post_init__(self) -> None:
        for key in ("weight_g", "weight_p", "weight_b", "weight_reg"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ConfigError(f"loss.{key} must be a number >= 0, got {v!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise ConfigError(f"loss.top_k must be an integer >= 1, got {self.top_k!r}")
        if isinstance(self.src_warmup, bool) or not isinstance(self.src_warmup, int) \
                or self.src_warmup < 0:
            raise ConfigError(f"loss.src_warmup must be an integer >= 0, got {self.src_warmup!r}")
