"""Export fused HOI detections of a `hoi_scores` artifact as interchange JSON for other tools.

The raw scores are fused with train.gamma and the evaluate.* switches of --params (as the
`evaluate` stage does). HICO-DET layout (--dataset hicodet or synhoi): the interchange JSON that
`weakhoi evaluate hicodet` reads (one entry per scored human box, object box and 0-based HOI
class; boxes as 1-based pixel indices, "box_convention": "hico"). V-COCO: the official
vsrl_eval detection list (one entry per image and detected person; see README, "Inference and
evaluation") that `weakhoi evaluate vcoco` reads.
"""
from __future__ import annotations

from pathlib import Path

import typer

from .evaluate_stage import fusion_config, load_split
from .params import DEFAULT_PARAMS, load_params


def command(
    scores: Path = typer.Option(..., "--scores", help="`hoi_scores` artifact (from `weakhoi infer`)."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset kind: hicodet, synhoi or vcoco."),
    annotations: Path = typer.Option(..., "--annotations", help="The annotations infer read (file names, "
                                                                "classes, V-COCO image ids)."),
    out: Path = typer.Option(..., "--out", help="Output JSON."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml; reads train.gamma and the "
                                                                 "evaluate section."),
) -> None:
    """Fuse the raw scores and write the detections as JSON (params: train.gamma, evaluate.*)."""
    from weakhoi.artifacts import JSON_KIND, check_replaceable, write_json
    from weakhoi.errors import DataError
    from weakhoi.eval import from_scores
    from weakhoi.eval.detections import write_detections_json
    from weakhoi.eval.vcoco_gt import dataset_image_ids
    from weakhoi.scores import read_hoi_scores

    if dataset not in ("hicodet", "synhoi", "vcoco"):
        raise DataError(f"unknown dataset kind {dataset!r} (expected hicodet, synhoi or vcoco)")
    check_replaceable(out, JSON_KIND, [scores, annotations, params])      # before any work
    config = fusion_config(load_params(params), params)
    art = read_hoi_scores(scores)
    ds = load_split(dataset, annotations, "test")
    from_scores.check_scores_match(art, ds)
    fused = from_scores.fuse_hoi_scores(art, config)
    if dataset == "vcoco":
        table = from_scores.vcoco_person_scores(art, fused, ds.vocab.verbs, ds.vocab.hoi_verb)
        write_json(out, from_scores.vcoco_detection_list(table, dataset_image_ids(ds)), indent=None)
        typer.echo(f"wrote {out} ({len(table)} person entries from {len(fused)} fused scores)")
    else:
        write_detections_json(out, art.file_names, from_scores.hoi_detections(art, fused))
        typer.echo(f"wrote {out} ({len(fused)} detections)")
