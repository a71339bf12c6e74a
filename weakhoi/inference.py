"""Inference: a trained network over a split's candidate pairs -> the raw score components of
every image (:class:`weakhoi.scores.ImageScores`), which the ``hoi_scores`` artifact stores and
:mod:`weakhoi.fusion` turns into detections. Nothing here depends on gamma or a fusion switch.

Optionally also the zero-shot CLIP score of each pair's union region against the HOI prompts
(paper Table 3 Abl 1 / Abl 3, :class:`ClipUnionScorer`): a *frozen* CLIP visual tower (the one
the knowledge bank was encoded with, not the trained backbone) pools the union box with the
exact RoI attention pool, and its cosine with the prompt embedding of HOI class
(verb a, the pair's object class), times CLIP's logit scale, is ``s_clip[p, a]``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .data.pairs import PairImages, collate_pairs, model_inputs
from .errors import ConfigError
from .model.network import WeakHOINet, union_boxes
from .model.roi_pool import roi_attention_pool


class ClipUnionScorer:
    """Zero-shot CLIP logits of union regions against the prompts (see the module docstring).

    Args:
        backbone: a frozen CLIP backbone (weakhoi.model.backbone.Backbone) in eval mode.
        prompts: [N, D] prompt embeddings (the ``knowledge_bank`` artifact of kind ``clip``).
        logit_scale: CLIP's logit scale (exp of its learned log scale).
        table: [A, C] HOI class of (verb, object), -1 where invalid.
        roi_size: RoI-Align bins (None: the pool's grid).
    """

    def __init__(self, backbone: torch.nn.Module, prompts: torch.Tensor, logit_scale: float,
                 table: np.ndarray, roi_size: int | None = None, sampling_ratio: int = 2) -> None:
        self.backbone = backbone.eval()
        self.prompts = F.normalize(prompts.float(), dim=-1)                      # [N, D]
        self.scale = float(logit_scale)
        self.table = torch.as_tensor(table, dtype=torch.long)                     # [A, C]
        self.roi_size = roi_size or backbone.grid
        self.sampling_ratio = sampling_ratio

    def to(self, device: torch.device | str) -> "ClipUnionScorer":
        self.backbone = self.backbone.to(device)
        self.prompts, self.table = self.prompts.to(device), self.table.to(device)
        return self

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, boxes: torch.Tensor, box_counts: Sequence[int],
                 human: torch.Tensor, object: torch.Tensor, pair_counts: Sequence[int],
                 labels: torch.Tensor, spatial: torch.Tensor | None = None) -> torch.Tensor:
        """[P, A] logits (NaN where (a, object class) is not an HOI class); inputs as the
        network's (``spatial`` is not used), plus ``labels`` [R] the object class of every box."""
        feat = self.backbone(images)                                              # [B, C, h, w]
        unions = union_boxes(boxes[human], boxes[object])                          # [P, 4]
        pooled = roi_attention_pool(self.backbone.attnpool, feat, unions, 1.0 / self.backbone.stride,
                                    self.roi_size, self.sampling_ratio, list(pair_counts))  # [P, D]
        v_u = F.normalize(pooled.float(), dim=-1)                        # [P, D]
        hoi = self.table[:, labels[object]].t()                                    # [P, A]
        logits = self.scale * v_u @ self.prompts.t()                               # [P, N]
        out = torch.gather(logits, 1, hoi.clamp(min=0))                            # [P, A]
        return torch.where(hoi >= 0, out, torch.full_like(out, float("nan")))


def clip_scorer_from_bank(bank_path: Path | str, vocab, device: str = "cpu",
                          roi_size: int | None = None) -> ClipUnionScorer:
    """A :class:`ClipUnionScorer` with the CLIP model the knowledge bank was encoded with
    (recorded in the bank's attributes: architecture and pretrained tag / checkpoint)."""
    from .clip import load_clip, read_knowledge_bank
    from .model.backbone import CLIP_MEAN, CLIP_STD, Backbone, _CLIPTrunk, freeze_batchnorm

    kb = read_knowledge_bank(bank_path)
    if kb.attrs.get("kind") != "clip":
        raise ConfigError(f"{bank_path}: zero-shot CLIP scores need a knowledge bank of CLIP text "
                          f"embeddings (encode.bank: clip), this one is {kb.attrs.get('kind')!r}")
    pre = kb.attrs.get("pretrained_file") or kb.attrs.get("pretrained")
    pre = None if pre in (None, "random", "none") else pre
    net, _, info = load_clip(str(kb.attrs["model"]), pre, seed=int(kb.attrs.get("seed", 0)))
    visual = net.visual
    backbone = Backbone(_CLIPTrunk(visual), visual.attnpool, CLIP_MEAN, CLIP_STD, info)
    freeze_batchnorm(backbone.trunk)
    for p in backbone.parameters():
        p.requires_grad_(False)
    scale = float(net.logit_scale.detach().exp()) if hasattr(net, "logit_scale") else 100.0
    return ClipUnionScorer(backbone, kb.bank, scale, vocab.verb_object_to_hoi(), roi_size).to(device)


@torch.no_grad()
def score_images(model: WeakHOINet, images: PairImages, batch_size: int = 8,
                 device: torch.device | str = "cpu", clip: ClipUnionScorer | None = None,
                 indices: Sequence[int] | None = None, progress: bool = True
                 ) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, ImageScores)`` for every image (in order) of ``images``.

    Boxes in the scores are the detections in the image's own pixels; ``s_g``, ``s_p`` and
    ``s_b`` are logits. ``amp`` is not used: scores are computed in float32.
    """
    from tqdm import tqdm

    from .scores import ImageScores

    model.eval()
    order = list(range(len(images))) if indices is None else list(indices)
    bar = tqdm(total=len(order), desc="infer", unit="img", disable=not progress or None)
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = collate_pairs([images.sample(i) for i in chunk])
            inputs = model_inputs(batch, device)
            out = model(**inputs)
            s_clip = None
            if clip is not None:
                s_clip = clip(**inputs, labels=batch["labels"].to(device)).cpu().numpy()
            s_g = out["s_g"].float().cpu().numpy() if out["s_g"] is not None else None
            s_p, s_b = out["s_p"].float().cpu().numpy(), out["s_b"].float().cpu().numpy()
            p0 = 0
            for j, i in enumerate(chunk):
                p = images.pairs[i]
                n = p.num_pairs
                yield i, ImageScores(
                    s_g=s_g[j] if s_g is not None else np.zeros(model.cfg.num_hois, np.float32),
                    boxes=p.boxes, det_scores=p.scores, labels=p.labels, human=p.human,
                    object=p.object, s_p=s_p[p0:p0 + n], s_b=s_b[p0:p0 + n],
                    s_clip=None if s_clip is None else s_clip[p0:p0 + n])
                p0 += n
            bar.update(len(chunk))
    finally:
        bar.close()


def write_scores(out: Path | str, model: WeakHOINet, images: PairImages, vocab, dataset: str,
                 params: Mapping[str, Any], inputs: Sequence[Path | str] = (),
                 extra: Mapping[str, Any] | None = None, batch_size: int = 8,
                 device: torch.device | str = "cpu", clip: ClipUnionScorer | None = None,
                 progress: bool = True, known_hashes: Mapping[str, str] | None = None) -> int:
    """Run :func:`score_images` over every image and write the ``hoi_scores`` artifact
    ``out``; returns the number of pairs scored. A network trained without HOI recognition has
    no s_g: zeros are stored and the artifact records ``has_global_scores: false``."""
    from .scores import HOIScoresWriter

    attrs = {"has_global_scores": bool(model.cfg.hoi_recognition), **(extra or {})}
    total = 0
    with HOIScoresWriter(out, params, vocab, dataset, inputs=inputs, extra=attrs,
                         has_clip=clip is not None, known_hashes=known_hashes) as w:
        for i, scores in score_images(model, images, batch_size, device, clip, progress=progress):
            p = images.pairs[i]
            w.append(p.file_name, (p.width, p.height), scores)
            total += scores.num_pairs
    return total
