"""Evaluate a `hoi_scores` artifact (stage `evaluate`): fuse the raw scores (paper §3.2.5 with
train.gamma and the evaluate.* switches) and evaluate with the official protocols, straight
from the artifact.

HICO-DET layout (--dataset hicodet or synhoi): mAP Full / Rare / Non-Rare in the Default and
Known-Object settings. V-COCO: role AP scenario 1 and 2 (and agent AP), with the official
ground truth when --vcoco-json/--coco-json/--split-ids are given, otherwise built from the
instances_vcoco_*.json annotations (a documented approximation: README, "Inference and
evaluation"). Writes METRICS (the paper's columns, percent), PER_CLASS (per-class AP, training
and test instances, rare flag), and under PLOTS_DIR per_class_ap_{rare,non_rare}.csv (DVC plot
data) and per_class_ap.png; prints the metrics table. Reads only train.gamma and the evaluate
section of --params.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import typer

from weakhoi.errors import ConfigError, DataError
from weakhoi.fusion import CLIP_MODES, FusionConfig

from .params import (DEFAULT_PARAMS, boolean, integer, load_params, number, reject_unknown, require,
                     section)

SECTION = "evaluate"
KEYS = ("use_global", "use_relatedness", "pair_softmax", "clip", "max_per_image")
HICO_KINDS = ("hicodet", "synhoi")


def fusion_config(params: Mapping[str, Any], path: Path | str = DEFAULT_PARAMS) -> FusionConfig:
    """FusionConfig from ``train.gamma`` and the ``evaluate`` section (ConfigError naming the
    key). Nothing else of params.yaml is read, so only these keys re-run the stage."""
    gamma = number(section(params, "train", path), "gamma", 0.0, 100.0, "train")
    cfg = section(params, SECTION, path)
    reject_unknown(cfg, KEYS, SECTION)
    flags = {k: boolean(cfg, k, SECTION) for k in ("use_global", "use_relatedness", "pair_softmax")}
    clip = require(cfg, "clip", SECTION)
    if clip not in CLIP_MODES:
        raise ConfigError(f"params: {SECTION}.clip must be one of {', '.join(CLIP_MODES)}, got {clip!r}")
    return FusionConfig(gamma=gamma, clip=clip, max_per_image=integer(cfg, "max_per_image", 0, SECTION),
                        **flags)


def describe(config: FusionConfig) -> str:
    on = lambda b: "on" if b else "off"  # noqa: E731
    return (f"gamma {config.gamma:g}, global {on(config.use_global)}, relatedness "
            f"{on(config.use_relatedness)}, pair softmax {on(config.pair_softmax)}, clip {config.clip}, "
            f"max/image {config.max_per_image or 'all'}")


def load_split(kind: str, annotations: Path, split: str):
    from weakhoi.data.loaders import load_dataset

    return load_dataset(kind, annotations, split=split, require_sizes=False)


def train_counts(kind: str, train_annotations: Path, test_vocab) -> tuple[np.ndarray, dict[str, int]]:
    """Training instances per HOI class [N] and per verb name, from the training split (whose
    HOI classes must be the test split's)."""
    train = load_split(kind, train_annotations, "train")
    v = train.vocab
    if not (np.array_equal(v.hoi_verb, test_vocab.hoi_verb) and np.array_equal(v.hoi_object, test_vocab.hoi_object)
            and v.verbs == test_vocab.verbs and v.objects == test_vocab.objects):
        raise DataError(f"{train_annotations}: its HOI classes differ from the test annotations'")
    verbs = np.concatenate([r.verb for r in train.records]) if len(train) else np.zeros(0, np.int64)
    per_verb = np.bincount(verbs, minlength=v.num_verbs)
    return train.hoi_counts(), {name: int(c) for name, c in zip(v.verbs, per_verb)}


def run(scores_path: Path, kind: str, annotations: Path, train_annotations: Path, config: FusionConfig,
        image_labels: Path | None = None, vcoco_official: tuple[Path, Path, Path] | None = None
        ) -> tuple[dict, dict]:
    """Evaluate; returns (metrics document, per-class document)."""
    from weakhoi.eval import from_scores, report
    from weakhoi.scores import read_hoi_scores

    scores = read_hoi_scores(scores_path)
    dataset = load_split(kind, annotations, "test")
    counts, verb_counts = train_counts(kind, train_annotations, dataset.vocab)
    info: dict[str, Any] = {"dataset": kind, "scores": str(scores_path), "annotations": str(annotations),
                            "train_annotations": str(train_annotations), "fusion": config.as_dict(),
                            "images": len(dataset)}
    if kind in HICO_KINDS:
        objs = None
        if image_labels is not None:
            from weakhoi.eval.hicodet import image_objects_from_anno_mat

            objs = image_objects_from_anno_mat(image_labels, dataset)
        default, known = from_scores.evaluate_hicodet_scores(scores, dataset, config, objs)
        metrics = report.hicodet_metrics(default, known)
        rows = report.hicodet_per_class(default, known, dataset.vocab, counts)
        info["known_object_labels"] = str(image_labels) if image_labels else "objects of the annotated pairs (fallback)"
        info["detections"] = int(default.num_detections.sum())
    elif kind == "vcoco":
        gt = None
        if vcoco_official is not None:
            from weakhoi.eval.vcoco import load_vcoco_ground_truth

            gt = load_vcoco_ground_truth(*vcoco_official)
            info["ground_truth"] = "official: " + ", ".join(str(p) for p in vcoco_official)
        else:
            info["ground_truth"] = f"built from {annotations} (approximation, see README)"
        result = from_scores.evaluate_vcoco_scores(scores, dataset, config, gt)
        metrics = report.vcoco_metrics(result)
        rows = report.vcoco_per_class(result, verb_counts)
        info["detections"] = int(result.num_detections)
    else:
        raise DataError(f"unknown dataset kind {kind!r} (expected hicodet, synhoi or vcoco)")
    return metrics, {**info, "classes": rows}


def command(
    scores: Path = typer.Option(..., "--scores", help="`hoi_scores` artifact of the test split (from `weakhoi infer`)."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset kind: hicodet, synhoi or vcoco."),
    annotations: Path = typer.Option(..., "--annotations", help="Test annotations (the file infer read)."),
    train_annotations: Path = typer.Option(..., "--train-annotations",
                                           help="Training annotations: per-class training frequency for the plots."),
    metrics: Path = typer.Option(..., "--metrics", help="Output metrics JSON (the paper's columns, percent)."),
    per_class: Path = typer.Option(..., "--per-class", help="Output per-class JSON (AP, instances, rare)."),
    plots_dir: Path = typer.Option(..., "--plots-dir", help="Output directory for the per-class plot data and PNG."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml; reads train.gamma and the evaluate section."),
    image_labels: Optional[Path] = typer.Option(None, "--image-labels",
                                                help="HICO-DET anno.mat (anno_test) for the Known-Object setting; "
                                                     "default: objects of each image's annotated pairs."),
    vcoco_json: Optional[Path] = typer.Option(None, "--vcoco-json", help="V-COCO: official vcoco_test.json (with "
                                                                          "--coco-json and --split-ids)."),
    coco_json: Optional[Path] = typer.Option(None, "--coco-json", help="V-COCO: COCO 2014 instances json."),
    split_ids: Optional[Path] = typer.Option(None, "--split-ids", help="V-COCO: split image id file."),
) -> None:
    """Fuse the raw scores and evaluate (params: train.gamma, evaluate.*)."""
    from weakhoi.artifacts import JSON_KIND, check_replaceable, write_json
    from weakhoi.eval import report

    from .runlog import record_run

    reads = [scores, annotations, train_annotations, params, image_labels, vcoco_json, coco_json, split_ids]
    reads = [p for p in reads if p is not None]
    for out in (metrics, per_class):                                     # before any work
        check_replaceable(out, JSON_KIND, reads)
    check_replaceable(plots_dir, report.PLOTS_KIND, reads)
    config = fusion_config(load_params(params), params)
    official = (vcoco_json, coco_json, split_ids)
    if any(p is not None for p in official):
        if dataset != "vcoco" or any(p is None for p in official):
            raise ConfigError("--vcoco-json, --coco-json and --split-ids go together, with --dataset vcoco")
    if image_labels is not None and dataset not in HICO_KINDS:
        raise ConfigError("--image-labels is for the HICO-DET layout (--dataset hicodet)")
    doc, per = run(scores, dataset, annotations, train_annotations, config, image_labels,
                   official if vcoco_json is not None else None)
    write_json(metrics, doc, indent=1)
    write_json(per_class, per, indent=1)
    name = "SynHOI" if dataset == "synhoi" else "HICO-DET" if dataset == "hicodet" else "V-COCO"
    report.write_plot_data(plots_dir, per["classes"], f"{name}: per-class AP vs training instances")
    typer.echo(report.metrics_table(doc, f"{name} test, {per['images']} images, {per['detections']} "
                                         f"detections (fusion: {describe(config)})"))
    record_run(metrics, "evaluate", {"metrics": doc})
    typer.echo(f"wrote {metrics}, {per_class}, {plots_dir}/")
