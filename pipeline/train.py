"""Weakly-supervised training of the paper's network (stage `train`, params: train.*).

Reads the training split's image-level labels (never its boxes), the `proposals` and
`pair_features` artifacts of that split and the `knowledge_bank` artifact; trains with L_g,
L_p and L_b (paper §3.3) on an iteration schedule; writes the `model` artifact (weights +
config + provenance) and the training curves in dvclive's layout (--curves DIR). Checkpoints
go to <checkpoint root>/<run key>/, outside the DVC outputs: the root is --checkpoint-root, or
$WEAKHOI_CHECKPOINTS, or .checkpoints; the run key hashes the train params, the inputs'
content and the training code, so a re-run of the same stage resumes where a killed run
stopped and another experiment never does. Multi-GPU / multi-node: launch this command under
torchrun (README, "Training").
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import typer

from weakhoi.errors import ConfigError

from .params import DEFAULT_PARAMS, boolean, integer, load_params, number, reject_unknown, section

SECTION = "train"

MODEL_DEFAULTS: dict[str, Any] = {
    "backbone": {"kind": "clip", "model": "weakhoi-tiny-rn", "pretrained": "none",
                 "frcnn_weights": None, "batchnorm": "frozen", "seed": 0},
    "hoi_recognition": True, "bank_trainable": True, "ktn": "softmax", "fp_init": "random",
    "hidden_dim": None, "roi_size": None, "sampling_ratio": 2, "global_scale_init": 10.0,
    "global_bias_init": -10.0, "ktn_scale_init": 100.0, "prior_prob": 0.01,
}
LOSS_DEFAULTS: dict[str, Any] = {"weight_g": 1.0, "weight_p": 1.0, "weight_b": 1.0,
                                 "weight_reg": 0.0, "src": True, "top_k": 1, "src_warmup": 0}
DEFAULTS: dict[str, Any] = {
    "seed": 0, "image_size": 256, "max_pairs": None, "flip": True,
    "iterations": 300, "batch_size": 8, "lr_backbone": 1e-5, "lr_head": 1e-4,
    "weight_decay": 1e-4, "milestones": [], "lr_decay": 0.1, "lr_warmup": 0,
    "clip_grad_norm": 0.0, "amp": "none", "device": "cpu", "num_workers": 0,
    "pin_memory": False, "checkpoint_every": 100, "log_every": 10, "gamma": 2.8,
    "model": MODEL_DEFAULTS, "loss": LOSS_DEFAULTS,
}
#: Keys that do not change the trained weights: not part of the checkpoint run key (and not
#: listed in dvc.yaml, so changing them never re-runs the stage). `gamma` belongs to `evaluate`.
NON_SEMANTIC = ("num_workers", "pin_memory", "checkpoint_every", "gamma")


def _merge(defaults: Mapping[str, Any], given: Mapping[str, Any], where: str) -> dict[str, Any]:
    reject_unknown(given, defaults, where)
    out = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        if isinstance(default, dict):
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise ConfigError(f"params: {where}.{key} must be a mapping, got {value!r}")
            value = _merge(default, value, f"{where}.{key}")
        out[key] = value
    return out


def _none(value: Any) -> Any:
    return None if value in (None, "none", "None", "") else value


def resolve_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The `train` section with defaults filled in and every value checked (ConfigError naming
    the key)."""
    cfg = _merge(DEFAULTS, raw, SECTION)
    w = SECTION
    for key in ("seed", "iterations", "batch_size", "log_every"):
        integer(cfg, key, 0 if key == "seed" else 1, w)
    integer(cfg, "image_size", 32, w)
    if cfg["image_size"] % 32:
        raise ConfigError(f"params: {w}.image_size must be a multiple of 32 (the backbone's "
                          f"stride), got {cfg['image_size']}")
    for key in ("lr_warmup", "num_workers", "checkpoint_every"):
        integer(cfg, key, 0, w)
    if cfg["max_pairs"] is not None:
        integer(cfg, "max_pairs", 1, w)
    for key in ("lr_backbone", "lr_head"):
        number(cfg, key, 0.0, 1.0, w)
    for key in ("weight_decay", "clip_grad_norm"):
        number(cfg, key, 0.0, 1e6, w)
    number(cfg, "lr_decay", 0.0, 1.0, w, open_lo=True)
    number(cfg, "gamma", 0.0, 100.0, w)
    for key in ("flip", "pin_memory"):
        boolean(cfg, key, w)
    ms = cfg["milestones"]
    if not isinstance(ms, list) or any(isinstance(m, bool) or not isinstance(m, int) for m in ms):
        raise ConfigError(f"params: {w}.milestones must be a list of iterations, got {ms!r}")
    if cfg["amp"] not in ("none", "bf16", "fp16"):
        raise ConfigError(f"params: {w}.amp must be none, bf16 or fp16, got {cfg['amp']!r}")
    dev = cfg["device"]
    if not isinstance(dev, str) or not (dev == "cpu" or dev.startswith("cuda")):
        raise ConfigError(f"params: {w}.device must be 'cpu' or 'cuda[:N]', got {dev!r}")
    m, lo = cfg["model"], cfg["loss"]
    for key in ("hoi_recognition", "bank_trainable"):
        boolean(m, key, f"{w}.model")
    integer(m, "sampling_ratio", -1, f"{w}.model")
    for key in ("global_scale_init", "ktn_scale_init"):
        number(m, key, 0.0, 1000.0, f"{w}.model", open_lo=True)
    number(m, "global_bias_init", -1000.0, 1000.0, f"{w}.model")
    number(m, "prior_prob", 0.0, 1.0, f"{w}.model", open_lo=True, open_hi=True)
    for key in ("hidden_dim", "roi_size"):
        if m[key] is not None:
            integer(m, key, 1, f"{w}.model")
    integer(m["backbone"], "seed", 0, f"{w}.model.backbone")
    boolean(lo, "src", f"{w}.loss")
    for key in ("weight_g", "weight_p", "weight_b", "weight_reg"):
        number(lo, key, 0.0, 1e6, f"{w}.loss")
    integer(lo, "top_k", 1, f"{w}.loss")
    integer(lo, "src_warmup", 0, f"{w}.loss")
    return cfg


