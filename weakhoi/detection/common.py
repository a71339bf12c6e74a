"""Result types, the common post-processing and the ``proposals`` artifact I/O.

Every backend returns a :class:`Proposals`: one :class:`ImageDetections` per image of the
dataset, in dataset order, boxes as continuous xyxy in image pixels and labels as object
indices of the dataset vocabulary. Images without detections keep a zero-row entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..boxes import batched_nms, clip_boxes
from ..errors import ArtifactError, ConfigError, DataError
from ..vocab import Vocabulary

ARTIFACT_TYPE = "proposals"
BACKENDS = ("torchvision", "precomputed", "simulated")


@dataclass(frozen=True)
class ImageDetections:
    """Detections of one image (sorted by descending score after :func:`postprocess`)."""

    boxes: np.ndarray   # [R, 4] float32, continuous xyxy
    scores: np.ndarray  # [R] float32
    labels: np.ndarray  # [R] int64, dataset object index

    @classmethod
    def empty(cls) -> "ImageDetections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    @classmethod
    def from_arrays(cls, boxes, scores, labels) -> "ImageDetections":
        """Cast to the canonical dtypes/shapes (no validation beyond shapes)."""
        b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        s = np.asarray(scores, dtype=np.float32).reshape(-1)
        l = np.asarray(labels, dtype=np.int64).reshape(-1)
        if not (len(b) == len(s) == len(l)):
            raise ValueError(f"boxes/scores/labels lengths differ: {len(b)}, {len(s)}, {len(l)}")
        return cls(b, s, l)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, keep: np.ndarray) -> "ImageDetections":
        return ImageDetections(self.boxes[keep], self.scores[keep], self.labels[keep])


@dataclass
class Proposals:
    """Detections of a whole split, plus what produced them."""

    file_names: list[str]
    image_sizes: np.ndarray                 # [n, 2] int64 (width, height)
    detections: list[ImageDetections]       # [n]
    backend: str
    meta: dict[str, Any] = field(default_factory=dict)  # backend parameters (provenance)

    def __post_init__(self) -> None:
        self.image_sizes = np.asarray(self.image_sizes, dtype=np.int64).reshape(-1, 2)
        if not (len(self.file_names) == len(self.image_sizes) == len(self.detections)):
            raise ValueError("file_names, image_sizes and detections must have one entry per image")

    def __len__(self) -> int:
        return len(self.file_names)

    @property
    def num_detections(self) -> int:
        return sum(len(d) for d in self.detections)


def postprocess(det: ImageDetections, score_threshold: float = 0.2, nms_threshold: float = 0.5,
                max_detections: int = 100) -> ImageDetections:
    """Score threshold (keep ``score >= score_threshold``), class-wise NMS (IoU >
    ``nms_threshold`` suppressed; ``nms_threshold >= 1`` disables it), then the
    ``max_detections`` highest-scoring boxes, sorted by descending score."""
    if max_detections < 0:
        raise ConfigError(f"max_detections must be >= 0, got {max_detections}")
    keep = np.flatnonzero(det.scores >= score_threshold)
    det = det.select(keep)
    if len(det) == 0:
        return ImageDetections.empty()
    if nms_threshold < 1.0:
        idx = batched_nms(det.boxes, det.scores, det.labels, float(nms_threshold))  # sorted by score
    else:
        idx = np.argsort(-det.scores, kind="stable")
    return det.select(idx[:max_detections])


#: Boxes narrower or lower than this (pixels, after clipping to the image) are dropped.
MIN_BOX_SIZE = 1.0


def clip_to_image(det: ImageDetections, width: float, height: float) -> tuple[ImageDetections, int]:
    """``det`` with boxes clipped to ``[0, width] x [0, height]`` and boxes smaller than
    :data:`MIN_BOX_SIZE` (or non-finite) removed; returns (detections, number removed)."""
    if len(det) == 0:
        return det, 0
    boxes = clip_boxes(det.boxes, width, height)                                        # [R, 4]
    ok = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] - boxes[:, 0] >= MIN_BOX_SIZE) \
        & (boxes[:, 3] - boxes[:, 1] >= MIN_BOX_SIZE)
    keep = np.flatnonzero(ok)
    out = ImageDetections.from_arrays(boxes[keep], det.scores[keep], det.labels[keep])
    return out, int(len(det) - len(keep))


def postprocess_all(props: Proposals, score_threshold: float = 0.2, nms_threshold: float = 0.5,
                    max_detections: int = 100) -> Proposals:
    """Every image: boxes clipped to the image, boxes smaller than :data:`MIN_BOX_SIZE` px
    after clipping dropped (imported detections can be degenerate or outside the image), then
    :func:`postprocess`. Records the thresholds and the number of dropped boxes in ``meta``."""
    dets, dropped = [], 0
    for d, (w, h) in zip(props.detections, props.image_sizes):
        d, n = clip_to_image(d, float(w), float(h))
        dropped += n
        dets.append(postprocess(d, score_threshold, nms_threshold, max_detections))
    meta = dict(props.meta, score_threshold=score_threshold, nms_threshold=nms_threshold,
                max_detections=max_detections, degenerate_dropped=dropped)
    return Proposals(list(props.file_names), props.image_sizes, dets, props.backend, meta)


def map_labels(det: ImageDetections, table: np.ndarray, source: str = "detections") -> ImageDetections:
    """Map external class ids through ``table`` ([K] int64, -1 = not a dataset class); drop
    unmapped detections. Ids outside ``[0, K)`` raise DataError naming ``source``."""
    if len(det) and (det.labels.min() < 0 or det.labels.max() >= len(table)):
        bad = det.labels[(det.labels < 0) | (det.labels >= len(table))][0]
        raise DataError(f"{source}: class id {int(bad)} outside [0, {len(table)})")
    mapped = table[det.labels] if len(det) else det.labels
    keep = np.flatnonzero(mapped >= 0)
    return ImageDetections(det.boxes[keep], det.scores[keep], mapped[keep])


# artifact I/O ---------------------------------------------------------------------------

def write_proposals(path: Path | str, props: Proposals, dataset: str, vocab: Vocabulary,
                    params: Mapping[str, Any], inputs: Sequence[Path | str] = ()) -> Path:
    """Write the ``proposals`` artifact (see docs/DESIGN.md). ``params``: the stage params
    recorded in provenance; the backend's ``meta`` goes to the attrs as well, under
    ``simulation`` for simulated proposals and ``backend_params`` otherwise."""
    from ..artifacts import ArtifactWriter  # lazy: the store is only needed when writing

    simulated = props.backend == "simulated"
    extra: dict[str, Any] = {"backend": props.backend, "dataset": dataset, "person_label": int(vocab.person),
                             "num_objects": int(vocab.num_objects), "simulated": simulated,
                             "simulation" if simulated else "backend_params": dict(props.meta)}
    d = props.detections
    with ArtifactWriter(path, ARTIFACT_TYPE, params, inputs=inputs, extra=extra) as w:
        w.write_strings("file_names", list(props.file_names))
        w.write_array("image_sizes", props.image_sizes.astype(np.int64))
        w.write_ragged(
            "detections", [len(x) for x in d],
            boxes=np.concatenate([x.boxes for x in d]) if d else np.zeros((0, 4), np.float32),
            scores=np.concatenate([x.scores for x in d]) if d else np.zeros(0, np.float32),
            labels=np.concatenate([x.labels for x in d]) if d else np.zeros(0, np.int64))
    return Path(path)


class ProposalsFile:
    """An open ``proposals`` artifact (see :func:`open_proposals`): validated metadata in memory,
    detections read per image on demand. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path, art: Any) -> None:
        self.path = path
        self._art = art
        self.attrs: dict[str, Any] = dict(art.attrs)
        self.file_names: list[str] = art.strings("file_names")
        self.image_sizes = np.asarray(art.array("image_sizes"), dtype=np.int64)  # [n, 2] (w, h)
        self._dets = art.ragged("detections")
        n = len(self.file_names)
        if self.image_sizes.shape != (n, 2) or len(self._dets) != n:
            raise ArtifactError(f"{path}: file_names ({n}), image_sizes {self.image_sizes.shape} "
                                f"and detections ({len(self._dets)}) disagree")
        bad = np.flatnonzero((self.image_sizes <= 0).any(axis=1))
        if len(bad):
            i = int(bad[0])
            w, h = (int(v) for v in self.image_sizes[i])
            raise DataError(f"{path}: image {i} ({self.file_names[i]}): size {w}x{h} is not positive")

    @property
    def backend(self) -> str:
        return str(self.attrs.get("backend", "unknown"))

    @property
    def person_label(self) -> int:
        """Object index of 'person' (ArtifactError naming the file when it is not recorded)."""
        if "person_label" not in self.attrs:
            raise ArtifactError(f"{self.path}: proposals artifact has no 'person_label' attribute")
        return int(self.attrs["person_label"])

    def __len__(self) -> int:
        return len(self.file_names)

    def __getitem__(self, i: int) -> ImageDetections:
        """Detections of image ``i`` (DataError naming the file and image on non-finite values)."""
        d = self._dets[i]
        return self._checked(ImageDetections.from_arrays(d["boxes"], d["scores"], d["labels"]), i)

    def all(self) -> list[ImageDetections]:
        """Detections of every image (the columns are read in one go)."""
        ptr = np.asarray(self._dets.indptr)                                      # [n + 1]
        boxes, scores, labels = (self._dets.column(c) for c in ("boxes", "scores", "labels"))
        finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)            # [R]
        if not finite.all():
            row = int(np.flatnonzero(~finite)[0])
            self[int(np.searchsorted(ptr, row, side="right")) - 1]  # raises, naming the image
        return [ImageDetections.from_arrays(boxes[a:b], scores[a:b], labels[a:b])
                for a, b in zip(ptr[:-1], ptr[1:])]

    def _checked(self, det: ImageDetections, i: int) -> ImageDetections:
        if not (np.isfinite(det.boxes).all() and np.isfinite(det.scores).all()):
            raise DataError(f"{self.path}: image {i} ({self.file_names[i]}): non-finite detection "
                            f"box or score")
        return det

    def close(self) -> None:
        self._art.close()

    def __enter__(self) -> "ProposalsFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_proposals(path: Path | str) -> ProposalsFile:
    """Open a ``proposals`` artifact and validate it once: ArtifactError naming the path when it
    is not one or its entries disagree in length, DataError for a non-positive image size.
    Per-image detections are read lazily (``pf[i]``) or all at once (``pf.all()``)."""
    from ..artifacts import open_artifact  # lazy: the store is only needed for artifact I/O

    path = Path(path)
    art = open_artifact(path, ARTIFACT_TYPE)
    try:
        return ProposalsFile(path, art)
    except BaseException:
        art.close()
        raise


def read_proposals(path: Path | str) -> Proposals:
    """Read a whole ``proposals`` artifact into memory (validated by :func:`open_proposals`)."""
    with open_proposals(path) as pf:
        return Proposals(pf.file_names, pf.image_sizes, pf.all(), pf.backend, pf.attrs)
