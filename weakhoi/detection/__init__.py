"""Object proposals per image: three backends, one result type, one post-processing.

* ``torchvision``: COCO Faster R-CNN R50-FPN (the paper's detector), weights offline.
* ``precomputed``: per-image JSON files published by other HOI projects.
* ``simulated``: ground-truth boxes with seeded detector-like noise (SynHOI default).

:func:`run_detection` runs one backend then :func:`postprocess` (score threshold, class-wise
NMS, top-k); :func:`write_proposals` stores the ``proposals`` artifact.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..data.io import check_image_headers
from ..data.records import HOIDataset
from ..errors import ConfigError
from .common import (ARTIFACT_TYPE, BACKENDS, ImageDetections, Proposals, ProposalsFile, map_labels,
                     open_proposals, postprocess, postprocess_all, read_proposals, write_proposals)
from .precomputed import import_precomputed, read_detection_file
from .simulated import SimulationParams, ground_truth_boxes, simulate_detections, simulate_image

# The torchvision backend (torch, torchvision) is imported on first use only, so that commands
# that never run a detector (evaluate, spatial, ...) start fast.
_TORCHVISION_NAMES = ("build_detector", "detect_images", "detect_torchvision", "hub_checkpoint_path",
                      "resolve_weights")


def __getattr__(name: str) -> Any:
    if name in _TORCHVISION_NAMES:
        from . import torchvision_backend
        return getattr(torchvision_backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ARTIFACT_TYPE", "BACKENDS", "ImageDetections", "Proposals", "SimulationParams",
    "build_detector", "detect_images", "detect_torchvision", "ground_truth_boxes",
    "hub_checkpoint_path", "import_precomputed", "map_labels", "open_proposals", "postprocess",
    "postprocess_all", "ProposalsFile",
    "read_detection_file", "read_proposals", "resolve_weights", "run_detection",
    "simulate_detections", "simulate_image", "write_proposals",
]


def run_detection(dataset: HOIDataset, backend: str,
                  backend_params: Mapping[str, Any] | SimulationParams | None = None,
                  score_threshold: float = 0.2, nms_threshold: float = 0.5, max_detections: int = 100,
                  batch_size: int = 4, device: str = "cpu", progress: bool = True,
                  check_images: bool = True) -> Proposals:
    """Proposals for every image of ``dataset`` from ``backend`` followed by the common
    post-processing. ``backend_params``: keyword arguments of the backend (torchvision:
    weights, min_size, max_size; its internal box_score_thresh / box_nms_thresh /
    detections_per_img default to ``score_threshold`` / ``nms_threshold`` / ``max_detections``;
    precomputed: dir, label_space, box_format, missing; simulated: a validated
    :class:`SimulationParams`, or a mapping of its fields, validated here).

    First, whatever the backend, the dataset's image directory and every listed image are
    checked (exist, readable header; DataError naming the first bad one), so a broken image
    stops the first stage rather than training; ``check_images=False`` skips it (tests on
    datasets without images)."""
    if check_images:
        check_image_headers(dataset.records, dataset.image_root, dataset.source or dataset.name)
    if backend == "simulated":
        params = backend_params if isinstance(backend_params, SimulationParams) else \
            SimulationParams.from_mapping(backend_params or {}, "backend_params")
        props = simulate_detections(dataset, params)
        return postprocess_all(props, score_threshold, nms_threshold, max_detections)
    bp = dict(backend_params or {})
    if backend == "torchvision":
        bp.setdefault("box_score_thresh", score_threshold)
        bp.setdefault("box_nms_thresh", nms_threshold)
        bp.setdefault("detections_per_img", max_detections)
        from .torchvision_backend import detect_torchvision
        props = detect_torchvision(dataset, batch_size=batch_size, device=device, progress=progress, **bp)
    elif backend == "precomputed":
        if "dir" not in bp:
            raise ConfigError("run_detection: backend precomputed needs backend_params['dir']")
        directory = Path(bp.pop("dir"))
        props = import_precomputed(directory, dataset.file_names, dataset.image_sizes, dataset.vocab, **bp)
    else:
        raise ConfigError(f"run_detection: backend {backend!r} not in {BACKENDS}")
    return postprocess_all(props, score_threshold, nms_threshold, max_detections)
