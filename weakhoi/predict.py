"""HOI detection on any image: detections -> candidate pairs -> the trained network -> score
fusion -> the top predictions, as JSON-able data and as a rendered picture.

:class:`Predictor` holds a trained network, its vocabulary (stored in the model artifact), the
pair selection of the ``spatial`` stage and the fusion switches. Per image it takes the
detections (from any backend, boxes in the image's own pixels, labels as the vocabulary's
object indices) and returns a :class:`Prediction`: one entry per scored (human, object, HOI
class), best first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .data.pairs import ImagePairs, PairImages, read_image
from .detection import ImageDetections, postprocess
from .detection.common import clip_to_image
from .fusion import FusionConfig, fuse_image
from .inference import score_images
from .spatial import DEFAULT_EPS, image_pairs


@dataclass
class Prediction:
    """Predictions of one image (boxes in its pixel frame, continuous xyxy)."""

    file_name: str
    width: int
    height: int
    entries: list[dict[str, Any]] = field(default_factory=list)   # best first
    num_detections: int = 0
    num_pairs: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"file_name": self.file_name, "width": self.width, "height": self.height,
                "box_convention": "continuous xyxy, image pixels",
                "num_detections": self.num_detections, "num_pairs": self.num_pairs,
                "predictions": self.entries}


class Predictor:
    """A trained network ready to run on single images.

    Args:
        model: the network (eval mode) and ``vocab`` its vocabulary.
        image_size: network input side (the one it was trained with).
        pair_params: keyword arguments of :func:`weakhoi.spatial.select_candidates` (the
            ``spatial`` stage's thresholds and caps) and ``eps``.
        detect_params: ``score_threshold``, ``nms_threshold``, ``max_detections`` applied to
            the raw detections first (the ``detect`` stage's post-processing).
        fusion: the inference switches and gamma.
    """

    def __init__(self, model: torch.nn.Module, vocab, image_size: int,
                 pair_params: Mapping[str, Any], detect_params: Mapping[str, Any],
                 fusion: FusionConfig, device: torch.device | str = "cpu") -> None:
        self.model, self.vocab, self.image_size = model.eval(), vocab, int(image_size)
        self.pair_params = {k: v for k, v in pair_params.items() if k != "eps"}
        self.eps = float(pair_params.get("eps", DEFAULT_EPS))
        self.detect_params = dict(detect_params)
        self.fusion, self.device = fusion, device
        self.table = torch.as_tensor(vocab.verb_object_to_hoi())                  # [A, C]

    def pairs_of(self, path: Path, det: ImageDetections) -> ImagePairs:
        """Candidate pairs of one image from its raw detections (clipped, thresholded, NMS,
        capped, then the spatial stage's selection and encoding)."""
        img = read_image(path, None, "predict")
        w, h = img.size
        det, _ = clip_to_image(det, float(w), float(h))
        det = postprocess(det, **self.detect_params)
        hu, ob, sp = image_pairs(det.boxes, det.scores, det.labels, w, h, self.vocab.person,
                                 eps=self.eps, **self.pair_params)
        rows = np.unique(np.concatenate([hu, ob])) if len(hu) else np.zeros(0, np.int64)
        remap = np.full(len(det), -1, dtype=np.int64)
        remap[rows] = np.arange(len(rows))
        return ImagePairs(path.name, w, h, det.boxes[rows].astype(np.float32),
                          det.scores[rows].astype(np.float32), det.labels[rows].astype(np.int64),
                          remap[hu], remap[ob], sp.astype(np.float32), rows)

    @torch.no_grad()
    def __call__(self, path: Path | str, det: ImageDetections, top_k: int = 10) -> Prediction:
        path = Path(path)
        p = self.pairs_of(path, det)
        images = PairImages(path.parent, [p], self.image_size, self.eps)
        _, sc = next(score_images(self.model, images, 1, self.device, progress=False))
        s_g = torch.as_tensor(sc.s_g, dtype=torch.float64)
        fused = fuse_image(s_g, torch.as_tensor(sc.s_p), torch.as_tensor(sc.s_b),
                           torch.as_tensor(sc.det_scores[sc.human]),
                           torch.as_tensor(sc.det_scores[sc.object]),
                           torch.as_tensor(sc.labels[sc.object]), self.table, self.fusion)
        entries = []
        v = self.vocab
        for k in range(min(int(top_k), len(fused.score))):
            pair, hoi = int(fused.pair[k]), int(fused.hoi[k])
            hr, orow = int(p.human[pair]), int(p.object[pair])
            entries.append({
                "human_box": [round(float(x), 2) for x in p.boxes[hr]],
                "object_box": [round(float(x), 2) for x in p.boxes[orow]],
                "object": v.objects[int(v.hoi_object[hoi])], "verb": v.verbs[int(v.hoi_verb[hoi])],
                "hoi": hoi, "hoi_name": v.hoi_name(hoi), "score": float(fused.score[k]),
                "human_score": float(p.scores[hr]), "object_score": float(p.scores[orow])})
        return Prediction(path.name, p.width, p.height, entries, len(p.boxes), p.num_pairs)


def render_prediction(path: Path | str, pred: Prediction, max_entries: int = 5,
                      scale: int = 1):
    """The image with the top ``max_entries`` predictions drawn (human and object boxes, a
    line between them, 'verb object score' tags)."""
    from .viz import draw_pairs

    img = read_image(Path(path), (pred.width, pred.height), "predict")
    top = pred.entries[:max_entries]
    if scale == 1 and max(pred.width, pred.height) < 256:
        scale = 3 if max(pred.width, pred.height) < 200 else 2
    labels = [f"{e['hoi_name'].replace('_', ' ')} {e['score']:.2g}" for e in top]
    return draw_pairs(img, np.array([e["human_box"] for e in top]).reshape(-1, 4),
                      np.array([e["object_box"] for e in top]).reshape(-1, 4), labels, scale=scale)
