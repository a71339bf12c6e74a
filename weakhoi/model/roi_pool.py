"""Exact, fast RoI attention pooling on a CLIP feature map (METHOD.md §8).

The local branch needs CLIP's attention pool (open_clip ``AttentionPool2d``) applied to the
RoI-Align crop of every human, object and union box. Done naively (``roi_align`` to a 7x7 crop
of the C-channel map, then the attention pool per RoI) the key/value projections run on the
50 tokens of every RoI, which costs several times the backbone. Everything in between is
linear, so the same numbers come out much cheaper:

* RoI-Align (``torchvision.ops.roi_align(..., aligned=True, sampling_ratio=s)``) of RoI r is a
  fixed interpolation matrix ``A_r`` [S*S, H*W] applied to the flattened map. Bilinear weights
  and torchvision's validity test are separable in y and x, so ``A_r = A_y (x) A_x`` with
  ``A_y`` [S, H] and ``A_x`` [S, W] (:func:`roi_align_matrices`).
* The attention pool's tokens are ``x_j = A_r[j] G + pos_j`` (j = 1..S*S) and the mean token
  ``x_0 = a_r G + pos_0`` with ``a_r`` the mean row of ``A_r``. Projections are linear, so the
  per-image maps ``Q = G W_q^T``, ``K = G W_k^T``, ``V = G W_v^T`` [H*W, C] are computed once
  per image and every RoI only mixes them with its small matrices:
  ``score_j = A_r[j] (K q_r) + q_r . (pos_j W_k^T + b_k)``, and the attention output is
  ``(sum_j p_j A_r[j]) V + sum_j p_j (pos_j W_v^T + b_v)``.

:func:`roi_attention_pool` equals ``roi_align`` + ``AttentionPool2d`` to float rounding, forward
and backward (tests compare both to 1e-5); :func:`naive_roi_attention_pool` is that reference.
:func:`global_attention_pool` is CLIP's own pooling of the whole map (v_g) with the positional
embedding interpolated when the map is not the pretraining grid.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


# --------------------------------------------------------------------------- interpolation

def _axis_weights(start: torch.Tensor, bin_size: torch.Tensor, grid: torch.Tensor, out: int,
                  size: int, max_grid: int) -> torch.Tensor:
    """Bilinear sampling weights of one axis, averaged over the samples of each bin.

    Args:
        start, bin_size: [R] RoI start and bin size on this axis (feature-map units, after the
            ``aligned=True`` half-pixel shift).
        grid: [R] samples per bin on this axis (>= 0).
        out: output bins S. size: feature-map length (H or W). max_grid: max(grid).
    Returns:
        [R, S, size] weights; row (r, i) averages the interpolation weights of bin i's samples.
    """
    R = start.shape[0]
    dev, dt = start.device, start.dtype
    if max_grid == 0:
        return torch.zeros(R, out, size, device=dev, dtype=dt)
    i = torch.arange(out, device=dev, dtype=dt)                                  # [S]
    k = torch.arange(max_grid, device=dev, dtype=dt)                             # [G]
    g = grid.to(dt).clamp(min=1)[:, None, None]                                  # [R, 1, 1]
    pos = (start[:, None, None] + i[None, :, None] * bin_size[:, None, None]
           + (k[None, None, :] + 0.5) * bin_size[:, None, None] / g)             # [R, S, G]
    used = (k[None, None, :] < grid[:, None, None].to(dt))                       # [R, S, G]
    valid = used & (pos >= -1.0) & (pos <= size)                                 # torchvision's test
    p = pos.clamp(min=0.0)
    low = p.floor().clamp(max=size - 1)
    at_end = low >= size - 1
    p = torch.where(at_end, low, p)
    frac = p - low                                                               # [R, S, G]
    low_i = low.long()
    high_i = torch.where(at_end, low_i, low_i + 1).clamp(max=size - 1)
    w_low = torch.where(valid, 1.0 - frac, torch.zeros_like(frac))
    w_high = torch.where(valid, frac, torch.zeros_like(frac))
    weights = torch.zeros(R, out, max_grid, size, device=dev, dtype=dt)          # [R, S, G, size]
    weights.scatter_add_(3, low_i[..., None], w_low[..., None])
    weights.scatter_add_(3, high_i[..., None], w_high[..., None])
    return weights.sum(2) / g                                                    # [R, S, size]


def roi_align_matrices(boxes: torch.Tensor, height: int, width: int, output_size: int,
                       spatial_scale: float, sampling_ratio: int = 2
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Separable RoI-Align interpolation matrices of ``roi_align(aligned=True)``.

    ``A_r[(i, j), (y, x)] = Ay[r, i, y] * Ax[r, j, x]`` reproduces
    ``torchvision.ops.roi_align(feat, [boxes], output_size, spatial_scale, sampling_ratio,
    aligned=True)`` as ``einsum('riy,rjx,cyx->rcij', Ay, Ax, feat)``.

    Args:
        boxes: [R, 4] continuous xyxy in input-image pixels.
        height, width: feature map size (H, W).
        output_size: S (bins per side). spatial_scale: feature / image scale (1/32).
        sampling_ratio: samples per bin and axis; <= 0: adaptive ``ceil(roi_size / S)`` per RoI
            as torchvision does.
    Returns:
        (Ay [R, S, H], Ax [R, S, W]), float of ``boxes``' dtype, no gradient w.r.t. boxes.
    """
    boxes = boxes.detach()
    x1, y1, x2, y2 = (boxes[:, k] * spatial_scale - 0.5 for k in range(4))    # aligned=True
    roi_w, roi_h = x2 - x1, y2 - y1                                             # [R]
    bin_w, bin_h = roi_w / output_size, roi_h / output_size
    if sampling_ratio > 0:
        gw = torch.full_like(roi_w, sampling_ratio, dtype=torch.long)
        gh = torch.full_like(roi_h, sampling_ratio, dtype=torch.long)
    else:
        gw = torch.ceil(roi_w / output_size).long().clamp(min=0)
        gh = torch.ceil(roi_h / output_size).long().clamp(min=0)
    max_w = int(gw.max()) if gw.numel() else 0
    max_h = int(gh.max()) if gh.numel() else 0
    ay = _axis_weights(y1, bin_h, gh, output_size, height, max_h)               # [R, S, H]
    ax = _axis_weights(x1, bin_w, gw, output_size, width, max_w)                # [R, S, W]
    return ay, ax


