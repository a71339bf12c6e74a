"""Per-image network inputs: the image resized for the network and its candidate pairs.

The precompute artifacts are read into memory once (:func:`load_image_pairs`): per image the
detections used by its candidate pairs (boxes in the image's own pixels, scores, labels), the
pairs as row indices into them and the 36-d spatial encodings. :class:`PairImages` then serves
one image at a time: the image read from disk, letterboxed to ``image_size`` (longer side =
``image_size``, aspect kept, padded bottom/right with CLIP's mean colour), boxes scaled into
that frame, and optionally mirrored horizontally, in which case the boxes are mirrored and the
spatial encoding is recomputed from the mirrored boxes with
:func:`weakhoi.spatial.spatial_encoding`.

Nothing here reads annotations: boxes come from the detector's proposals only.
:func:`collate_pairs` concatenates samples into the batch layout of
:class:`weakhoi.model.network.WeakHOINet`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ArtifactError, DataError
from ..spatial import DEFAULT_EPS, spatial_encoding

#: Letterbox padding colour (CLIP's mean, 0..255): zero after the backbone's normalisation.
PAD_COLOUR = (123, 117, 104)


@dataclass(frozen=True, eq=False)
class ImagePairs:
    """Candidate pairs of one image (from the ``proposals`` + ``pair_features`` artifacts)."""

    file_name: str
    width: int
    height: int
    boxes: np.ndarray      # [R, 4] float32 continuous xyxy, image pixels (detections in pairs)
    scores: np.ndarray     # [R] float32 detector scores
    labels: np.ndarray     # [R] int64 object classes
    human: np.ndarray      # [P] int64 rows of `boxes`
    object: np.ndarray     # [P] int64 rows of `boxes`
    spatial: np.ndarray    # [P, 36] float32
    source_rows: np.ndarray  # [R] int64 row of each box in the proposals artifact

    @property
    def num_pairs(self) -> int:
        return int(self.human.shape[0])


def select_pairs(human: np.ndarray, obj: np.ndarray, scores: np.ndarray, max_pairs: int | None
                 ) -> np.ndarray:
    """Indices of the pairs to keep: all, or the ``max_pairs`` with the highest s_h * s_o
    (stable: ties keep their order), returned in their original order. [P] -> [P']."""
    n = len(human)
    if max_pairs is None or n <= max_pairs:
        return np.arange(n)
    prod = scores[human].astype(np.float64) * scores[obj].astype(np.float64)
    keep = np.argsort(-prod, kind="stable")[:max_pairs]
    return np.sort(keep)


def load_image_pairs(proposals: Path | str, pairs: Path | str, max_pairs: int | None = None
                     ) -> tuple[list[ImagePairs], dict[str, Any]]:
    """Read both artifacts into memory and keep, per image, the detections its pairs use.

    Returns (one :class:`ImagePairs` per image in artifact order, info) with info holding the
    ``eps`` of the spatial encoding, the person label and both artifacts' params hashes.
    ArtifactError naming the files when they do not describe the same images.
    """
    from ..artifacts import open_artifact
    from ..detection import open_proposals

    with open_proposals(proposals) as props, open_artifact(pairs, "pair_features") as pf:
        names = pf.strings("file_names")
        if names != props.file_names:
            raise ArtifactError(f"{pairs}: its images differ from those of {proposals}; was it "
                                f"built from another proposals artifact? (re-run `spatial`)")
        sizes = props.image_sizes
        dets = props.all()
        groups = pf.ragged("pairs").load()
        eps = float(pf.attrs.get("eps", DEFAULT_EPS))
        info = {"eps": eps, "person_label": props.person_label,
                "proposals_params_hash": str(props.attrs.get("params_hash", "")),
                "pairs_params_hash": str(pf.attrs.get("params_hash", ""))}
    out = []
    for i, (name, det) in enumerate(zip(names, dets)):
        g = groups[i]
        h, o, sp = g["human"].astype(np.int64), g["object"].astype(np.int64), g["spatial"]
        if len(h) and (max(h.max(), o.max()) >= len(det) or min(h.min(), o.min()) < 0):
            raise ArtifactError(f"{pairs}: image {i} ({name}) has pair indices outside its "
                                f"{len(det)} detections (re-run `spatial`)")
        keep = select_pairs(h, o, det.scores, max_pairs)
        h, o, sp = h[keep], o[keep], sp[keep]
        rows = np.unique(np.concatenate([h, o])) if len(h) else np.zeros(0, np.int64)
        remap = np.full(len(det), -1, dtype=np.int64)
        remap[rows] = np.arange(len(rows))
        w, ht = (int(v) for v in sizes[i])
        out.append(ImagePairs(name, w, ht, det.boxes[rows].astype(np.float32),
                              det.scores[rows].astype(np.float32), det.labels[rows].astype(np.int64),
                              remap[h], remap[o], np.ascontiguousarray(sp, dtype=np.float32), rows))
    return out, info


def read_image(path: Path, size: tuple[int, int] | None, where: str):
    """RGB PIL image at ``path``; DataError naming the file when missing, unreadable, corrupt or
    not of ``size`` (w, h)."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DataError(f"missing image {path} ({where})")
    try:
        with Image.open(path) as im:
            im.load()
            img = im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image {path} ({where}): {e}") from None
    if size is not None and tuple(img.size) != tuple(size):
        raise DataError(f"image {path} is {img.width}x{img.height} but the proposals artifact "
                        f"says {size[0]}x{size[1]} ({where}); re-run `detect`")
    return img


def letterbox(img, image_size: int):
    """Resize so the longer side is ``image_size`` (aspect kept, bilinear), pad bottom/right.

    Returns (uint8 tensor [3, S, S], (sx, sy) scale factors from image to network pixels)."""
    from PIL import Image

    w, h = img.size
    s = image_size / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    resized = img.resize((nw, nh), Image.BILINEAR)
    canvas = Image.new("RGB", (image_size, image_size), PAD_COLOUR)
    canvas.paste(resized, (0, 0))
    arr = torch.from_numpy(np.asarray(canvas, dtype=np.uint8).copy()).permute(2, 0, 1)  # [3, S, S]
    return arr.contiguous(), (nw / w, nh / h)


def hflip_boxes(boxes: np.ndarray, width: float) -> np.ndarray:
    """Mirror continuous xyxy boxes in an image of ``width``: [R, 4] -> [R, 4]."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], 1)


class PairImages:
    """Images + candidate pairs of a split, one sample per image (see the module docstring).

    Args:
        image_root: directory of the images. pairs: per-image inputs (:func:`load_image_pairs`).
        image_size: network input side S. eps: the spatial encoding's epsilon.
    """

    def __init__(self, image_root: Path | str, pairs: Sequence[ImagePairs], image_size: int,
                 eps: float = DEFAULT_EPS) -> None:
        self.image_root = Path(image_root)
        self.pairs = list(pairs)
        self.image_size = int(image_size)
        self.eps = float(eps)

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, i: int, flip: bool = False) -> dict[str, Any]:
        """Image i as network input. Keys: image [3, S, S] uint8, boxes [R, 4] float32 (network
        pixels), scores [R], labels [R], human [P], object [P], spatial [P, 36], index, scale
        (sx, sy), size (w, h), flipped."""
        p = self.pairs[i]
        img = read_image(self.image_root / p.file_name, (p.width, p.height),
                         f"image {i} of the split")
        boxes, spatial = p.boxes.astype(np.float64), p.spatial
        if flip:
            from PIL import Image

            img = img.transpose(Image.FLIP_LEFT_RIGHT)
            boxes = hflip_boxes(boxes, p.width)
            spatial = spatial_encoding(boxes[p.human], boxes[p.object], p.width, p.height, self.eps)
        tensor, (sx, sy) = letterbox(img, self.image_size)
        net_boxes = boxes * np.array([sx, sy, sx, sy])
        return {"image": tensor, "boxes": torch.from_numpy(net_boxes.astype(np.float32)),
                "scores": torch.from_numpy(p.scores), "labels": torch.from_numpy(p.labels),
                "human": torch.from_numpy(p.human), "object": torch.from_numpy(p.object),
                "spatial": torch.from_numpy(np.ascontiguousarray(spatial, dtype=np.float32)),
                "index": i, "scale": (sx, sy), "size": (p.width, p.height), "flipped": flip}


