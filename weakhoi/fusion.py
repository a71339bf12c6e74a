"""Inference score fusion (paper §3.2.5, METHOD.md §4): raw score components -> one score per
(human-object pair, HOI class).

For an image with P pairs and the pair matrix S = [s_p^1; ...; s_p^P] [P, A] (verb logits)::

    s~_p = max_m S                     [A]     image-level verb logits
    S-bar = softmax over pairs (dim 0) of S   [P, A]
    e_p   = sigma(s~_p) * S-bar         [P, A]  normalised pairwise interaction score
    s^a   = sigma(s_g[hoi(a, c_o)]) * e_p^a * sigma(s_b)
    R^a   = (s_h * s_o)^gamma * s^a

c_o is the pair's object class, s_h / s_o the detector scores of its human / object detection,
and only (verb, object) combinations that are HOI classes are scored (the vocabulary's
``verb_object_to_hoi()`` [A, C] table, -1 where invalid). The softmax runs over all pairs of the
image, as the paper writes it (also pairs whose object cannot take verb a).

Switches (:class:`FusionConfig`, the ``evaluate`` section of params.yaml plus ``train.gamma``):

* ``gamma``: the exponent of the detector term (paper: 2.8; 0 removes the term).
* ``use_global``: the sigma(s_g) factor.
* ``use_relatedness``: the sigma(s_b) factor.
* ``pair_softmax``: on, e_p as above; off, e_p = sigma(S), the raw pairwise interaction score.
* ``clip`` (Table 3): ``none``; ``only`` (Abl 1): the zero-shot CLIP probability alone,
  p_clip = softmax of s_clip over the pair's valid HOI classes (the verbs a with hoi(a, c_o)
  valid), times the detector term: R^a = (s_h s_o)^gamma * p_clip^a; ``fuse`` (Abl 3): the
  fused score times p_clip: R^a = (s_h s_o)^gamma * s^a * p_clip^a.
* ``max_per_image``: keep only the highest scores of each image (0 keeps all).

How the paper's tables map onto the switches (decisions, documented here and in README):

* Table 2 "score fusion" (Exp 3 -> Exp 4: same training, "fusing the global HOI scores s_g to
  the pairwise interaction score s_p" at inference) is ``use_global``. §3.2.5 says inference
  never uses s_p directly but the normalised e_p, so ``pair_softmax`` stays on in every row;
  ``pair_softmax: false`` (raw sigma(s_p)) is an extra ablation, not a paper row (it is also the
  other possible reading of Exp 3, one ``-S evaluate.pair_softmax=false`` away).
* Table 2 "SRC" is ``use_relatedness``: s_b is only trained with SRC, so rows without SRC
  (baseline, Exp 1-4, Exp 8) set it off; rows without HOI recognition (baseline, Exp 5, 8) have
  no trained s_g and set ``use_global`` off.
* Table 3 Abl 1 is ``clip: only`` (any model's artifact with ``s_clip``), Abl 3 ``clip: fuse``
  on the Abl 2 model (no HOI recognition, no SRC: ``use_global`` and ``use_relatedness`` off).

Output per image: every valid (pair, verb) as (pair index, HOI class, score), ordered by score
descending; ties keep (pair, verb) order. All functions are deterministic and computed in
float64 on CPU tensors (scores are few; the final ordering uses numpy's stable lexsort); an
image without pairs gives empty outputs (never NaN). ``FusionConfig()`` keeps every score
(``max_per_image=0``); the pipeline's default cap (params.yaml) is 100.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import torch

CLIP_MODES = ("none", "only", "fuse")


@dataclass(frozen=True)
class FusionConfig:
    """The inference-time switches (see the module docstring)."""

    gamma: float = 2.8
    use_global: bool = True
    use_relatedness: bool = True
    pair_softmax: bool = True
    clip: str = "none"
    max_per_image: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.gamma, bool) or not isinstance(self.gamma, (int, float)) or not (
                0.0 <= float(self.gamma) < float("inf")):
            raise ValueError(f"gamma must be a finite number >= 0, got {self.gamma!r}")
        for key in ("use_global", "use_relatedness", "pair_softmax"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key} must be true or false, got {getattr(self, key)!r}")
        if self.clip not in CLIP_MODES:
            raise ValueError(f"clip must be one of {', '.join(CLIP_MODES)}, got {self.clip!r}")
        if isinstance(self.max_per_image, bool) or not isinstance(self.max_per_image, int) \
                or self.max_per_image < 0:
            raise ValueError(f"max_per_image must be an integer >= 0, got {self.max_per_image!r}")

    def as_dict(self) -> dict:
        return asdict(self)


class FusedScores(NamedTuple):
    """Scored (pair, HOI class) entries, grouped by image (image order), score descending."""

    pair: torch.Tensor    # [K] int64 pair index (into the P pairs given)
    hoi: torch.Tensor     # [K] int64 HOI class
    score: torch.Tensor   # [K] float64 fused score R


def _empty() -> FusedScores:
    return FusedScores(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64),
                       torch.zeros(0, dtype=torch.float64))


def valid_entries(obj: torch.Tensor, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every valid (pair, verb) of pairs with object classes ``obj`` [P] under ``table`` [A, C]:
    (pair [K], verb [K], hoi [K]) int64, row-major (pair, then verb ascending). Built from the
    table's per-object verb lists, without a [P, A] temporary."""
    P = int(obj.shape[0])
    valid_oc = (table >= 0).T                                             # [C, A]
    per_obj = valid_oc.sum(dim=1)                                         # [C] valid verbs per object
    verbs = valid_oc.nonzero()[:, 1]                                      # [V] by (object, verb)
    first = torch.cumsum(per_obj, 0) - per_obj                            # [C]
    cnt = per_obj[obj]                                                    # [P]
    pair = torch.repeat_interleave(torch.arange(P), cnt)                  # [K]
    within = torch.arange(pair.numel()) - (torch.cumsum(cnt, 0) - cnt)[pair]
    verb = verbs[first[obj[pair]] + within]                               # [K]
    return pair, verb, table[verb, obj[pair]]


