"""Pretrain the tiny CLIP on the SynHOI caption split: the offline CLIP prior (stage `pretrain`).

Draws the caption split in memory (SynHOI images from an independent seed stream, every
interaction class equally likely, natural-language captions with noise; params
`pretrain.captions`, scene params from `synhoi`), trains both CLIP towers with open_clip's
contrastive loss (params `pretrain`), and writes OUT/open_clip_model.safetensors (an open_clip
state dict: give it to `encode.pretrained` or any `load_clip` like a real CLIP checkpoint),
OUT/provenance.json (params, the caption split's hash, the checkpoint's sha256) and
OUT/captions.txt. Loss curves go to CURVES (dvclive's layout without its wall-clock column,
rebuilt from the history, so they are byte-reproducible); durations go to the run record.

`pretrain.enabled: auto` trains only when the dataset is SynHOI. Otherwise (HICO-DET or V-COCO
with real CLIP weights, or `enabled: false`) the stage is a no-op that writes a small marker
OUT/provenance.json (no checkpoint), so DVC's fixed stage graph costs nothing there.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from weakhoi.errors import ConfigError

from .params import DEFAULT_PARAMS, load_params, reject_unknown, section

SECTION = "pretrain"
#: Keys of the `synhoi` section the caption split's scenes are drawn with.
SCENE_KEYS = ("min_size", "max_size", "distractor_rate", "decoy_rate", "bystander_rate",
              "no_interaction_rate", "noise_std")
#: Stage-level keys of `pretrain` that are not training-recipe keys.
STAGE_KEYS = ("enabled", "workers", "captions")


def resolve(params: dict[str, Any], dataset: str, params_path: Path | str = DEFAULT_PARAMS) -> dict[str, Any]:
    """The stage's settings from params: ``enabled`` (bool, ``auto`` resolved for
    ``dataset``), ``workers``, and when enabled ``recipe`` (PretrainConfig), ``captions``
    (CaptionConfig), ``scene`` (SynHOIConfig) and ``params`` (what is recorded)."""
    from weakhoi.data.synhoi import CaptionConfig, SynHOIConfig
    from weakhoi.pretrain import PretrainConfig

    raw = section(params, SECTION, params_path)
    reject_unknown(raw, [*STAGE_KEYS, *PretrainConfig.__dataclass_fields__], SECTION)
    enabled = raw.get("enabled", "auto")
    if enabled not in ("auto", True, False):
        raise ConfigError(f"params: {SECTION}.enabled must be auto, true or false, got {enabled!r}")
    out: dict[str, Any] = {"enabled": dataset == "synhoi" if enabled == "auto" else enabled,
                           "enabled_param": enabled}
    workers = raw.get("workers", 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"params: {SECTION}.workers must be an integer >= 1, got {workers!r}")
    out["workers"] = workers
    if not out["enabled"]:
        return out
    recipe = {k: v for k, v in raw.items() if k not in STAGE_KEYS}
    caps = raw.get("captions") or {}
    if not isinstance(caps, dict):
        raise ConfigError(f"params: {SECTION}.captions must be a mapping")
    syn = section(params, "synhoi", params_path) if "synhoi" in params else {}
    try:      # the library's messages name <section>.<key>
        out["recipe"] = PretrainConfig(**recipe).validate(SECTION)     # keys checked above
        out["captions"] = CaptionConfig.from_mapping(caps, f"{SECTION}.captions")
        out["scene"] = SynHOIConfig(**{k: syn[k] for k in SCENE_KEYS if k in syn})
    except ConfigError as e:
        raise ConfigError(f"params: {e}") from None
    out["params"] = {"pretrain": {**out["recipe"].params(), "captions": out["captions"].params()},
                     "synhoi": {k: getattr(out["scene"], k) for k in SCENE_KEYS}}
    return out


def command(
    out: Path = typer.Option(Path("artifacts/clip_prior"), "--out",
                             help="Output directory (replaced): open_clip_model.safetensors, "
                                  "provenance.json, captions.txt."),
    curves: Path = typer.Option(Path("metrics/pretrain"), "--curves",
                                help="Directory for the loss curves (metrics.json, plots/metrics/pretrain/*.tsv)."),
    dataset: str = typer.Option("synhoi", "--dataset",
                                help="Dataset kind of the pipeline (pretrain.enabled: auto trains on synhoi only)."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml with sections `pretrain` and `synhoi`."),
) -> None:
    """Pretrain the tiny CLIP contrastively on the SynHOI caption split."""
    from tqdm import tqdm

    from weakhoi.artifacts import check_replaceable
    from weakhoi.data.synhoi import generate_captions
    from weakhoi.engine.log import CURVES_KIND, write_curves
    from weakhoi.pretrain import (ARTIFACT_TYPE, PRIOR_KIND, SCHEMA_VERSION, prior_provenance,
                                  pretrain_clip, write_prior)

    from .runlog import record_run

    cfg = resolve(load_params(params), dataset, params)
    check_replaceable(out, PRIOR_KIND, [params])                         # before any work
    check_replaceable(curves, CURVES_KIND, [params])
    if not cfg["enabled"]:
        marker = {"artifact_type": ARTIFACT_TYPE, "schema_version": SCHEMA_VERSION, "enabled": False,
                  "dataset": dataset, "params": {"pretrain": {"enabled": cfg["enabled_param"]}},
                  "reason": "pretrain.enabled is false, or auto with a dataset other than synhoi: "
                            "the pipeline uses real CLIP weights (encode.pretrained)"}
        write_prior(out, None, marker)
        write_curves(curves, [], prefix="pretrain")
        record_run(out, "pretrain", {"enabled": False})
        typer.echo(f"pretrain disabled for dataset {dataset!r} (pretrain.enabled: "
                   f"{cfg['enabled_param']}); marker written to {out}/provenance.json")
        return
    t0 = time.perf_counter()
    caps = cfg["captions"]
    with tqdm(total=caps.num, desc="captions", unit="img", disable=None) as bar:
        split = generate_captions(cfg["scene"], caps, workers=cfg["workers"], progress=bar.update)
    t1 = time.perf_counter()
    result = pretrain_clip(split.images, split.captions, cfg["recipe"])
    t2 = time.perf_counter()
    history = [{"step": int(h["step"]) + 1, **{k: h[k] for k in ("loss", "lr", "logit_scale", "image_size")}}
               for h in result.history]
    write_curves(curves, history, prefix="pretrain")
    prov = prior_provenance(cfg["params"], split, result, dataset)
    doc = write_prior(out, result, prov, split.captions)
    t3 = time.perf_counter()
    record_run(out, "pretrain", {"seconds_captions": round(t1 - t0, 2), "seconds_train": round(t2 - t1, 2),
                                 "seconds_total": round(t3 - t0, 2),
                                 "final_loss": prov["training"]["final_loss"]})
    typer.echo(f"CLIP prior {cfg['recipe'].model}: {caps.num} captions in {t1 - t0:.1f} s, "
               f"{cfg['recipe'].steps} steps ({prov['training']['epochs']:.1f} epochs) in {t2 - t1:.1f} s, "
               f"final loss {prov['training']['final_loss']:.3f} -> {out}/{doc['checkpoint']['file']} "
               f"(sha256 {doc['checkpoint']['sha256'][:12]})")
