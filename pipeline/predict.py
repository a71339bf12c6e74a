"""Detect human-object interactions in your own images with a trained model.

For each IMAGE (any JPEG/PNG of any size): detections from --detections DIR (one
`<image stem>.json` per image with `boxes`, `scores`, `labels`, read as the `precomputed`
backend reads them: detect.precomputed.label_space / box_format) or else from the torchvision
detector (detect.torchvision.weights), then the `detect` post-processing and the `spatial`
pair selection of --params, the network, the score fusion (train.gamma and the `evaluate`
switches; the global / relatedness factors only when the model was trained with them), and
the top-K predictions. Writes OUT/<stem>.json (boxes in the image's pixels, continuous
x1,y1,x2,y2; verb, object, HOI class, score) and OUT/<stem>.png (the picture with the top
predictions). An unreadable or missing image is reported by name and the others are still
processed; the exit status is 1 if any image failed.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from weakhoi.errors import ConfigError, WeakHOIError

from .params import DEFAULT_PARAMS, load_params, section


def _detector(params: dict, params_path: Path, vocab, detections: Optional[Path], device: str):
    """A function image path -> raw ImageDetections (dataset object labels)."""
    import numpy as np

    from weakhoi.detection import map_labels
    from weakhoi.detection.precomputed import detection_file, read_detection_file
    from weakhoi.vocab import coco91_to_object

    from .detect import check_params

    raw = section(params, "detect", params_path) if "detect" in params else {}
    cfg = check_params({k: v for k, v in raw.items() if k != "backend"}, "synhoi")
    if detections is not None:
        if not detections.is_dir():
            raise ConfigError(f"predict: --detections {detections} is not a directory")
        pc = cfg["precomputed"]
        table = coco91_to_object(vocab) if pc["label_space"] == "coco" else np.arange(vocab.num_objects)

        def from_files(path: Path):
            f = detection_file(detections, path.name)
            if not f.is_file():
                raise WeakHOIError(f"no detection file for {path.name} (looked for {f})")
            return map_labels(read_detection_file(f, pc["box_format"]), table, source=str(f))
        return cfg, from_files
    from weakhoi.detection.torchvision_backend import build_detector, detect_images, resolve_weights

    tv = cfg["torchvision"]
    weights = resolve_weights(tv["weights"])
    model = build_detector(weights, box_score_thresh=cfg["score_threshold"],
                           box_nms_thresh=cfg["nms_threshold"],
                           detections_per_img=cfg["max_detections"], min_size=tv["min_size"],
                           max_size=tv["max_size"]).eval()
    table = coco91_to_object(vocab)

    def from_detector(path: Path):
        from weakhoi.data.io import read_image_size

        w, h = read_image_size(path, "predict")
        return detect_images(model, [path], np.array([[w, h]]), table, 1, device, progress=False)[0]
    return cfg, from_detector


def command(
    images: list[Path] = typer.Argument(..., help="Image files (JPEG/PNG)."),
    model: Path = typer.Option(..., "--model", help="`model` artifact from `train`."),
    detections: Optional[Path] = typer.Option(None, "--detections", help="Directory of per-image "
                                              "detection JSON files (default: run the torchvision "
                                              "detector)."),
    out: Path = typer.Option(Path("predictions"), "--out", help="Output directory (created; files "
                             "in it are replaced only if weakhoi wrote them)."),
    top_k: int = typer.Option(10, "--top-k", help="Predictions kept per image."),
    draw: int = typer.Option(5, "--draw", help="Predictions drawn in the PNG."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml: detect, spatial, "
                                "train.gamma and evaluate sections."),
) -> None:
    """Detect HOIs in images with a trained model; JSON + rendered PNG per image."""
    from weakhoi.artifacts import OUTPUT_MARKER, check_replaceable, directory_kind, write_json
    from weakhoi.model.io import load_model, vocabulary_from_dict
    from weakhoi.predict import Predictor, render_prediction

    from .evaluate_stage import fusion_config
    from .spatial import check_params as spatial_params
    from .viz import save_png

    if top_k < 1:
        raise ConfigError(f"predict: --top-k must be >= 1, got {top_k}")
    # before any work: OUT is new, empty, or a predictions directory weakhoi wrote; never an input
    check_replaceable(out, directory_kind("predictions"), [*images, model, params, detections])
    raw = load_params(params)
    net, attrs = load_model(model, device)
    if "vocabulary" not in attrs or not isinstance(attrs["vocabulary"], dict):
        raise ConfigError(f"{model}: model artifact without a vocabulary (re-run `train`)")
    vocab = vocabulary_from_dict(attrs["vocabulary"])
    fusion = fusion_config(raw, params)
    loss = (attrs.get("params") or {}).get("loss", {})
    fusion = dataclasses.replace(fusion, max_per_image=0,
                                 use_global=fusion.use_global and net.cfg.hoi_recognition,
                                 use_relatedness=fusion.use_relatedness and bool(loss.get("src", True)))
    det_cfg, detect = _detector(raw, params, vocab, detections, device)
    pair_params = spatial_params(section(raw, "spatial", params))
    image_size = int((attrs.get("data_config") or {}).get("image_size", 256))
    predictor = Predictor(net, vocab, image_size, pair_params,
                          {k: det_cfg[k] for k in ("score_threshold", "nms_threshold", "max_detections")},
                          fusion, device)
    if not (out / OUTPUT_MARKER).is_file():
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / OUTPUT_MARKER, {"kind": "predictions", "written_by": "weakhoi"},
                   sort_keys=True, indent=None)
    failed: list[str] = []
    for path in images:
        try:
            pred = predictor(path, detect(path), top_k)
            write_json(out / f"{path.stem}.json", pred.to_json())
            save_png(render_prediction(path, pred, draw), out / f"{path.stem}.png")
        except WeakHOIError as e:
            failed.append(str(path))
            typer.secho(f"error: {path}: {e}", fg=typer.colors.RED, err=True)
            continue
        best = pred.entries[0] if pred.entries else None
        typer.echo(f"{path}: {pred.num_detections} detections, {pred.num_pairs} pairs"
                   + (f", best: {best['hoi_name']} {best['score']:.3f}" if best else ", no HOI"))
    typer.echo(f"wrote {len(images) - len(failed)} of {len(images)} images to {out}")
    if failed:
        sys.exit(1)
