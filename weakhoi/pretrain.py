"""Contrastive pretraining of a CLIP model on image-caption pairs (the offline CLIP prior).

:func:`pretrain_clip` trains both towers of an open_clip architecture (``weakhoi-tiny-rn`` by
default) from a seeded random init with open_clip's own symmetric InfoNCE loss
(``open_clip.loss.ClipLoss``), AdamW (no weight decay on gains, biases and ``logit_scale``, as
open_clip's training code) and a linear-warmup cosine schedule, BatchNorm in train mode, and
``logit_scale`` clamped to ln 100 after each step. :func:`write_prior` saves the result as an
open_clip state dict (``open_clip_model.safetensors``, the file name of the HF hub CLIP repos)
that ``weakhoi.clip.load_clip(model, pretrained=<path>)`` loads like any local CLIP checkpoint.

What makes it fast enough for 2 CPU cores (measured in bench/bench_zero_shot.py):

* images are resized once to uint8 tensors and augmented per batch on the fly (random crop of
  at least ``crop_scale`` of each side, horizontal flip, brightness/contrast jitter): a few
  thousand images serve many epochs;
* captions are tokenised once and cut to the longest caption: the text tower is causal and
  pools at the end-of-text token, so the padding after it never changes the embedding
  (``test_pretrain`` checks it against ``encode_text``), and 77 tokens would cost 3x more;
* progressive resizing: the first ``low_res_fraction`` of the steps run at ``low_res_size``
  (a quarter of the pixels at 64 px) with the attention pool's positional embedding
  interpolated to the smaller grid, the rest at the model's native size, whose BatchNorm
  statistics are then recalibrated (``bn_recalibrate_batches``);
* ``channels_last`` memory format and an explicit thread count.

The shortened context and the interpolated positional embedding are passed to open_clip's own
``CLIP.forward`` with :func:`torch.func.functional_call`; no model code is re-implemented.
Deterministic on CPU for a seed and thread count (same seed -> bit-identical checkpoint).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from .artifacts.atomic import atomic_output, directory_kind, write_json
from .clip import TINY_MODEL, load_clip
from .errors import ConfigError
from .zero_shot import model_image_size, model_mean_std, normalize, resize_images

#: File names inside the prior's output directory.
CHECKPOINT_NAME = "open_clip_model.safetensors"
PROVENANCE_NAME = "provenance.json"
CAPTIONS_NAME = "captions.txt"
#: The one safetensors metadata key (several keys would be written in random order).
METADATA_KEY = "weakhoi_provenance"
ARTIFACT_TYPE = "clip_prior"
SCHEMA_VERSION = 1
#: Replace-policy kind of the prior's directory (a marked weakhoi directory).
PRIOR_KIND = directory_kind("clip prior")


@dataclass(frozen=True)
class PretrainConfig:
    """Training recipe (params.yaml: ``pretrain``; the caption split has its own section)."""

    model: str = TINY_MODEL
    seed: int = 0                     # init, batch order, augmentation
    steps: int = 260
    batch_size: int = 64
    lr: float = 1e-3                  # peak learning rate
    min_lr: float = 0.0               # cosine floor
    warmup_steps: int = 10
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-6
    image_size: int = 0               # 0: the model's native input size
    low_res_size: int = 64
    low_res_fraction: float = 0.77    # share of the steps at low_res_size (progressive resizing)
    crop_scale: float = 0.88          # random crops keep at least this share of each side
    flip: bool = True
    color_jitter: float = 0.15        # brightness/contrast factors in [1 - j, 1 + j]
    bn_recalibrate_batches: int = 8   # forward passes at image_size to re-estimate BN statistics
    threads: int = 2

    def validate(self, where: str = "pretrain") -> "PretrainConfig":
        def bad(key: str, msg: str) -> ConfigError:
            return ConfigError(f"{where}.{key}: {msg} (got {getattr(self, key)!r})")

        def is_int(v: Any) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        for key, lo in (("seed", 0), ("steps", 1), ("batch_size", 2), ("warmup_steps", 0), ("image_size", 0),
                        ("low_res_size", 32), ("bn_recalibrate_batches", 0), ("threads", 1)):
            if not is_int(getattr(self, key)) or getattr(self, key) < lo:
                raise bad(key, f"must be an integer >= {lo}")
        if not isinstance(self.model, str) or not self.model:
            raise bad("model", "must be an open_clip architecture name")
        for key in ("lr", "min_lr", "weight_decay", "eps"):
            if not is_num(getattr(self, key)) or getattr(self, key) < 0:
                raise bad(key, "must be a number >= 0")
        if self.lr <= 0 or self.min_lr > self.lr:
            raise bad("lr", "must be > 0 and >= min_lr")
        for key in ("beta1", "beta2"):
            if not is_num(getattr(self, key)) or not 0.0 <= getattr(self, key) < 1.0:
                raise bad(key, "must be a number in [0, 1)")
        for key, lo in (("low_res_fraction", 0.0), ("crop_scale", 0.1), ("color_jitter", 0.0)):
            if not is_num(getattr(self, key)) or not lo <= getattr(self, key) <= 1.0:
                raise bad(key, f"must be a number in [{lo:g}, 1]")
        if not isinstance(self.flip, bool):
            raise bad("flip", "must be true or false")
        return self

    def params(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------
# pieces of the training step
# ------------------------------------------------------------------------------------------
def tokenize_captions(tokenizer: Any, captions: Sequence[str]) -> torch.Tensor:
    """``[N, L]`` int64 tokens, ``L`` = longest caption incl. start/end tokens (at most the
    tokenizer's context length; longer captions are truncated by the tokenizer)."""
    tokens = tokenizer(list(captions))                                   # [N, 77]
    eot = tokens.argmax(dim=-1)                                          # end-of-text position
    return tokens[:, :int(eot.max()) + 1].contiguous() if len(tokens) else tokens


def _pool_positional_embedding(pe: torch.Tensor, grid: int) -> torch.Tensor:
    """The attention pool's ``[1 + g*g, C]`` positional embedding resampled to ``grid``."""
    g = math.isqrt(pe.shape[0] - 1)
    if g == grid:
        return pe
    spatial = pe[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)                  # [1, C, g, g]
    spatial = F.interpolate(spatial, size=(grid, grid), mode="bilinear", align_corners=False)
    return torch.cat([pe[:1], spatial.permute(0, 2, 3, 1).reshape(grid * grid, -1)], 0)


def clip_forward(net: nn.Module, images: torch.Tensor, tokens: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """open_clip ``CLIP.forward`` -> (image features [B, D], text features [B, D], logit
    scale), normalised, for ``tokens`` [B, L] with L <= the context length and ``images`` at
    any multiple of 32 px: the text positional embedding and causal mask are cut to L, the
    attention pool's positional embedding is resampled to the image's grid."""
    over: dict[str, torch.Tensor] = {}
    L = tokens.shape[1]
    if L < net.positional_embedding.shape[0]:
        over["positional_embedding"] = net.positional_embedding[:L]
        over["attn_mask"] = net.attn_mask[:L, :L]
    pool = net.visual.attnpool
    grid = images.shape[-1] // 32
    if grid ** 2 + 1 != pool.positional_embedding.shape[0]:
        over["visual.attnpool.positional_embedding"] = _pool_positional_embedding(pool.positional_embedding, grid)
    out = functional_call(net, over, (images, tokens)) if over else net(images, tokens)
    return out[0], out[1], out[2]


def augment(images: torch.Tensor, size: int, gen: torch.Generator, crop_scale: float, flip: bool,
            color_jitter: float, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``[B, 3, S, S]`` -> normalised float32 ``[B, 3, size, size]``: a random crop of
    each image (each side >= ``crop_scale`` of the image, inside it), optional horizontal flip,
    brightness/contrast jitter, then antialiased resizing to ``size``. Draws from ``gen`` in a
    fixed order (deterministic)."""
    B, _, S, _ = images.shape
    x = images.float()
    side = crop_scale + (1.0 - crop_scale) * torch.rand(B, 2, generator=gen)        # [B, 2] (w, h)
    centre = (torch.rand(B, 2, generator=gen) * 2 - 1) * (1 - side)                  # [B, 2]
    sign = torch.where(torch.rand(B, generator=gen) < 0.5, -1.0, 1.0) if flip else torch.ones(B)
    jit = 1.0 + color_jitter * (torch.rand(B, 2, generator=gen) * 2 - 1)            # [B, 2]
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0] = side[:, 0] * sign
    theta[:, 1, 1] = side[:, 1]
    theta[:, :, 2] = centre
    grid = F.affine_grid(theta, [B, 3, S, S], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    avg = x.mean(dim=(1, 2, 3), keepdim=True)                                       # [B, 1, 1, 1]
    x = ((x - avg) * jit[:, 1].view(B, 1, 1, 1) + avg * jit[:, 0].view(B, 1, 1, 1)).clamp_(0, 255)
    if size != S:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return normalize(x, mean, std).contiguous(memory_format=torch.channels_last)


def _param_groups(net: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """open_clip's rule: no weight decay for gains/biases (ndim < 2), norms and logit_scale."""
    def no_decay(name: str, p: torch.Tensor) -> bool:
        return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name

    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    return [{"params": [p for n, p in named if no_decay(n, p)], "weight_decay": 0.0},
            {"params": [p for n, p in named if not no_decay(n, p)], "weight_decay": weight_decay}]


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warmup over ``warmup_steps``, then cosine from ``lr`` to ``min_lr`` at ``steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * t))


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, images: torch.Tensor, batches: int, batch_size: int,
                          mean: Sequence[float], std: Sequence[float]) -> None:
    """Re-estimate every BatchNorm's running statistics as the plain average over ``batches``
    forward passes of un-augmented ``images`` (the first ``batches * batch_size``)."""
    bns = [m for m in net.visual.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if batches < 1 or not bns or len(images) == 0:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                                 # cumulative average
    net.visual.train()
    try:
        for s in range(0, min(len(images), batches * batch_size), batch_size):
            x = normalize(images[s:s + batch_size], mean, std).contiguous(memory_format=torch.channels_last)
            net.visual(x)
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


# ------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------
@dataclass
class PretrainResult:
    net: nn.Module                    # eval mode, contiguous memory format
    tokenizer: Any
    history: list[dict[str, float]]   # per step: step, loss, lr, logit_scale, image_size
    context_length: int               # tokens per caption used for training
    config: PretrainConfig


def pretrain_clip(images: Sequence[np.ndarray], captions: Sequence[str], cfg: PretrainConfig,
                  on_step: Callable[[dict[str, float]], None] | None = None,
                  progress: bool | None = None) -> PretrainResult:
    """Train ``cfg.model`` contrastively on (image [H, W, 3] uint8, caption) pairs.

    ``on_step`` gets each step's record (loss, lr, ...). Deterministic for ``cfg.seed`` and
    ``cfg.threads`` on CPU. The torch thread count is restored afterwards."""
    import open_clip
    from tqdm import tqdm

    cfg.validate()
    if len(images) != len(captions) or len(images) < cfg.batch_size:
        raise ConfigError(f"pretraining needs as many captions as images and at least batch_size "
                          f"({cfg.batch_size}) pairs, got {len(images)} images, {len(captions)} captions")
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        net, tokenizer, _ = load_clip(cfg.model, None, seed=cfg.seed)
        size = cfg.image_size or model_image_size(net)
        if size % 32 or cfg.low_res_size % 32:
            raise ConfigError(f"pretrain.image_size ({size}) and pretrain.low_res_size "
                              f"({cfg.low_res_size}) must be multiples of 32 (the ResNet's stride)")
        mean, std = model_mean_std(net)
        base = resize_images(images, size)                                   # [N, 3, S, S] uint8
        tokens = tokenize_captions(tokenizer, captions)                      # [N, L]
        net = net.to(memory_format=torch.channels_last)
        net.train()
        opt = torch.optim.AdamW(_param_groups(net, cfg.weight_decay), lr=cfg.lr,
                                betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
        loss_fn = open_clip.loss.ClipLoss()
        gen = torch.Generator().manual_seed(int(cfg.seed))
        n = len(base)
        order, pos = torch.randperm(n, generator=gen), 0
        low_steps = int(round(cfg.low_res_fraction * cfg.steps))
        history: list[dict[str, float]] = []
        for step in tqdm(range(cfg.steps), desc="pretrain", unit="step", disable=None if progress is None else not progress):
            if pos + cfg.batch_size > n:                                     # next epoch
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos:pos + cfg.batch_size]
            pos += cfg.batch_size
            res = cfg.low_res_size if step < low_steps else size
            x = augment(base[idx], res, gen, cfg.crop_scale, cfg.flip, cfg.color_jitter, mean, std)
            lr = lr_at(step, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            img_f, txt_f, scale = clip_forward(net, x, tokens[idx])         # [B, D], [B, D], []
            loss = loss_fn(img_f, txt_f, scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                net.logit_scale.clamp_(0, math.log(100))
            rec = {"step": step, "loss": float(loss.detach()), "lr": lr, "logit_scale": float(scale.detach()),
                   "image_size": res}
            history.append(rec)
            if on_step is not None:
                on_step(rec)
        recalibrate_batchnorm(net, base, cfg.bn_recalibrate_batches, cfg.batch_size, mean, std)
        net = net.to(memory_format=torch.contiguous_format)
        net.eval()
    finally:
        torch.set_num_threads(threads)
    return PretrainResult(net, tokenizer, history, int(tokens.shape[1]), cfg)


# ------------------------------------------------------------------------------------------
# the prior on disk
# ------------------------------------------------------------------------------------------
def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def state_dict_tensors(net: nn.Module) -> dict[str, torch.Tensor]:
    """``net.state_dict()`` as contiguous CPU tensors that own their memory (safetensors)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}


def save_checkpoint(net: nn.Module, path: Path | str, provenance: Mapping[str, Any]) -> str:
    """Write ``net``'s open_clip state dict to ``path`` (``.safetensors``) atomically, with the
    canonical JSON of ``provenance`` as the one metadata entry ``METADATA_KEY``. Returns the
    file's sha256. Same weights and provenance -> same bytes."""
    from safetensors.torch import save_file
    with atomic_output(path) as tmp:
        save_file(state_dict_tensors(net), str(tmp), metadata={METADATA_KEY: _canonical(dict(provenance))})
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    return digest


def read_checkpoint_provenance(path: Path | str) -> dict[str, Any]:
    """The provenance stored in a checkpoint written by :func:`save_checkpoint`."""
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if METADATA_KEY not in meta:
        raise ConfigError(f"{path}: no {METADATA_KEY!r} metadata (not written by weakhoi pretrain)")
    return json.loads(meta[METADATA_KEY])


def prior_provenance(params: Mapping[str, Any], split: Any, result: PretrainResult,
                     dataset: str = "synhoi") -> dict[str, Any]:
    """Provenance of a trained prior (no wall-clock time, no git commit: the same inputs give
    the same bytes). ``split``: the :class:`~weakhoi.data.synhoi.CaptionSplit` it was trained
    on, recorded by its sha256 (``input_hashes``), size, class counts and noise counts."""
    from .artifacts.provenance import _library_versions, _weakhoi_version, params_hash

    losses = [h["loss"] for h in result.history]
    steps = len(result.history)
    return {
        "artifact_type": ARTIFACT_TYPE, "schema_version": SCHEMA_VERSION, "enabled": True,
        "dataset": dataset, "model": result.config.model,
        "params": dict(params), "params_hash": params_hash(params),
        "input_hashes": {"synhoi caption split (drawn in memory)": split.digest()},
        "caption_split": {"num": len(split), "hoi_counts": [int(c) for c in split.hoi_counts],
                          "noise": {k: int(v) for k, v in split.noise.items()},
                          "context_length": result.context_length},
        "training": {"steps": steps, "epochs": round(steps * result.config.batch_size / max(len(split), 1), 3),
                     "loss_first": round(losses[0], 6) if losses else None,
                     "final_loss": round(float(np.mean(losses[-10:])), 6) if losses else None},
        "weakhoi_version": _weakhoi_version(), "library_versions": _library_versions(),
    }


def write_prior(out_dir: Path | str, result: PretrainResult | None, provenance: Mapping[str, Any],
                captions: Sequence[str] = ()) -> dict[str, Any]:
    """Write the prior's directory atomically (an existing ``out_dir`` is replaced):
    ``open_clip_model.safetensors`` (when ``result`` is given), ``provenance.json``
    (``provenance`` + the checkpoint's file name and sha256) and ``captions.txt`` (one caption
    per line, for inspection). Without ``result`` (pretraining disabled) only
    ``provenance.json`` is written: a small marker whose bytes depend on ``provenance`` only.
    Returns the provenance as written to ``provenance.json``."""
    doc = dict(provenance)
    with atomic_output(out_dir, PRIOR_KIND) as tmp:
        tmp.mkdir()
        if result is not None:
            sha = save_checkpoint(result.net, tmp / CHECKPOINT_NAME, provenance)
            doc["checkpoint"] = {"file": CHECKPOINT_NAME, "sha256": sha}
        if captions:
            (tmp / CAPTIONS_NAME).write_text("".join(c.replace("\n", " ") + "\n" for c in captions),
                                             encoding="utf-8")
        write_json(tmp / PROVENANCE_NAME, doc, indent=1, sort_keys=True)
    return doc
