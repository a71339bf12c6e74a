"""Run the trained network over a split (stage `infer`, params: infer.*).

Reads the `model` artifact and the split's `proposals` and `pair_features` artifacts and
images; writes a `hoi_scores` artifact with, per image, the raw score components every fusion
variant needs (s_g, the pair matrix S, s_b, detections with their scores and classes, pair
indices), and with `infer.clip_scores` the zero-shot CLIP union scores of Table 3 Abl 1/3
(which need --bank, a knowledge bank of CLIP text embeddings, and the CLIP weights it was
encoded with). Gamma and the fusion switches are not used here: changing them re-runs
`evaluate` only. The network input size is the one the model was trained with.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from weakhoi.errors import ConfigError

from .params import DEFAULT_PARAMS, boolean, integer, load_params, reject_unknown, section

SECTION = "infer"
DEFAULTS: dict[str, Any] = {"batch_size": 8, "device": "cpu", "clip_scores": False,
                            "max_pairs": None}


def resolve_params(raw: dict[str, Any]) -> dict[str, Any]:
    """The `infer` section with defaults (ConfigError naming a bad key)."""
    reject_unknown(raw, DEFAULTS, SECTION)
    cfg = {**DEFAULTS, **raw}
    integer(cfg, "batch_size", 1, SECTION)
    boolean(cfg, "clip_scores", SECTION)
    if cfg["max_pairs"] is not None:
        integer(cfg, "max_pairs", 1, SECTION)
    dev = cfg["device"]
    if not isinstance(dev, str) or not (dev == "cpu" or dev.startswith("cuda")):
        raise ConfigError(f"params: {SECTION}.device must be 'cpu' or 'cuda[:N]', got {dev!r}")
    return cfg


def command(
    dataset: str = typer.Option(..., "--dataset", help="Dataset kind: hicodet, synhoi or vcoco."),
    annotations: Path = typer.Option(..., "--annotations", help="Annotation file of the split "
                                     "(its vocabulary; boxes are not read)."),
    images: Path = typer.Option(..., "--images", help="Image directory of the split."),
    model: Path = typer.Option(..., "--model", help="`model` artifact from `train`."),
    proposals: Path = typer.Option(..., "--proposals", help="`proposals` artifact of the split."),
    pairs: Path = typer.Option(..., "--pairs", help="`pair_features` artifact of the split."),
    out: Path = typer.Option(..., "--out", help="Output `hoi_scores` artifact (.h5)."),
    bank: Optional[Path] = typer.Option(None, "--bank", help="`knowledge_bank` artifact (needed "
                                        "with infer.clip_scores)."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml; uses its `infer` section."),
) -> None:
    """Raw HOI scores of every test image from the trained network (params: infer.*)."""
    import torch

    from weakhoi.artifacts import hash_path
    from weakhoi.data.loaders import load_vocabulary
    from weakhoi.data.pairs import PairImages, load_image_pairs
    from weakhoi.inference import clip_scorer_from_bank, write_scores
    from weakhoi.model.io import load_model

    from weakhoi.artifacts import artifact_kind, check_replaceable

    from .runlog import record_run

    raw = load_params(params)
    cfg = resolve_params(section(raw, SECTION, params) if SECTION in raw else {})
    check_replaceable(out, artifact_kind(out, "hoi_scores"),
                      [annotations, images, model, proposals, pairs, bank, params])
    if cfg["clip_scores"] and bank is None:
        raise ConfigError("infer.clip_scores needs --bank (a knowledge bank of CLIP text embeddings)")
    device = cfg["device"]
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"params: infer.device is {device!r} but CUDA is not available here")
    net, attrs = load_model(model, device)
    vocab = load_vocabulary(dataset, annotations)
    if (vocab.num_hois, vocab.num_verbs) != (net.cfg.num_hois, net.cfg.num_verbs):
        raise ConfigError(f"{model} was trained for {net.cfg.num_hois} HOI classes / "
                          f"{net.cfg.num_verbs} verbs, {annotations} has {vocab.num_hois} / "
                          f"{vocab.num_verbs}")
    data_cfg = attrs.get("data_config") or {}
    image_size = int(data_cfg.get("image_size", 256))
    items, info = load_image_pairs(proposals, pairs, cfg["max_pairs"])
    split = PairImages(images, items, image_size, eps=info["eps"])
    clip = clip_scorer_from_bank(bank, vocab, device) if cfg["clip_scores"] else None
    inputs = [model, proposals, pairs] + ([bank] if cfg["clip_scores"] else [])
    hashes = {Path(p).as_posix(): hash_path(p) for p in inputs}
    n = write_scores(out, net, split, vocab, dataset, params=cfg, known_hashes=hashes,
                     extra={"image_size": image_size,
                            "model_params_hash": str(attrs.get("params_hash", ""))},
                     batch_size=cfg["batch_size"], device=device, clip=clip)
    record_run(out, "infer", {"images": len(split), "pairs": n})
    typer.echo(f"wrote {out} ({len(split)} images, {n} pairs)")
