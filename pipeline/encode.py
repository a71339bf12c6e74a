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

import string
from pathlib import Path
from typing import Any, Optional

import typer

from pipeline.params import DEFAULT_PARAMS, integer, load_params, reject_unknown, section
from pipeline.runlog import record_run
from weakhoi.errors import ConfigError
from weakhoi.vocab import DEFAULT_TEMPLATE, NO_INTERACTION_TEMPLATE, VCOCO_ROLE_TEMPLATES, Vocabulary

SECTION = "encode"

#: Placeholders a prompt template may use (`weakhoi.vocab.Vocabulary.prompts`).
PLACEHOLDERS = ("verb", "verb_phrase", "object", "article")
TEMPLATE_KEYS = ("template", "no_interaction_template", "vcoco_obj_template", "vcoco_instr_template")

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
    for key in TEMPLATE_KEYS:
        check_template(cfg, key)
    return cfg


def check_template(cfg: dict[str, Any], key: str, where: str = SECTION) -> str:
    """``cfg[key]`` as a prompt template: a string whose ``{...}`` fields are all in
    :data:`PLACEHOLDERS` (ConfigError naming the key, the bad field and the allowed ones)."""
    t = cfg[key]
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    if not isinstance(t, str) or not t.strip():
        raise ConfigError(f"params: {where}.{key} must be a non-empty string, got {t!r}")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(t) if f is not None]
        for f in fields:
            if f not in PLACEHOLDERS:
                raise ConfigError(f"params: {where}.{key}: unknown placeholder {{{f}}} in {t!r} "
                                  f"(allowed: {allowed}; write {{{{ and }}}} for literal braces)")
        t.format(**{p: "x" for p in PLACEHOLDERS})
    except (ValueError, IndexError, KeyError) as e:
        raise ConfigError(f"params: {where}.{key}: malformed template {t!r} ({e}; allowed "
                          f"placeholders: {allowed})") from None
    return t


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
    from weakhoi.artifacts import artifact_kind, check_replaceable
    from weakhoi.clip import build_knowledge_bank, write_knowledge_bank

    cfg = resolve_config(section(load_params(params), SECTION, params))
    check_replaceable(out, artifact_kind(out, "knowledge_bank"))   # before any work
    vocab = vocabulary_for(dataset, annotations)
    kb = build_knowledge_bank(
        vocab, kind=cfg["bank"], model=cfg["model"], pretrained=cfg["pretrained"],
        template=cfg["template"], no_interaction_template=cfg["no_interaction_template"],
        vcoco_obj_template=cfg["vcoco_obj_template"], vcoco_instr_template=cfg["vcoco_instr_template"],
        batch_size=cfg["batch_size"], device=cfg["device"], seed=cfg["seed"],
        npy_path=cfg["npy_path"], npy_normalize=cfg["npy_normalize"], cache_dir=cfg["cache_dir"])
    write_knowledge_bank(out, kb, cfg, inputs=[annotations] if annotations is not None else [],
                         extra={"dataset": dataset})
    record_run(out, "encode", {"shape": list(kb.bank.shape)})
    typer.echo(f"knowledge bank {tuple(kb.bank.shape)} ({cfg['bank']}, {cfg['model']}, "
               f"pretrained={kb.attrs['pretrained']}) -> {out}")
