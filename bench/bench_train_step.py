"""One training step at paper settings, broken down: data loading, backbone forward + backward,
the pair/head part (exact RoI attention pool, F_sp, F_E, KTN, F_P, F_B; forward + backward
into Γ) and the losses. Also the naive RoI path (roi_align + attention pool per RoI) for
comparison, and the tiny SynHOI default's iterations/s.

Paper settings: RN50 (random init: no weights offline; the cost is the same), 512 x 512 input,
15 humans x 15 objects per image (225 pairs, humans not used as objects), batch 2, CPU,
frozen BatchNorm. Target: head + losses <= 25 % of the backbone.

Usage: python bench/bench_train_step.py [--repeats 3] [--skip-naive] [--skip-tiny]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import record  # noqa: E402

from weakhoi.data.pairs import ImagePairs, PairImages, collate_pairs, model_inputs  # noqa: E402
from weakhoi.engine.trainer import batch_targets  # noqa: E402
from weakhoi.losses import WeakHOICriterion  # noqa: E402
from weakhoi.model.config import BackboneConfig, LossConfig, ModelConfig  # noqa: E402
from weakhoi.model.network import build_model  # noqa: E402
from weakhoi.model.roi_pool import naive_roi_attention_pool, roi_attention_pool  # noqa: E402
from weakhoi.spatial import spatial_encoding  # noqa: E402

N_HOI, N_VERB, N_OBJ, D = 600, 117, 80, 1024


def synthetic_split(root: Path, n: int, rng: np.random.Generator) -> list[ImagePairs]:
    """n random 640x480 JPEGs with 15 human and 15 object boxes each, all 225 pairs."""
    from PIL import Image

    out = []
    for i in range(n):
        name = f"img_{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(root / name, quality=90)
        xy = rng.uniform(0, 0.7, (30, 2)) * [640, 480]
        wh = rng.uniform(0.1, 0.3, (30, 2)) * [640, 480]
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        labels = np.r_[np.full(15, 49), rng.integers(0, 80, 15)].astype(np.int64)
        h, o = np.repeat(np.arange(15), 15), np.tile(np.arange(15, 30), 15)
        sp = spatial_encoding(boxes[h], boxes[o], 640, 480)
        out.append(ImagePairs(name, 640, 480, boxes, rng.uniform(0.3, 1, 30).astype(np.float32),
                              labels, h, o, sp, np.arange(30)))
    return out


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def paper_step(repeats: int, naive: bool) -> dict:
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    cfg = ModelConfig(N_HOI, N_VERB, N_OBJ, D, BackboneConfig(model="RN50", batchnorm="frozen"))
    bank = torch.nn.functional.normalize(torch.randn(N_HOI, D), dim=-1)
    net = build_model(cfg, bank, torch.randint(0, N_VERB, (N_HOI,)), torch.randint(0, N_OBJ, (N_HOI,)))
    net.train()
    crit = WeakHOICriterion(LossConfig())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pairs = synthetic_split(Path(tmp), 2, rng)
        images = PairImages(tmp, pairs, 512)
        for r in range(repeats + 1):                                  # first round: warm-up
            batch, t_data = timed(lambda: collate_pairs([images.sample(0), images.sample(1, flip=True)]))
            B = 2
            batch["hoi"] = torch.zeros(B, N_HOI); batch["hoi"][:, :3] = 1
            batch["verb"] = torch.zeros(B, N_VERB); batch["verb"][:, :2] = 1
            batch["object_labels"] = torch.zeros(B, N_OBJ); batch["object_labels"][:, :5] = 1
            inp = model_inputs(batch)
            net.zero_grad(set_to_none=True)
            feat, t_bb_f = timed(lambda: net.backbone(inp["images"]))
            leaf = feat.detach().requires_grad_(True)

            rest = {k: v for k, v in inp.items() if k != "images"}
            out, t_head_f = timed(lambda: net.heads(leaf, **rest))
            losses, t_loss_f = timed(lambda: crit(out, batch_targets(batch, "cpu"), 100))
            _, t_head_b = timed(lambda: losses["loss"].backward())
            _, t_bb_b = timed(lambda: feat.backward(leaf.grad))
            row = {"data": t_data, "backbone_fwd": t_bb_f, "backbone_bwd": t_bb_b,
                   "head_fwd": t_head_f, "loss_fwd": t_loss_f, "head_loss_bwd": t_head_b}
            if naive:
                boxes = inp["boxes"][:30]
                from weakhoi.model.network import union_boxes
                rois = torch.cat([boxes, union_boxes(boxes[inp["human"][:225]], boxes[inp["object"][:225]])])
                f = leaf[0].detach().requires_grad_(True)
                t0 = time.perf_counter()
                for fn in (naive_roi_attention_pool,):
                    fn(net.backbone.attnpool, f, rois, 1 / 32, 7, 2).sum().backward()
                row["naive_roi_2img"] = 2 * (time.perf_counter() - t0)
                f = leaf[0].detach().requires_grad_(True)
                t0 = time.perf_counter()
                roi_attention_pool(net.backbone.attnpool, f, rois, 1 / 32, 7, 2).sum().backward()
                row["fast_roi_2img"] = 2 * (time.perf_counter() - t0)
                naive = False if r else naive     # once after warm-up is enough
            if r:
                rows.append(row)
    med = {k: float(np.median([r[k] for r in rows if k in r])) for k in rows[0] | rows[-1]}
    med["backbone"] = med["backbone_fwd"] + med["backbone_bwd"]
    med["head_and_losses"] = med["head_fwd"] + med["loss_fwd"] + med["head_loss_bwd"]
    med["ratio"] = med["head_and_losses"] / med["backbone"]
    return med


def tiny_default(iterations: int) -> dict:
    """Iterations/s of `weakhoi train` defaults' network on SynHOI-like inputs (tiny CLIP,
    256 px, batch 8, ~8 pairs per image), data loading included."""
    rng = np.random.default_rng(1)
    from PIL import Image

    from weakhoi.engine.trainer import EngineConfig, Trainer

    class Split:
        def __init__(self, images):
            self.images = images

        def __len__(self):
            return len(self.images)

        def __getitem__(self, key):
            s = self.images.sample(key[1], flip=bool(key[1] % 2))
            s["hoi"] = torch.zeros(28); s["hoi"][key[1] % 28] = 1
            s["verb"] = torch.zeros(6); s["verb"][key[1] % 6] = 1
            s["object_labels"] = torch.zeros(9); s["object_labels"][key[1] % 9] = 1
            return s

    with tempfile.TemporaryDirectory() as tmp:
        pairs = []
        for i in range(32):
            name = f"s{i}.png"
            Image.fromarray(rng.integers(0, 255, (150, 140, 3), dtype=np.uint8)).save(Path(tmp) / name)
            xy = rng.uniform(0, 0.6, (6, 2)) * [140, 150]
            boxes = np.concatenate([xy, xy + rng.uniform(0.2, 0.4, (6, 2)) * [140, 150]], 1).astype(np.float32)
            labels = np.array([8, 8, 0, 1, 2, 3])
            h, o = np.repeat([0, 1], 5), np.array([1, 2, 3, 4, 5, 0, 2, 3, 4, 5])
            pairs.append(ImagePairs(name, 140, 150, boxes, np.ones(6, np.float32), labels, h, o,
                                    spatial_encoding(boxes[h], boxes[o], 140, 150), np.arange(6)))
        ds = Split(PairImages(tmp, pairs, 256))
        cfg = ModelConfig(28, 6, 9, 128, BackboneConfig(model="weakhoi-tiny-rn", batchnorm="frozen_stats"))
        net = build_model(cfg, torch.nn.functional.normalize(torch.randn(28, 128), dim=-1),
                          torch.arange(28) % 6, torch.arange(28) % 9)
        eng = EngineConfig(iterations=iterations, batch_size=8, log_every=iterations, num_workers=2)
        t0 = time.perf_counter()
        Trainer(net, WeakHOICriterion(LossConfig()), ds, eng, progress=False).fit()
        return {"tiny_it_per_s": iterations / (time.perf_counter() - t0), "tiny_iterations": iterations}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--skip-tiny", action="store_true")
    ap.add_argument("--tiny-iterations", type=int, default=20)
    args = ap.parse_args()
    m = paper_step(args.repeats, not args.skip_naive)
    for k, v in m.items():
        print(f"{k:>18s}: {v:.3f}")
    if not args.skip_tiny:
        m.update(tiny_default(args.tiny_iterations))
        print(f"tiny default: {m['tiny_it_per_s']:.2f} it/s")
    ok = m["ratio"] <= 0.25
    table = (
        "| part (RN50, 512 px, 2 images, 225 pairs each) | seconds (median) |\n|---|---:|\n"
        f"| data loading (2 JPEG 640x480, letterbox, collate) | {m['data']:.3f} |\n"
        f"| backbone forward + backward | {m['backbone']:.3f} ({m['backbone_fwd']:.3f} + {m['backbone_bwd']:.3f}) |\n"
        f"| pairs/heads forward (exact RoI attention pool, F_sp, F_E, KTN, F_P, F_B) | {m['head_fwd']:.3f} |\n"
        f"| losses forward | {m['loss_fwd']:.3f} |\n"
        f"| heads + losses backward (into Γ) | {m['head_loss_bwd']:.3f} |\n"
        f"| **heads + losses / backbone** | **{100 * m['ratio']:.1f} %** (target <= 25 %: "
        f"{'met' if ok else 'NOT met'}) |\n")
    if "naive_roi_2img" in m:
        table += (f"\nRoI attention pool of 255 RoIs per image, forward + backward, 2 images: exact "
                  f"fast path {m['fast_roi_2img']:.2f} s, naive roi_align + AttentionPool2d "
                  f"{m['naive_roi_2img']:.2f} s ({m['naive_roi_2img'] / m['fast_roi_2img']:.1f}x).\n")
    if "tiny_it_per_s" in m:
        table += (f"\nTiny SynHOI default (weakhoi-tiny-rn, 256 px, batch 8, ~10 pairs per image, 2 "
                  f"loader workers): {m['tiny_it_per_s']:.2f} iterations/s.\n")
    record("train_step", "One training step at paper settings (bench_train_step.py)", m, table)


if __name__ == "__main__":
    main()
