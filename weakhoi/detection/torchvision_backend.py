"""Faster R-CNN ResNet-50 FPN (COCO) from torchvision, as in the paper.

Weights come from torch hub's cache (``'DEFAULT'`` / ``'COCO_V1'``), from a local state-dict
file, or nowhere (``'none'``: random init, for tests only). Nothing is downloaded: when the
file is absent an :class:`AssetMissingError` says where to put it.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..data.records import HOIDataset
from ..errors import AssetMissingError, ConfigError, DataError
from ..vocab import coco91_to_object
from .common import ImageDetections, Proposals, map_labels

NAMED_WEIGHTS = ("DEFAULT", "COCO_V1")


def hub_checkpoint_path(name: str = "COCO_V1") -> Path:
    """Where torch hub keeps the named torchvision weights: ``<hub dir>/checkpoints/<file>``."""
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights as W

    url = W[name].url if name != "DEFAULT" else W.DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def resolve_weights(weights: str | Path) -> Path | None:
    """``'none'`` -> None; ``'DEFAULT'``/``'COCO_V1'`` -> the cached hub file; else a local path.
    AssetMissingError (no network access attempted) when the file does not exist."""
    w = str(weights)
    if w.lower() == "none":
        return None
    if w in NAMED_WEIGHTS:
        path = hub_checkpoint_path(w)
        if not path.is_file():
            raise AssetMissingError(
                f"Faster R-CNN weights {w} not found at {path} (no download is attempted). Put "
                f"the file {path.name} (from {_url(w)}) there, or pass the path of a local copy "
                f"as the weights")
        return path
    path = Path(w).expanduser()
    if not path.is_file():
        raise AssetMissingError(
            f"Faster R-CNN checkpoint file {path} does not exist (expected a "
            f"torchvision state dict such as fasterrcnn_resnet50_fpn_coco-258fb6c6.pth)")
    return path


def _url(name: str) -> str:
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights as W

    return W[name].url


def build_detector(weights: str | Path = "DEFAULT", box_score_thresh: float = 0.05,
                   box_nms_thresh: float = 0.5, detections_per_img: int = 100,
                   min_size: int = 800, max_size: int = 1333) -> nn.Module:
    """Faster R-CNN R50-FPN with 91 COCO classes in eval mode, weights resolved offline.

    The COCO_V1 checkpoint was trained with frozen batch norm at eps 0; the plain BatchNorm2d
    layers of the un-pretrained builder are used in eval mode with eps set to 0, which is the
    same function."""
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    path = resolve_weights(weights)
    model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91,
                                    box_score_thresh=box_score_thresh, box_nms_thresh=box_nms_thresh,
                                    box_detections_per_img=detections_per_img,
                                    min_size=min_size, max_size=max_size)
    if path is not None:
        try:
            state = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as e:  # corrupt file, not a tensor pickle, ...
            raise DataError(f"cannot read detector checkpoint {path}: {e}") from None
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        if not isinstance(state, dict):
            raise DataError(f"detector checkpoint {path}: expected a state dict")
        res = model.load_state_dict(state, strict=False)
        missing = [k for k in res.missing_keys if not k.endswith("num_batches_tracked")]
        if missing or res.unexpected_keys:
            bad = (missing or res.unexpected_keys)[:3]
            raise DataError(f"detector checkpoint {path} does not fit Faster R-CNN R50-FPN "
                            f"(missing {len(missing)}, unexpected {len(res.unexpected_keys)} keys, "
                            f"e.g. {bad})")
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps = 0.0
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _load_image(path: Path) -> torch.Tensor:
    """RGB image -> [3, H, W] float in [0, 1]."""
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    try:
        with Image.open(path) as im:
            t = pil_to_tensor(im.convert("RGB"))
    except OSError as e:
        raise DataError(f"cannot read image {path}: {e}") from None
    return t.float().div_(255.0)


@torch.no_grad()
def detect_images(model: nn.Module, paths: Sequence[Path], sizes: np.ndarray, label_map: np.ndarray,
                  batch_size: int = 4, device: str = "cpu", progress: bool = True
                  ) -> list[ImageDetections]:
    """Run ``model`` over images; boxes in the annotated size ``sizes`` [n, 2] (w, h) (rescaled
    with a warning when the file's size differs), labels mapped with ``label_map`` [91]."""
    if batch_size < 1:
        raise ConfigError(f"detect.batch_size must be >= 1, got {batch_size}")
    dev = torch.device(device)
    model = model.to(dev)
    out: list[ImageDetections] = []
    for start in tqdm(range(0, len(paths), batch_size), desc="detect", unit="batch",
                      disable=not progress or None):
        chunk = paths[start:start + batch_size]
        imgs = [_load_image(p) for p in chunk]
        results = model([im.to(dev) for im in imgs])
        for k, (im, r) in enumerate(zip(imgs, results)):
            i = start + k
            boxes = r["boxes"].float().cpu().numpy()  # [R, 4] in file pixels
            h, w = im.shape[-2:]
            aw, ah = sizes[i]
            if (w, h) != (aw, ah):
                warnings.warn(f"{chunk[k]}: file is {w}x{h}, annotation says {aw}x{ah}; "
                              f"rescaling boxes", stacklevel=2)
                boxes = boxes * np.array([aw / w, ah / h, aw / w, ah / h], dtype=np.float32)
            det = ImageDetections.from_arrays(boxes, r["scores"].cpu().numpy(), r["labels"].cpu().numpy())
            out.append(map_labels(det, label_map, source=str(chunk[k])))
    return out


def detect_torchvision(dataset: HOIDataset, weights: str | Path = "DEFAULT", batch_size: int = 4,
                       device: str = "cpu", box_score_thresh: float = 0.05, box_nms_thresh: float = 0.5,
                       detections_per_img: int = 100, min_size: int = 800, max_size: int = 1333,
                       progress: bool = True, model: nn.Module | None = None) -> Proposals:
    """Proposals of every image of ``dataset`` from the COCO Faster R-CNN (before the common
    post-processing). COCO classes outside the dataset vocabulary are dropped. ``model``
    overrides the built detector (any module with torchvision's detection interface)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"detect.device: {device} requested but CUDA is not available")
    if model is None:
        model = build_detector(weights, box_score_thresh, box_nms_thresh, detections_per_img,
                               min_size, max_size)
    paths = [dataset.image_path(i) for i in range(len(dataset))]  # DataError early if one is missing
    sizes = dataset.image_sizes  # [n, 2] (w, h)
    dets = detect_images(model, paths, sizes, coco91_to_object(dataset.vocab), batch_size, device, progress)
    meta = {"model": "fasterrcnn_resnet50_fpn", "weights": str(weights), "box_score_thresh": box_score_thresh,
            "box_nms_thresh": box_nms_thresh, "detections_per_img": detections_per_img,
            "min_size": min_size, "max_size": max_size}
    return Proposals(dataset.file_names, sizes, dets, "torchvision", meta)
