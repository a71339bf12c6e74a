"""Build the HOI knowledge bank W_T (one embedding per HOI class) and write the
`knowledge_bank` artifact.

Params (section `encode` of params.yaml):
bank (clip | random | npy), model (open_clip architecture: weakhoi-tiny-rn,
RN50, RN101, ...), pretrained (open_clip tag such as 'openai', a local
checkpoint file, or none = random init seeded by `seed`), cache_dir,
template, no_interaction_template, vcoco_obj_template, vcoco_instr_template,
batch_size, device, seed, npy_path, npy_normalize.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from pipeline.params import DEFAULT_PARAMS, integer, load_params, reject_unknown, section
from weakhoi.errors import ConfigError
from weakhoi.vocab import DEFAULT_TEMPLATE, NO_INTERACTION_TEMPLATE, VCOCO_ROLE_TEMPLATES, Vocabulary

SECTION = "encode"

#: Keys of the `encode` section and their defaults (used for keys params.yaml leaves out).
DEFAULTS: dict[str, Any] = {
    "bank": "clip",
    "model": "weakhoi-tiny-rn",
    "pretrained": "none",
    "cache_dir": None,
    "template": DEFAULT_TEMPLATE,
    "no_interaction_template": NO_INTERACTION_TEMPLATE,
    "vcoco_obj_template": VCOCO_ROLE_TEMPLATES["obj"],
    "vcoco_instr_template": VCOCO_ROLE_TEMPLATES["instr"],
    "batch_size": 64,
    "device": "cpu",
    "seed": 0,
    "npy_path": None,
    "npy_normalize": True,
}


def resolve_config(raw: dict[str, Any]) -> dict[str, Any]:
    """`encode` params with defaults filled in; ConfigError naming an unknown or bad key."""
    reject_unknown(raw, DEFAULTS, SECTION)
    cfg = {**DEFAULTS, **raw}
    if cfg["pretrained"] is None:
        cfg["pretrained"] = "none"
    integer(cfg, "batch_size", 1, SECTION)
    integer(cfg, "seed", 0, SECTION)
    return cfg


def vocabulary_for(dataset: str, annotations: Optional[Path]) -> Vocabulary:
    """The dataset's vocabulary: from its annotation file, or HICO-DET's built-in one."""
    if annotations is not None:
        from weakhoi.data.loaders import load_vocabulary
        return load_vocabulary(dataset, annotations)   # no images or image sizes needed
    if dataset == "hicodet":
        from weakhoi.vocab import hicodet_vocabulary
        return hicodet_vocabulary()
    raise ConfigError(f"--annotations is required for dataset {dataset!r} (its vocabulary is read "
                      f"from the annotation file); only 'hicodet' has a built-in vocabulary")


def command(
    dataset: str = typer.Option("hicodet", "--dataset", help="Dataset kind: hicodet, vcoco or synhoi."),
    annotations: Optional[Path] = typer.Option(
        None, "--annotations", help="Annotation file the vocabulary is read from (optional for "
                                    "hicodet: the built-in 600-class vocabulary is used)."),
    out: Path = typer.Option(Path("artifacts/knowledge_bank.h5"), "--out",
                             help="Output knowledge_bank artifact (.h5 or .zarr)."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml to read section `encode` from."),
) -> None:
    """Encode one prompt per HOI class into the knowledge bank W_T [N, D]."""
    from weakhoi.clip import build_knowledge_bank, write_knowledge_bank

    cfg = resolve_config(section(load_params(params), SECTION, params))
    vocab = vocabulary_for(dataset, annotations)
    kb = build_knowledge_bank(
        vocab, kind=cfg["bank"], model=cfg["model"], pretrained=cfg["pretrained"],
        template=cfg["template"], no_interaction_template=cfg["no_interaction_template"],
        vcoco_obj_template=cfg["vcoco_obj_template"], vcoco_instr_template=cfg["vcoco_instr_template"],
        batch_size=cfg["batch_size"], device=cfg["device"], seed=cfg["seed"],
        npy_path=cfg["npy_path"], npy_normalize=cfg["npy_normalize"], cache_dir=cfg["cache_dir"])
    write_knowledge_bank(out, kb, cfg, inputs=[annotations] if annotations is not None else [],
                         extra={"dataset": dataset})
    typer.echo(f"knowledge bank {tuple(kb.bank.shape)} ({cfg['bank']}, {cfg['model']}, "
               f"pretrained={kb.attrs['pretrained']}) -> {out}")
