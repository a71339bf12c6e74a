"""Heads of the local and global branches (paper §3.2.2-3.2.4): MLPs, the spatial encoder F_sp,
the knowledge transfer network (KTN) and the CLIP-style cosine classifiers."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import KTN_MODES

#: Upper bound of the learnable logit scales (a guard against blow-up, far above the inits).
_MAX_LOG_SCALE = math.log(1000.0)


class MLP(nn.Module):
    """Linear layers with ReLU between them (none after the last): dims [d0, d1, ..., dk]."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        if len(dims) < 2:
            raise ValueError(f"MLP needs at least input and output sizes, got {list(dims)}")
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = F.relu(x)
        return x

    def init_prior(self, prob: float) -> None:
        """Bias of the last layer so that sigmoid(output) starts at ``prob`` (RetinaNet's
        prior init): the MIL max over hundreds of pairs starts calibrated."""
        nn.init.constant_(self.layers[-1].bias, -math.log((1 - prob) / prob))


class CosineClassifier(nn.Module):
    """``exp(t) * cos(x, w_k) + b``: CLIP-style logits against rows of a weight matrix.

    Used for s_g = W_T v_g (global branch, weight = the knowledge bank, passed in) and for the
    GEN-VLKT-style F_P of Table 3 Abl 4 (own weight initialised from verb prompts). ``t`` and
    the scalar ``b`` are learnable, initialised as SigLIP does (t = log 10, b = -10) by
    default: cosines are small and similar across classes, so a plain CLIP scale of 100 with
    BCE would start with every class 'on'.
    """

    def __init__(self, scale_init: float, bias_init: float, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale_init)))
        self.bias = nn.Parameter(torch.tensor(float(bias_init)))
        self.weight = nn.Parameter(weight.clone()) if weight is not None else None

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """[M, D] x [K, D] -> [M, K] logits (``weight`` defaults to the own weight)."""
        w = self.weight if weight is None else weight
        scale = self.log_scale.clamp(max=_MAX_LOG_SCALE).exp()
        return scale * F.normalize(x, dim=-1) @ F.normalize(w, dim=-1).t() + self.bias


class KnowledgeTransfer(nn.Module):
    """KTN (paper eq. 1): α = Softmax(W_T v_u), v_meta = αᵀ W_T, v̂_p = F_K(v_p + v_meta).

    The bank enters detached (the paper detaches W_T on the local branch). Attention logits
    are CLIP-style: ``exp(t) * cos(v_u, W_T)`` with a learnable temperature initialised to
    CLIP's logit scale (100): W_T's rows are unit vectors, and an unscaled softmax over
    hundreds of cosines would be uniform. Modes (Table 4): ``softmax`` (paper), ``uniform``
    (α = 1/N), ``sigmoid`` (α = σ(logits) / N: element-wise weights, scaled like uniform),
    ``union`` (v_meta replaced by the union feature v_u itself), ``none`` (v̂_p = v_p, the
    baseline without KTN and without F_K).
    """

    def __init__(self, mode: str, dim: int, hidden: int, scale_init: float) -> None:
        super().__init__()
        if mode not in KTN_MODES:
            raise ValueError(f"unknown KTN mode {mode!r}")
        self.mode = mode
        self.fk = MLP([dim, hidden, dim]) if mode != "none" else None
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale_init))) \
            if mode in ("softmax", "sigmoid") else None

    def attention(self, v_u: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
        """[P, D] x [N, D] -> α [P, N]."""
        if self.mode == "uniform":
            return v_u.new_full((v_u.shape[0], bank.shape[0]), 1.0 / bank.shape[0])
        logits = self.log_scale.clamp(max=_MAX_LOG_SCALE).exp() * \
            F.normalize(v_u, dim=-1) @ F.normalize(bank, dim=-1).t()           # [P, N]
        if self.mode == "softmax":
            return logits.softmax(-1)
        return torch.sigmoid(logits) / bank.shape[0]                            # sigmoid

    def forward(self, v_p: torch.Tensor, v_u: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
        """v_p [P, D], v_u [P, D], bank [N, D] (detached by the caller) -> v̂_p [P, D]."""
        if self.mode == "none":
            return v_p
        if self.mode == "union":
            meta = v_u                                                          # [P, D]
        else:
            meta = self.attention(v_u, bank) @ bank                            # [P, D]
        return self.fk(v_p + meta)