# --------------------------------------------------------------------------- positional embedding

def interpolate_positional_embedding(pos: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """CLIP's attention-pool positional embedding [1 + s*s, C] resized to [1 + H*W, C].

    The grid part is resized bicubically (align_corners=False, antialias) as open_clip does for
    checkpoints at another resolution; the first (mean-token) row is kept. Returned as is when
    the size already matches, so gradients flow to the parameter either way.
    """
    side = int(round(math.sqrt(pos.shape[0] - 1)))
    if side * side + 1 != pos.shape[0]:
        raise ValueError(f"positional embedding of {pos.shape[0]} rows is not 1 + s*s")
    if (height, width) == (side, side):
        return pos
    grid = pos[1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)               # [1, C, s, s]
    # in float32: antialiased bicubic has no bfloat16 kernel (autocast gives bf16 here)
    grid = F.interpolate(grid.float(), size=(height, width), mode="bicubic", align_corners=False,
                         antialias=True).to(pos.dtype)                           # [1, C, H, W]
    grid = grid.permute(0, 2, 3, 1).reshape(height * width, -1)                 # [H*W, C]
    return torch.cat([pos[:1], grid], 0)                                        # [1+H*W, C]


def _heads(t: torch.Tensor, num_heads: int) -> torch.Tensor:
    """[..., C] -> [..., heads, C/heads]."""
    return t.reshape(*t.shape[:-1], num_heads, t.shape[-1] // num_heads)


# --------------------------------------------------------------------------- pooling

def global_attention_pool(pool: nn.Module, feat: torch.Tensor) -> torch.Tensor:
    """CLIP's attention pool over whole maps: [B, C, H, W] -> [B, D].

    Same computation as open_clip's ``AttentionPool2d.forward``, with the positional
    embedding interpolated to H x W (:func:`interpolate_positional_embedding`) instead of
    failing on a map that is not the pretraining grid. Only the mean token is used as query
    (the module computes all queries and keeps the first; the result is the same).
    """
    B, C, H, W = feat.shape
    pos = interpolate_positional_embedding(pool.positional_embedding, H, W)     # [1+HW, C]
    x = feat.reshape(B, C, H * W).permute(0, 2, 1)                              # [B, HW, C]
    x = torch.cat([x.mean(1, keepdim=True), x], 1) + pos.to(x.dtype)           # [B, 1+HW, C]
    heads = pool.num_heads
    q = _heads(F.linear(x[:, :1], pool.q_proj.weight, pool.q_proj.bias), heads)  # [B, 1, h, d]
    k = _heads(F.linear(x, pool.k_proj.weight, pool.k_proj.bias), heads)         # [B, T, h, d]
    v = _heads(F.linear(x, pool.v_proj.weight, pool.v_proj.bias), heads)         # [B, T, h, d]
    scale = q.shape[-1] ** -0.5
    attn = torch.einsum("bqhd,bthd->bhqt", q * scale, k).softmax(-1)            # [B, h, 1, T]
    out = torch.einsum("bhqt,bthd->bqhd", attn, v).reshape(B, C)                 # [B, C]
    return F.linear(out, pool.c_proj.weight, pool.c_proj.bias)                   # [B, D]


class PoolMaps:
    """Projections of a batch of maps Γ through an attention pool, shared by the global pool
    (v_g) and every RoI of every image: ``g`` [B, HW, C] tokens, ``k`` / ``v`` [B, HW, h, d]
    (no bias). One matmul per projection for the whole batch."""

    def __init__(self, pool: nn.Module, feat: torch.Tensor) -> None:
        B, C, H, W = feat.shape
        self.pool, self.height, self.width, self.heads = pool, H, W, pool.num_heads
        self.g = feat.reshape(B, C, H * W).transpose(1, 2)                      # [B, HW, C]
        self.k = _heads(F.linear(self.g, pool.k_proj.weight), self.heads)       # [B, HW, h, d]
        self.v = _heads(F.linear(self.g, pool.v_proj.weight), self.heads)       # [B, HW, h, d]


def projected_positions(pool: nn.Module, height: int, width: int, dtype: torch.dtype
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positional embedding through the k / v / q projections at an H x W grid.

    Projection and (bicubic) interpolation are both linear, so the native grid is projected
    first and the projected grid interpolated: cheap for any map size. Returns
    (pk [1+HW, C], pv [1+HW, C] with the k / v biases, q0 [C] = the mean-token position's query
    part, with the q bias)."""
    pos = pool.positional_embedding.to(dtype)                                   # [1+s*s, C]
    pk = interpolate_positional_embedding(F.linear(pos, pool.k_proj.weight), height, width)
    pv = interpolate_positional_embedding(F.linear(pos, pool.v_proj.weight), height, width)
    q0 = F.linear(pos[:1], pool.q_proj.weight, pool.q_proj.bias)[0]             # [C]
    return pk + pool.k_proj.bias, pv + pool.v_proj.bias, q0


def global_pool_from_maps(maps: PoolMaps) -> torch.Tensor:
    """CLIP's attention pool of whole maps from their projections: [B, D] (=
    :func:`global_attention_pool` up to float rounding)."""
    pool, heads = maps.pool, maps.heads
    B, _, C = maps.g.shape
    pk, pv, q0 = projected_positions(pool, maps.height, maps.width, maps.g.dtype)
    q = _heads(F.linear(maps.g.mean(1), pool.q_proj.weight) + q0, heads)       # [B, h, d]
    k = torch.cat([maps.k.mean(1, keepdim=True), maps.k], 1) + _heads(pk, heads)  # [B, 1+HW, h, d]
    v = torch.cat([maps.v.mean(1, keepdim=True), maps.v], 1) + _heads(pv, heads)  # [B, 1+HW, h, d]
    attn = torch.einsum("bhd,bthd->bht", q * q.shape[-1] ** -0.5, k).softmax(-1)  # [B, h, 1+HW]
    out = torch.einsum("bht,bthd->bhd", attn, v).reshape(B, C)                  # [B, C]
    return F.linear(out, pool.c_proj.weight, pool.c_proj.bias)                  # [B, D]


def roi_attention_pool(pool: nn.Module, feat: torch.Tensor, boxes: torch.Tensor,
                       spatial_scale: float, output_size: int, sampling_ratio: int = 2,
                       counts: Sequence[int] | None = None, maps: PoolMaps | None = None
                       ) -> torch.Tensor:
    """Attention-pooled RoI features, the exact fast way (module docstring).

    Args:
        pool: an open_clip ``AttentionPool2d`` (its weights are used; not called).
        feat: [C, H, W] feature map Γ of one image, or [B, C, H, W] of a batch.
        boxes: [R, 4] continuous xyxy in input-image pixels; with a batch, the RoIs of image 0,
            then image 1, ... (``counts[b]`` of image b).
        spatial_scale: feature / image scale (1/32 for CLIP ResNets).
        output_size: RoI-Align bins per side S (the pool's grid, or its positional embedding is
            interpolated to S x S).
        sampling_ratio: as ``roi_align``.
        counts: [B] RoIs per image (batch input only).
        maps: the batch's :class:`PoolMaps` if already computed (e.g. for v_g).
    Returns:
        [R, D] pooled features (D = the pool's output dim) in the order of ``boxes``.

    All images are processed together: RoIs are padded to the largest count of an image, so
    every step is one batched matmul whatever the number of images.
    """
    if feat.dim() == 3:
        feat, counts = feat[None], [int(boxes.shape[0])]
    B, C, H, W = feat.shape
    counts = [int(c) for c in counts]
    R = boxes.shape[0]
    if R != sum(counts):
        raise ValueError(f"{R} boxes but counts sum to {sum(counts)}")
    if R == 0:
        return feat.new_zeros(0, pool.c_proj.out_features)
    maps = maps if maps is not None else PoolMaps(pool, feat)
    heads, S = pool.num_heads, output_size
    d = C // heads
    ay, ax = roi_align_matrices(boxes.to(feat.dtype), H, W, S, spatial_scale,
                                sampling_ratio)                                 # [R,S,H], [R,S,W]
    # padded layout [B, Rm, ...]: slot (b, j) is RoI j of image b
    Rm = max(counts)
    img = torch.repeat_interleave(torch.arange(B, device=feat.device),
                                  torch.as_tensor(counts, device=feat.device))  # [R]
    starts = torch.cumsum(torch.as_tensor([0] + counts[:-1], device=feat.device), 0)
    slot = torch.arange(R, device=feat.device) - starts[img]                     # [R]
    AY = feat.new_zeros(B, Rm, S, H)
    AX = feat.new_zeros(B, Rm, S, W)
    AY[img, slot] = ay.to(feat.dtype)
    AX[img, slot] = ax.to(feat.dtype)
    pk, pv, q0 = projected_positions(pool, S, S, feat.dtype)                    # [1+SS, C]
    # Query: the mean token a_r G + pos_0, a_r = mean row of A_r = mean(Ay) (x) mean(Ax).
    a = torch.einsum("bry,brx->bryx", AY.mean(2), AX.mean(2)).reshape(B, Rm, H * W)  # [B, Rm, HW]
    if Rm < H * W:
        q = F.linear(a @ maps.g, pool.q_proj.weight)                            # [B, Rm, C]
    else:
        q = a @ F.linear(maps.g, pool.q_proj.weight)                            # [B, Rm, C]
    q = _heads(q + q0, heads) * d ** -0.5                                       # [B, Rm, h, d]
    # Scores of the S*S content tokens: A_r (K q_r), separably; the mean token's content score
    # is their mean (a_r is the mean row of A_r).
    u = torch.einsum("bnhd,brhd->brhn", maps.k, q).reshape(B, Rm, heads, H, W)  # [B, Rm, h, H, W]
    content = torch.einsum("brhyx,brjx->brhyj", u, AX)                          # [B, Rm, h, H, S]
    content = torch.einsum("brhyj,briy->brhij", content, AY).reshape(B, Rm, heads, S * S)
    content = torch.cat([content.mean(-1, keepdim=True), content], -1)          # [B, Rm, h, 1+SS]
    scores = content + torch.einsum("thd,brhd->brht", _heads(pk, heads), q)     # [B, Rm, h, 1+SS]
    p = scores.softmax(-1)                                                      # [B, Rm, h, 1+SS]
    # Output: (sum_j p_j A_r[j]) V with the mean token spread over the content rows, + positions.
    pc = (p[..., 1:] + p[..., :1] / (S * S)).reshape(B, Rm, heads, S, S)        # [B, Rm, h, S, S]
    w = torch.einsum("brhij,brjx->brhix", pc, AX)                               # [B, Rm, h, S, W]
    w = torch.einsum("brhix,briy->brhyx", w, AY).reshape(B, Rm, heads, H * W)   # [B, Rm, h, HW]
    o = torch.einsum("brhn,bnhd->brhd", w, maps.v) \
        + torch.einsum("brht,thd->brhd", p, _heads(pv, heads))                  # [B, Rm, h, d]
    o = o.reshape(B, Rm, C)[img, slot]                                          # [R, C]
    return F.linear(o, pool.c_proj.weight, pool.c_proj.bias)                    # [R, D]


def naive_roi_attention_pool(pool: nn.Module, feat: torch.Tensor, boxes: torch.Tensor,
                             spatial_scale: float, output_size: int, sampling_ratio: int = 2
                             ) -> torch.Tensor:
    """Reference: ``torchvision.ops.roi_align(aligned=True)`` crops, then the attention pool
    module on each crop. Slow (tests and benchmarks only). [C, H, W] x [R, 4] -> [R, D]."""
    from torchvision.ops import roi_align

    if boxes.shape[0] == 0:
        return feat.new_zeros(0, pool.c_proj.out_features)
    crops = roi_align(feat[None], [boxes.to(feat.dtype)], output_size, spatial_scale,
                      sampling_ratio, aligned=True)                              # [R, C, S, S]
    side = int(round(math.sqrt(pool.positional_embedding.shape[0] - 1)))
    if side == output_size:
        return pool(crops)                                                      # [R, D]
    return global_attention_pool(pool, crops)                                   # [R, D]