def _segment_softmax(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Softmax of ``x`` [K] within consecutive segments of ``lengths`` [S] (sum = K)."""
    seg = torch.repeat_interleave(torch.arange(lengths.numel()), lengths)  # [K]
    ex = torch.exp(x - torch.segment_reduce(x, "max", lengths=lengths)[seg])
    return ex / torch.segment_reduce(ex, "sum", lengths=lengths)[seg]


def fuse_scores(s_g: torch.Tensor, pair_image: torch.Tensor, s_p: torch.Tensor, s_b: torch.Tensor,
                s_h: torch.Tensor, s_o: torch.Tensor, obj: torch.Tensor, table: torch.Tensor,
                config: FusionConfig, s_clip: torch.Tensor | None = None) -> FusedScores:
    """Fused scores of the pairs of n images at once.

    ``s_g`` [n, N] global HOI logits; ``pair_image`` [P] int64 image of each pair (non-
    decreasing: pairs grouped by image); ``s_p`` [P, A] verb logits; ``s_b`` [P] relatedness
    logits; ``s_h``, ``s_o`` [P] detector scores of the pair's human and object; ``obj`` [P]
    int64 object class of the pair; ``table`` [A, C] int64 verb-object -> HOI class (-1 invalid);
    ``s_clip`` [P, A] CLIP logits (needed when ``config.clip != 'none'``).

    Returns :class:`FusedScores` over every valid (pair, verb), grouped by image, score
    descending within an image (ties: pair, then verb order), at most ``config.max_per_image``
    per image when it is > 0. Memory: a few [P, A] float64 temporaries (the pair softmax);
    callers with many pairs pass chunks of whole images.
    """
    n = int(s_g.shape[0])
    P = int(s_p.shape[0])
    if config.clip != "none" and s_clip is None:
        raise ValueError(f"clip mode {config.clip!r} needs CLIP scores (s_clip)")
    if P == 0 or n == 0:
        return _empty()
    pair_image = pair_image.to(torch.int64)
    if (pair_image[1:] < pair_image[:-1]).any():
        raise ValueError("pair_image must be non-decreasing (pairs grouped by image)")
    f64 = torch.float64
    S = s_p.to(f64)                                                       # [P, A]
    pair, verb, hoi = valid_entries(obj.to(torch.int64), table)           # [K] each
    img = pair_image[pair]                                                # [K]
    S_k = S[pair, verb]                                                   # [K]

    if config.pair_softmax:
        counts = torch.bincount(pair_image, minlength=n)                  # [n] pairs per image
        s_max = torch.segment_reduce(S, "max", lengths=counts, axis=0)    # [n, A]  s~_p
        z = torch.segment_reduce(torch.exp(S - s_max[pair_image]), "sum", lengths=counts, axis=0)  # [n, A]
        m_k = s_max[img, verb]                                            # [K]
        e_k = torch.sigmoid(m_k) * torch.exp(S_k - m_k) / z[img, verb]    # [K] e_p
    else:
        e_k = torch.sigmoid(S_k)                                          # [K] raw pairwise score

    s_k = e_k
    if config.use_global:
        s_k = s_k * torch.sigmoid(s_g.to(f64)[img, hoi])                  # [K]
    if config.use_relatedness:
        s_k = s_k * torch.sigmoid(s_b.to(f64))[pair]
    det = ((s_h.to(f64) * s_o.to(f64)) ** float(config.gamma))[pair]      # [K]
    if config.clip != "none":
        per_pair = torch.bincount(pair, minlength=P)                      # [P] valid classes per pair
        p_clip = _segment_softmax(s_clip.to(f64)[pair, verb], per_pair)   # [K]
        R = det * (p_clip if config.clip == "only" else s_k * p_clip)
    else:
        R = det * s_k                                                     # [K]

    # order: image, then score descending; ties keep (pair, verb) order. numpy's stable lexsort
    # (torch's CPU sort is several times slower on these keys)
    K = R.numel()
    order = torch.from_numpy(np.lexsort((-R.cpu().numpy(), img.cpu().numpy()))).to(R.device)
    pair, hoi, R, img = pair[order], hoi[order], R[order], img[order]
    if config.max_per_image > 0:
        counts = torch.bincount(img, minlength=n)                         # [n]
        start = torch.cumsum(counts, 0) - counts                          # [n]
        keep = torch.arange(K, device=img.device) - start[img] < config.max_per_image  # rank in image
        pair, hoi, R = pair[keep], hoi[keep], R[keep]
    return FusedScores(pair, hoi, R)


def fuse_image(s_g: torch.Tensor, s_p: torch.Tensor, s_b: torch.Tensor, s_h: torch.Tensor,
               s_o: torch.Tensor, obj: torch.Tensor, table: torch.Tensor, config: FusionConfig,
               s_clip: torch.Tensor | None = None) -> FusedScores:
    """:func:`fuse_scores` for one image: ``s_g`` [N], the other inputs as there."""
    pair_image = torch.zeros(int(s_p.shape[0]), dtype=torch.int64)
    return fuse_scores(s_g[None], pair_image, s_p, s_b, s_h, s_o, obj, table, config, s_clip)