def build_configs(cfg: Mapping[str, Any], num_hois: int, num_verbs: int, num_objects: int,
                  embed_dim: int):
    """(ModelConfig, LossConfig, EngineConfig) from a resolved `train` section."""
    from weakhoi.engine.trainer import EngineConfig
    from weakhoi.model.config import BackboneConfig, LossConfig, ModelConfig

    m, bb = dict(cfg["model"]), dict(cfg["model"]["backbone"])
    bb["pretrained"] = _none(bb["pretrained"])
    bb["frcnn_weights"] = _none(bb["frcnn_weights"])
    try:
        model = ModelConfig(num_hois=num_hois, num_verbs=num_verbs, num_objects=num_objects,
                            embed_dim=embed_dim, backbone=BackboneConfig(**bb),
                            **{k: v for k, v in m.items() if k != "backbone"})
        loss = LossConfig(**cfg["loss"])
        engine = EngineConfig(
            iterations=cfg["iterations"], batch_size=cfg["batch_size"],
            lr_backbone=float(cfg["lr_backbone"]), lr_head=float(cfg["lr_head"]),
            weight_decay=float(cfg["weight_decay"]), milestones=tuple(cfg["milestones"]),
            lr_decay=float(cfg["lr_decay"]), lr_warmup=cfg["lr_warmup"],
            clip_grad_norm=float(cfg["clip_grad_norm"]), amp=cfg["amp"],
            checkpoint_every=cfg["checkpoint_every"], log_every=cfg["log_every"], seed=cfg["seed"],
            num_workers=cfg["num_workers"], pin_memory=cfg["pin_memory"])
    except ConfigError as e:
        raise ConfigError(f"params: {SECTION}.{e}") from None
    return model, loss, engine


def code_version() -> str:
    """sha256 over the library and this module's source (part of the checkpoint run key)."""
    import weakhoi

    root = Path(weakhoi.__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted([*root.rglob("*.py"), Path(__file__).resolve()]):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def command(
    dataset: str = typer.Option(..., "--dataset", help="Dataset kind: hicodet, synhoi or vcoco."),
    annotations: Path = typer.Option(..., "--annotations", help="Training annotation file (only its "
                                     "image-level labels are used)."),
    images: Path = typer.Option(..., "--images", help="Training image directory."),
    proposals: Path = typer.Option(..., "--proposals", help="`proposals` artifact of the split."),
    pairs: Path = typer.Option(..., "--pairs", help="`pair_features` artifact of the split."),
    bank: Path = typer.Option(..., "--bank", help="`knowledge_bank` artifact (W_T)."),
    out: Path = typer.Option(..., "--out", help="Output `model` artifact (.h5)."),
    curves: Path = typer.Option(..., "--curves", help="Directory for the training curves "
                                "(dvclive layout: metrics.json, plots/metrics/train/*.tsv)."),
    timing: Optional[Path] = typer.Option(None, "--timing", help="TSV of iterations/s (machine-"
                                          "dependent, so kept outside the DVC outputs)."),
    checkpoint_root: Optional[Path] = typer.Option(
        None, "--checkpoint-root", help="Root of the resumable checkpoints (default "
        "$WEAKHOI_CHECKPOINTS or .checkpoints)."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml; uses its `train` section."),
) -> None:
    """Train the network from image-level labels (params: train.*)."""
    from weakhoi.artifacts import artifact_kind, check_replaceable
    from weakhoi.engine.log import CURVES_KIND
    from weakhoi.engine.run import DataConfig, TrainInputs, problem_sizes, train_model

    from .runlog import record_run

    cfg = resolve_params(section(load_params(params), SECTION, params))
    inputs = TrainInputs(dataset, annotations, images, proposals, pairs, bank)
    reads = [annotations, images, proposals, pairs, bank, params]
    check_replaceable(out, artifact_kind(out, "model"), reads)           # before any work
    check_replaceable(curves, CURVES_KIND, reads)
    model_cfg, loss_cfg, engine_cfg = build_configs(cfg, **problem_sizes(inputs))
    data_cfg = DataConfig(cfg["image_size"], cfg["max_pairs"], cfg["flip"])
    semantic = {k: v for k, v in cfg.items() if k not in NON_SEMANTIC}
    root = checkpoint_root or Path(os.environ.get("WEAKHOI_CHECKPOINTS", ".checkpoints"))
    summary = train_model(model_cfg, loss_cfg, engine_cfg, data_cfg, inputs, out, curves, timing,
                          root, params=semantic, key_params=semantic, code=code_version(),
                          device=cfg["device"])
    if summary is not None:
        record_run(out, "train", {"summary": summary, "checkpoint_root": str(root)})
        typer.echo(summary)
