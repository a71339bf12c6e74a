"""Generate SynHOI, the synthetic default dataset (params: synhoi.*).

Writes OUT_DIR/instances_{train,test}.json (HICO-DET JSON layout with its own vocabulary) and
OUT_DIR/images/{train,test}/*.png, atomically (an interrupted run leaves no OUT_DIR behind).
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import typer
from tqdm import tqdm

from weakhoi.data.synhoi import SynHOIConfig, generate
from weakhoi.errors import ConfigError

from .params import load_params, reject_unknown, require, section
from .runlog import record_run

#: Keys of the ``synhoi`` section that must be present (the others default to SynHOIConfig's).
REQUIRED_KEYS = ("seed", "num_train", "num_test", "min_size", "max_size")


def config_from_params(params_path: Path) -> SynHOIConfig:
    """SynHOIConfig from the ``synhoi`` section of ``params_path`` (ConfigError naming the key)."""
    cfg = section(load_params(params_path), "synhoi", params_path)
    for key in REQUIRED_KEYS:
        require(cfg, key, "synhoi")
    reject_unknown(cfg, [f.name for f in fields(SynHOIConfig)], "synhoi")
    try:
        return SynHOIConfig(**cfg)  # validates the values; its messages name synhoi.<key>
    except ConfigError as e:
        raise ConfigError(f"params: {e}") from None


def command(
    out_dir: Path = typer.Option(..., "--out-dir", help="Directory to write the dataset to (a "
                                 "SynHOI directory there is replaced; anything else is refused)."),
    params: Path = typer.Option(Path("params.yaml"), "--params", help="params.yaml with a 'synhoi' section."),
) -> None:
    """Generate SynHOI (seeded; identical bytes for the same params)."""
    cfg = config_from_params(params)
    total = cfg.num_train + cfg.num_test
    with tqdm(total=total, desc="synhoi", unit="img", disable=None) as bar:
        summary = generate(cfg, out_dir, progress=bar.update)
    record_run(out_dir, "data", {"images": total})
    typer.echo(f"SynHOI written to {out_dir} (seed {cfg.seed})")
    typer.echo(f"  vocabulary: {summary['num_objects']} objects, {summary['num_verbs']} verbs, "
               f"{summary['num_hois']} HOI classes, {summary['num_rare']} rare (< {cfg.rare_threshold} train pairs)")
    for split in ("train", "test"):
        s = summary[split]
        typer.echo(f"  {split:5s}: {s['images']} images, {s['pairs']} pairs "
                   f"({s['no_interaction_pairs']} no_interaction), {s['classes_present']} classes present, "
                   f"distractor share {s['distractor_share']:.2f}, "
                   f"nearest-object mis-pairing {s['nearest_object_mispair_rate']:.2f}")
