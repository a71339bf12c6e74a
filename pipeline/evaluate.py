"""Evaluate HOI detections with the official protocols: `hicodet` (mAP Full/Rare/Non-Rare, Default
or Known-Object setting, as Chao et al.'s MATLAB code) and `vcoco` (agent and role AP, scenarios
1 and 2, as Gupta & Malik's vsrl_eval.py) read detection JSON files; the protocols have no free
parameters, so they read no params.yaml section. `scores` is the pipeline's `evaluate` stage:
it fuses a `hoi_scores` artifact (params: train.gamma, evaluate.*) and evaluates it directly.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import evaluate_stage
from .runlog import record_run

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help=__doc__)
app.command("scores", help=evaluate_stage.__doc__)(evaluate_stage.command)


@app.command("hicodet")
def hicodet(
    annotations: Path = typer.Option(..., "--annotations", "-a",
                                     help="HICO-DET test annotations: instances_test2015.json, anno_bbox.mat, "
                                          "test_hico.json (or a SynHOI instances_test.json)."),
    detections: Path = typer.Option(..., "--detections", "-d",
                                    help="Detections JSON: {\"images\": [{\"file_name\", \"boxes_h\" [K,4], "
                                         "\"boxes_o\" [K,4], \"hoi\" [K] (0-BASED HOI ids, vocabulary order), "
                                         "\"scores\" [K]}]}; boxes in the annotation frame (1-based pixel indices) "
                                         "unless top-level \"box_convention\": \"continuous\"."),
    known_object: bool = typer.Option(False, "--known-object/--default",
                                      help="Known-Object setting: keep a class's detections only in images whose "
                                           "image-level labels contain its object."),
    image_labels: Optional[Path] = typer.Option(None, "--image-labels",
                                                help="HICO's anno.mat (anno_test, value 1 = positive) for the "
                                                     "Known-Object setting; default: objects of each image's "
                                                     "annotated pairs."),
    dataset_kind: str = typer.Option("hicodet", "--dataset", help="hicodet or synhoi (annotation reader)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Write metrics JSON: full/rare/non_rare (percent), per_class_ap "
                                               "(fractions), setting, counts. An existing JSON file is replaced; "
                                               "a directory, another kind of file or an input is refused."),
) -> None:
    """HICO-DET mAP (official MATLAB protocol: 11-point AP, min(IoU_h, IoU_o) >= 0.5 with the
    inclusive-pixel IoU, no fallback matching, all classes in the means). HOI ids are 0-based."""
    from weakhoi.artifacts import JSON_KIND, check_replaceable
    from weakhoi.data.loaders import load_dataset
    from weakhoi.eval.detections import read_detections_json
    from weakhoi.eval.hicodet import evaluate_hicodet, image_objects_from_anno_mat, write_metrics

    if output is not None:   # before any work: never replace a directory or one of the inputs
        check_replaceable(output, JSON_KIND, [annotations, detections, image_labels])

    # the evaluation never uses image sizes: layouts without them (test_hico.json) need no images
    dataset = load_dataset(dataset_kind, annotations, split="test", require_sizes=False)
    dets = read_detections_json(detections, dataset)
    objs = None
    if image_labels is not None:
        if not known_object:
            typer.secho("note: --image-labels only matters with --known-object", err=True)
        objs = image_objects_from_anno_mat(image_labels, dataset)
    result = evaluate_hicodet(dataset, dets, known_object=known_object, image_objects=objs)
    typer.echo(result.table())
    if output is not None:
        labels = None
        if known_object:
            labels = str(image_labels) if image_labels is not None else "objects of the annotated pairs (fallback)"
        write_metrics(output, result, extra={"annotations": str(annotations), "detections": str(detections),
                                             "known_object_labels": labels})
        record_run(output, "evaluate hicodet", {"full": result.full})
        typer.echo(f"wrote {output}")


@app.command("vcoco")
def vcoco(
    detections: Path = typer.Option(..., "--detections", "-d",
                                    help="JSON list, one entry per (image, person): image_id, person_box "
                                         "[x1,y1,x2,y2], '<action>_agent' score, '<action>_<role>' "
                                         "[x1,y1,x2,y2,score]; missing keys/null/NaN = no prediction. Boxes "
                                         "in COCO pixel coordinates as vsrl_eval.py expects."),
    vcoco_json: Optional[Path] = typer.Option(None, "--vcoco-json", help="Official V-COCO file, e.g. "
                                                                          "vcoco_test.json (list of 26 action entries)."),
    coco_json: Optional[Path] = typer.Option(None, "--coco-json", help="COCO 2014 instances json holding the split's "
                                                                        "images (e.g. instances_vcoco_all_2014.json)."),
    split_ids: Optional[Path] = typer.Option(None, "--split-ids", help="Image id file of the split (vcoco_test.ids)."),
    annotations: Optional[Path] = typer.Option(None, "--annotations",
                                               help="Instead of the three official files: instances_vcoco_test.json; "
                                                    "the ground truth is then built from its pairs (an approximation "
                                                    "of the official one, see README)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Write metrics JSON (percent): agent_map, role_map_s1/s2 (25 "
                                               "action-roles), role_map_s1/s2_no_point (24), per-class APs. An "
                                               "existing JSON file is replaced; anything else is refused."),
) -> None:
    """V-COCO agent and role AP (official vsrl_eval.py semantics: all-point AP, scenario 1 and 2)."""
    from weakhoi.artifacts import JSON_KIND, check_replaceable, write_json
    from weakhoi.errors import ConfigError
    from weakhoi.eval.vcoco import evaluate_vcoco, load_vcoco_ground_truth, read_vcoco_detections_json

    official = (vcoco_json, coco_json, split_ids)
    if output is not None:   # before any work: never replace a directory or one of the inputs
        check_replaceable(output, JSON_KIND, [p for p in (*official, annotations, detections) if p is not None])
    if annotations is not None:
        if any(p is not None for p in official):
            raise ConfigError("give either --annotations or --vcoco-json/--coco-json/--split-ids")
        from weakhoi.data.loaders import load_dataset
        from weakhoi.eval.vcoco_gt import vcoco_ground_truth_from_dataset

        gt = vcoco_ground_truth_from_dataset(load_dataset("vcoco", annotations, split="test",
                                                          require_sizes=False))
        sources = {"annotations": str(annotations)}
    else:
        if any(p is None for p in official):
            raise ConfigError("V-COCO ground truth: --vcoco-json, --coco-json and --split-ids (or --annotations)")
        gt = load_vcoco_ground_truth(vcoco_json, coco_json, split_ids)
        sources = {"vcoco_json": str(vcoco_json), "coco_json": str(coco_json), "split_ids": str(split_ids)}
    dets = read_vcoco_detections_json(detections, gt)
    result = evaluate_vcoco(gt, dets)
    typer.echo(result.table())
    if output is not None:
        doc = result.to_json_dict()
        doc.update({**sources, "detections": str(detections)})
        write_json(output, doc, indent=1)
        record_run(output, "evaluate vcoco", {"agent_map": doc["agent_map"]})
        typer.echo(f"wrote {output}")
