"""The network of paper §3.2: global branch (backbone, HOI recognition) and local branch (RoI
attention-pooled appearance, spatial encoding, KTN, pairwise classification).

Forward (no loss, no targets)::

    out = net(images, boxes, box_counts, human, object, pair_counts, spatial)
    out["s_g"]   # [B, N] global HOI logits (None without HOI recognition)
    out["v_g"]   # [B, D] global feature (CLIP attention pool on Γ)
    out["s_p"]   # [P, A] pair verb logits (the bag S of every image, concatenated)
    out["s_b"]   # [P] relatedness logits
    out["v_p"]   # [P, D] holistic pair representation F_E([v_h; v_o; v_sp])

Pairs and boxes of all images are concatenated in image order; ``box_counts[i]`` /
``pair_counts[i]`` say how many belong to image i, and ``human`` / ``object`` index rows of
``boxes`` (global rows). Boxes are continuous xyxy in the pixels of the network input.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .backbone import Backbone, build_backbone
from .config import ModelConfig
from .heads import MLP, CosineClassifier, KnowledgeTransfer
from .roi_pool import PoolMaps, global_pool_from_maps, roi_attention_pool

SPATIAL_DIM = 36


def union_boxes(boxes_h: torch.Tensor, boxes_o: torch.Tensor) -> torch.Tensor:
    """Smallest box holding both: [P, 4] x [P, 4] -> [P, 4]."""
    return torch.cat([torch.minimum(boxes_h[:, :2], boxes_o[:, :2]),
                      torch.maximum(boxes_h[:, 2:], boxes_o[:, 2:])], 1)


def verb_prompt_weights(bank: torch.Tensor, hoi_verb: torch.Tensor, num_verbs: int) -> torch.Tensor:
    """[A, D] per-verb mean of the L2-normalised bank rows of its HOI classes (GEN-VLKT-style
    F_P initialisation, Table 3 Abl 4); a verb without class gets a zero row."""
    rows = nn.functional.normalize(bank, dim=-1)                                # [N, D]
    w = torch.zeros(num_verbs, bank.shape[1], dtype=bank.dtype)
    w.index_add_(0, hoi_verb, rows)
    counts = torch.bincount(hoi_verb, minlength=num_verbs).clamp(min=1).to(bank.dtype)
    return w / counts[:, None]


class WeakHOINet(nn.Module):
    """Paper §3.2 with the switches of :class:`ModelConfig`.

    Args:
        cfg: sizes and switches.
        backbone: trunk + attention pool (:func:`weakhoi.model.backbone.build_backbone`).
        bank: [N, D] knowledge bank W_T (from the ``knowledge_bank`` artifact).
        hoi_verb, hoi_object: [N] verb / object of each HOI class.
    """

    def __init__(self, cfg: ModelConfig, backbone: Backbone, bank: torch.Tensor,
                 hoi_verb: torch.Tensor, hoi_object: torch.Tensor) -> None:
        super().__init__()
        N, D, A = cfg.num_hois, cfg.embed_dim, cfg.num_verbs
        if tuple(bank.shape) != (N, D):
            raise ValueError(f"bank is {list(bank.shape)}, config says [{N}, {D}]")
        self.cfg = cfg
        self.backbone = backbone
        self.bank = nn.Parameter(bank.detach().clone().float(), requires_grad=cfg.bank_trainable)
        self.register_buffer("hoi_verb", torch.as_tensor(hoi_verb, dtype=torch.long).clone())
        self.register_buffer("hoi_object", torch.as_tensor(hoi_object, dtype=torch.long).clone())
        self.roi_size = cfg.roi_size or backbone.grid
        H = cfg.width
        self.global_head = CosineClassifier(cfg.global_scale_init, cfg.global_bias_init) \
            if cfg.hoi_recognition else None
        self.spatial_head = MLP([SPATIAL_DIM, *cfg.spatial_hidden, D])           # F_sp
        self.pair_embed = MLP([3 * D, H, D])                                      # F_E
        self.ktn = KnowledgeTransfer(cfg.ktn, D, H, cfg.ktn_scale_init)           # KTN + F_K
        if cfg.fp_init == "prompts":                                              # F_P
            self.verb_head: nn.Module = CosineClassifier(
                cfg.global_scale_init, cfg.global_bias_init,
                verb_prompt_weights(self.bank.detach(), self.hoi_verb, A))
        else:
            self.verb_head = MLP([D, H, A])
            self.verb_head.init_prior(cfg.prior_prob)
        self.relatedness_head = MLP([D, H, 1])                                    # F_B
        self.relatedness_head.init_prior(cfg.prior_prob)

    # ------------------------------------------------------------------ parameter groups
    def backbone_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.backbone.parameters() if p.requires_grad]

    def head_parameters(self) -> list[nn.Parameter]:
        ids = {id(p) for p in self.backbone.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in ids]

    # ------------------------------------------------------------------ forward
    def forward(self, images: torch.Tensor, boxes: torch.Tensor, box_counts: Sequence[int],
                human: torch.Tensor, object: torch.Tensor, pair_counts: Sequence[int],
                spatial: torch.Tensor) -> dict[str, Any]:
        """See the module docstring for shapes."""
        feat = self.backbone(images)                                              # [B, C, h, w]
        return self.heads(feat, boxes, box_counts, human, object, pair_counts, spatial)

    def heads(self, feat: torch.Tensor, boxes: torch.Tensor, box_counts: Sequence[int],
              human: torch.Tensor, object: torch.Tensor, pair_counts: Sequence[int],
              spatial: torch.Tensor) -> dict[str, Any]:
        """Everything after the trunk, from Γ [B, C, h, w] (same outputs as :meth:`forward`)."""
        v_g, v_box, v_u = self._pool(feat, boxes, box_counts, human, object, pair_counts)
        s_g = self.global_head(v_g, self.bank) if self.global_head is not None else None  # [B, N]
        v_sp = self.spatial_head(spatial.to(v_box.dtype))                         # [P, D]
        v_p = self.pair_embed(torch.cat([v_box[human], v_box[object], v_sp], 1))  # [P, D]
        v_hat = self.ktn(v_p, v_u, self.bank.detach())                            # [P, D]
        s_p = self.verb_head(v_hat)                                               # [P, A]
        s_b = self.relatedness_head(v_hat).squeeze(1)                             # [P]
        return {"s_g": s_g, "v_g": v_g, "s_p": s_p, "s_b": s_b, "v_p": v_p,
                "pair_counts": list(pair_counts)}

    def _pool(self, feat: torch.Tensor, boxes: torch.Tensor, box_counts: Sequence[int],
              human: torch.Tensor, object: torch.Tensor, pair_counts: Sequence[int]
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """v_g [B, D], every detection's feature [R, D] and every pair's union feature [P, D]:
        the batch's maps are projected once (k, v; :class:`~weakhoi.model.roi_pool.PoolMaps`)
        and shared by the global pool and all RoIs, which are pooled in one batched call."""
        pool = self.backbone.attnpool
        maps = PoolMaps(pool, feat)
        v_g = global_pool_from_maps(maps)                                          # [B, D]
        unions = union_boxes(boxes[human], boxes[object])                          # [P, 4]
        rois, counts, b0, p0 = [], [], 0, 0
        for nb, npair in zip(box_counts, pair_counts):                             # image-major order
            rois += [boxes[b0:b0 + nb], unions[p0:p0 + npair]]
            counts.append(nb + npair)
            b0, p0 = b0 + nb, p0 + npair
        pooled = roi_attention_pool(pool, feat, torch.cat(rois), 1.0 / self.backbone.stride,
                                    self.roi_size, self.cfg.sampling_ratio, counts, maps)
        is_box = torch.cat([torch.cat([torch.ones(nb, dtype=torch.bool), torch.zeros(npair, dtype=torch.bool)])
                            for nb, npair in zip(box_counts, pair_counts)]).to(pooled.device)
        return v_g, pooled[is_box], pooled[~is_box]


def build_model(cfg: ModelConfig, bank: torch.Tensor, hoi_verb: torch.Tensor,
                hoi_object: torch.Tensor, load_weights: bool = True) -> WeakHOINet:
    """Backbone from ``cfg.backbone`` (loading its weights unless ``load_weights`` is False) +
    heads, seeded by ``cfg.backbone.seed`` (the same seed gives the same initial weights)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(cfg.backbone.seed))
        backbone = build_backbone(cfg.backbone, cfg.embed_dim, load_weights)
        return WeakHOINet(cfg, backbone, bank, hoi_verb, hoi_object)