def collate_pairs(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch samples: images stacked [B, 3, S, S]; boxes, scores, labels concatenated [R]; pair
    indices shifted to global box rows [P]; spatial [P, 36]; box_counts / pair_counts [B];
    per-sample extras (labels targets ``hoi``/``verb``/``object`` stacked when present)."""
    counts = [int(s["boxes"].shape[0]) for s in samples]
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    batch: dict[str, Any] = {
        "images": torch.stack([s["image"] for s in samples]),
        "boxes": torch.cat([s["boxes"] for s in samples]).reshape(-1, 4),
        "box_counts": counts,
        "scores": torch.cat([s["scores"] for s in samples]),
        "labels": torch.cat([s["labels"] for s in samples]),
        "human": torch.cat([s["human"] + int(o) for s, o in zip(samples, offsets)]),
        "object": torch.cat([s["object"] + int(o) for s, o in zip(samples, offsets)]),
        "pair_counts": [int(s["human"].shape[0]) for s in samples],
        "spatial": torch.cat([s["spatial"] for s in samples]).reshape(-1, 36),
        "index": [s["index"] for s in samples],
        "scale": [s["scale"] for s in samples],
        "size": [s["size"] for s in samples],
        "flipped": [s["flipped"] for s in samples],
    }
    for key in ("hoi", "verb", "object_labels"):
        if key in samples[0]:
            batch[key] = torch.stack([s[key] for s in samples])
    return batch


MODEL_INPUTS = ("images", "boxes", "box_counts", "human", "object", "pair_counts", "spatial")


def model_inputs(batch: dict[str, Any], device: torch.device | str = "cpu",
                 non_blocking: bool = False) -> dict[str, Any]:
    """The keyword arguments of ``WeakHOINet.forward`` from a collated batch, on ``device``."""
    out = {}
    for k in MODEL_INPUTS:
        v = batch[k]
        out[k] = v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v
    return out
