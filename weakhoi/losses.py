"""Weakly-supervised losses (paper §3.3, METHOD.md §3): L = w_g L_g + w_p L_p + w_b L_b (+ w_reg L_reg).

* L_g = BCE(s_g, image HOI labels): mean over the N classes, then over images.
* L_p = BCE(s̃_p, image verb labels) with s̃_p = max over the image's pairs of S (MIL): mean
  over the A verbs, then over images *with pairs* (an image without pairs has no bag).
* L_b (self-taught relatedness, SRC): pseudo labels b from the model's own detached S
  (:func:`relatedness_targets`), BCE(s_b, b) mean over an image's pairs, then over images with
  pairs; switched on after ``src_warmup`` iterations (weight 0 before, so the graph is the same).
* L_reg (Table 3 Abl 4, GEN-VLKT-style): squared L2 distance between the L2-normalised mean pair
  representation v_mean of an image and its detached, normalised v_g, mean over images with pairs.

Reduction (a choice the paper leaves open; it writes L_b as a sum over pairs): every term is a
mean, so the three terms have comparable scale at weight 1 whatever the number of classes or
pairs; the weights are params. Images without pairs contribute L_g only, never a NaN.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .model.config import LossConfig


def bag_logits(s_p: torch.Tensor, pair_counts: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Image-level verb logits s̃_p = max over each image's pairs.

    Args: s_p [P, A] (pairs of all images, in image order); pair_counts [B].
    Returns: (s̃_p [B, A], has_pairs [B] bool); rows of images without pairs are 0 and must be
    masked with ``has_pairs``.
    """
    B, A = len(pair_counts), s_p.shape[1]
    counts = torch.as_tensor(list(pair_counts), dtype=torch.long, device=s_p.device)
    image = torch.repeat_interleave(torch.arange(B, device=s_p.device), counts)   # [P]
    out = s_p.new_full((B, A), float("-inf"))
    out = out.scatter_reduce(0, image[:, None].expand(-1, A), s_p, reduce="amax", include_self=True)
    has = counts > 0
    return torch.where(has[:, None], out, torch.zeros_like(out)), has


def relatedness_targets(s_p: torch.Tensor, pair_object: torch.Tensor, image_objects: torch.Tensor,
                        image_verbs: torch.Tensor, top_k: int = 1) -> torch.Tensor:
    """Pseudo relatedness labels b [P] of one image (paper §3.3, Fig. 2b).

    Mask Z: a pair whose detected object class is not among the image's labelled objects gets
    b = 0. For each labelled verb a*, the ``top_k`` unmasked pairs with the highest S[:, a*]
    get b = 1 (ties: the lower pair index first; fewer than ``top_k`` unmasked pairs: all).

    Args:
        s_p: [P, A] verb logits (detached by the caller or here). pair_object: [P] object class
        of each pair. image_objects: [C] multi-hot (or bool) labelled objects. image_verbs: [A]
        multi-hot labelled verbs. top_k: positives per labelled verb.
    Returns: [P] float 0/1.
    """
    s = s_p.detach()
    P = s.shape[0]
    b = s.new_zeros(P)
    if P == 0:
        return b
    z = image_objects.bool()[pair_object]                                        # [P] mask Z
    verbs = torch.nonzero(image_verbs.bool(), as_tuple=False).flatten()           # [V]
    if not z.any() or verbs.numel() == 0:
        return b
    cand = torch.nonzero(z, as_tuple=False).flatten()                             # [P'] unmasked
    scores = s[cand][:, verbs]                                                    # [P', V]
    order = torch.sort(scores, dim=0, descending=True, stable=True).indices       # [P', V]
    chosen = cand[order[:min(top_k, cand.numel())]].flatten()                     # [k * V]
    b[chosen] = 1.0
    return b


class WeakHOICriterion(nn.Module):
    """The loss of paper §3.3 as a module: ``forward(outputs, targets, iteration) -> dict``.

    ``targets``: ``hoi`` [B, N], ``verb`` [B, A], ``object`` [B, C] multi-hot float labels and
    ``pair_object`` [P] long (detected object class of each pair). Returns the unweighted terms
    (``loss_g``, ``loss_p``, ``loss_b``, ``loss_reg`` where enabled) and ``loss`` (the weighted
    sum); :attr:`weight_dict` gives the weights, with w_b = 0 during the SRC warm-up.
    """

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def weights(self, iteration: int) -> dict[str, float]:
        c = self.cfg
        return {"loss_g": float(c.weight_g), "loss_p": float(c.weight_p),
                "loss_b": float(c.weight_b) if c.src and iteration >= c.src_warmup else 0.0,
                "loss_reg": float(c.weight_reg)}

    def forward(self, outputs: Mapping[str, Any], targets: Mapping[str, torch.Tensor],
                iteration: int) -> dict[str, torch.Tensor]:
        s_p, s_b, counts = outputs["s_p"], outputs["s_b"], outputs["pair_counts"]
        zero = s_p.sum() * 0.0 + s_b.sum() * 0.0          # keeps every head in the graph
        losses: dict[str, torch.Tensor] = {}
        if outputs.get("s_g") is not None:
            losses["loss_g"] = F.binary_cross_entropy_with_logits(
                outputs["s_g"].float(), targets["hoi"].float())
        bag, has = bag_logits(s_p.float(), counts)                                # [B, A], [B]
        if has.any():
            losses["loss_p"] = F.binary_cross_entropy_with_logits(
                bag[has], targets["verb"].float()[has]) + zero
        else:
            losses["loss_p"] = zero
        if self.cfg.src:
            losses["loss_b"] = self._relatedness(s_p, s_b, counts, targets) + zero
        if self.cfg.weight_reg > 0:
            losses["loss_reg"] = self._regulariser(outputs, counts) + zero
        w = self.weights(iteration)
        losses["loss"] = sum(w[k] * v for k, v in losses.items())
        return losses

    def _relatedness(self, s_p: torch.Tensor, s_b: torch.Tensor, counts: Sequence[int],
                     targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
        per_image = []
        start = 0
        for i, n in enumerate(counts):
            if n:
                sl = slice(start, start + n)
                b = relatedness_targets(s_p[sl], targets["pair_object"][sl], targets["object"][i],
                                        targets["verb"][i], self.cfg.top_k)
                per_image.append(F.binary_cross_entropy_with_logits(s_b[sl].float(), b.float()))
            start += n
        return torch.stack(per_image).mean() if per_image else s_b.sum() * 0.0

    @staticmethod
    def _regulariser(outputs: Mapping[str, Any], counts: Sequence[int]) -> torch.Tensor:
        v_p, v_g = outputs["v_p"].float(), outputs["v_g"].float().detach()
        terms = []
        start = 0
        for i, n in enumerate(counts):
            if n:
                v_mean = F.normalize(v_p[start:start + n].mean(0), dim=-1)
                terms.append((v_mean - F.normalize(v_g[i], dim=-1)).square().sum())
            start += n
        return torch.stack(terms).mean() if terms else v_p.sum() * 0.0
