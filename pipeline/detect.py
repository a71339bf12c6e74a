"""Object proposals per image (stage `detect`).

Runs one detection backend over a dataset split and writes a `proposals` artifact (HDF5):
`file_names`, `image_sizes`, ragged `detections` (boxes continuous xyxy, scores, labels as
dataset object indices). Backends: `torchvision` (COCO Faster R-CNN R50-FPN, weights offline),
`precomputed` (per-image JSON files), `simulated` (ground-truth boxes + seeded detector noise;
the default for SynHOI with backend `auto`). Then score threshold, class-wise NMS and top-k.
Params: section `detect` of --params (missing keys take the built-in defaults, listed in params.yaml).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

import typer

from weakhoi.detection import BACKENDS, SimulationParams, run_detection, write_proposals
from weakhoi.detection.precomputed import BOX_FORMATS, LABEL_SPACES, MISSING
from weakhoi.errors import AssetMissingError, ConfigError, DataError

from .params import DEFAULT_PARAMS, boolean, integer, load_params, number, reject_unknown, section
from .runlog import record_run

SECTION = "detect"
DEFAULTS: dict[str, Any] = {
    "backend": "auto",            # auto: simulated for synhoi, torchvision otherwise
    "score_threshold": 0.2,
    "nms_threshold": 0.5,
    "max_detections": 100,
    "batch_size": 4,
    "device": "cpu",
    "simulated_on_real_data": False,  # opt-in: simulated proposals on a dataset other than SynHOI
    "torchvision": {"weights": "DEFAULT", "min_size": 800, "max_size": 1333},
    "precomputed": {"dir": None, "label_space": "coco", "box_format": "continuous", "missing": "empty"},
    "simulated": SimulationParams().as_dict(),
}


def resolve_params(cfg: Mapping[str, Any], dataset: str, where: str = SECTION
                   ) -> tuple[dict[str, Any], dict[str, Any] | SimulationParams]:
    """Defaults merged with ``cfg`` and validated (ConfigError naming the key); ``backend: auto``
    resolved for ``dataset``. Returns (the effective section, recorded in provenance; the
    ``backend_params`` argument of `run_detection` for the selected backend)."""
    reject_unknown(cfg, DEFAULTS, where)
    out = copy.deepcopy(DEFAULTS)
    for key, value in cfg.items():
        if isinstance(DEFAULTS[key], dict):
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(f"params: {where}.{key} must be a mapping, got {value!r}")
            reject_unknown(value, DEFAULTS[key], f"{where}.{key}")
            out[key].update(value)
        else:
            out[key] = value
    if out["backend"] == "auto":
        out["backend"] = "simulated" if dataset == "synhoi" else "torchvision"
    if out["backend"] not in BACKENDS:
        raise ConfigError(f"params: {where}.backend must be one of auto, {', '.join(BACKENDS)}; "
                          f"got {out['backend']!r}")
    out["score_threshold"] = number(out, "score_threshold", 0.0, 1.0, where)
    out["nms_threshold"] = number(out, "nms_threshold", 0.0, 1.0, where)
    out["max_detections"] = integer(out, "max_detections", 0, where)
    out["batch_size"] = integer(out, "batch_size", 1, where)
    if not isinstance(out["device"], str) or not (out["device"] == "cpu" or out["device"].startswith("cuda")):
        raise ConfigError(f"params: {where}.device must be 'cpu' or 'cuda[:N]', got {out['device']!r}")
    for key in ("min_size", "max_size"):
        integer(out["torchvision"], key, 1, f"{where}.torchvision")
    if out["backend"] == "precomputed":
        pc = out["precomputed"]
        if not pc["dir"]:
            raise ConfigError(f"params: {where}.precomputed.dir is required with backend precomputed")
        for key, allowed in (("label_space", LABEL_SPACES), ("box_format", BOX_FORMATS), ("missing", MISSING)):
            if pc[key] not in allowed:
                raise ConfigError(f"params: {where}.precomputed.{key} must be one of "
                                  f"{', '.join(allowed)}; got {pc[key]!r}")
    backend_arg: dict[str, Any] | SimulationParams = dict(out[out["backend"]])
    if out["backend"] == "simulated":
        try:
            backend_arg = SimulationParams.from_mapping(out["simulated"], f"{where}.simulated")  # validates
        except ConfigError as e:
            raise ConfigError(f"params: {e}") from None
        boolean(out, "simulated_on_real_data", where)
        if dataset != "synhoi" and not out["simulated_on_real_data"]:
            raise ConfigError(
                f"params: {where}.backend simulated derives proposals from the ground-truth boxes of "
                f"dataset {dataset!r}, whose annotations list only boxes in annotated pairs: on a "
                f"training split that leaks box-level supervision into weak training. For a "
                f"diagnostic run (e.g. on the test split) set {where}.simulated_on_real_data: true; "
                f"the artifact records simulated=True")
    return out, backend_arg


def check_params(cfg: Mapping[str, Any], dataset: str, where: str = SECTION) -> dict[str, Any]:
    """The effective, validated `detect` section (see `resolve_params`)."""
    return resolve_params(cfg, dataset, where)[0]


def _load_dataset(kind: str, annotations: Path, images: Path) -> Any:
    from weakhoi.data.loaders import load_dataset  # lazy: only the command needs the readers

    return load_dataset(kind, annotations, images)


def command(
    dataset: str = typer.Option(..., "--dataset", help="Dataset kind: hicodet, synhoi or vcoco."),
    annotations: Path = typer.Option(..., "--annotations", help="Annotation file of the split."),
    images: Path = typer.Option(..., "--images", help="Image directory of the split (every "
                                "backend checks that each listed image exists and is readable)."),
    out: Path = typer.Option(..., "--out", help="Output `proposals` artifact (.h5)."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml; uses its `detect` section."),
) -> None:
    """Object proposals per image: torchvision / precomputed / simulated (params: detect.*)."""
    from weakhoi.artifacts import artifact_kind, check_replaceable

    raw = load_params(params)
    cfg, backend_arg = resolve_params(section(raw, SECTION, params) if SECTION in raw else {}, dataset)
    check_replaceable(out, artifact_kind(out, "proposals"))   # before any work
    inputs: list[Path] = [annotations]
    if cfg["backend"] == "torchvision":
        from weakhoi.detection.torchvision_backend import resolve_weights  # imports torch

        try:
            weights = resolve_weights(cfg["torchvision"]["weights"])  # before any work
        except AssetMissingError as e:
            raise AssetMissingError(f"{e} (params: {SECTION}.torchvision.weights: "
                                    f"/path/to/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth)") from e
        if weights is not None:
            inputs.append(weights)
    elif cfg["backend"] == "precomputed":
        directory = Path(cfg["precomputed"]["dir"])
        if not directory.is_dir():
            raise DataError(f"params: {SECTION}.precomputed.dir: {directory} is not a directory")
        inputs.append(directory)
    ds = _load_dataset(dataset, annotations, images)  # after the cheap checks above
    props = run_detection(ds, cfg["backend"], backend_arg, cfg["score_threshold"],
                          cfg["nms_threshold"], cfg["max_detections"], cfg["batch_size"], cfg["device"])
    write_proposals(out, props, dataset, ds.vocab, cfg, inputs=inputs)
    record_run(out, "detect", {"images": len(props), "detections": props.num_detections,
                               "backend": props.backend})
    typer.echo(f"wrote {out} ({len(props)} images, {props.num_detections} detections, "
               f"backend {props.backend})")
