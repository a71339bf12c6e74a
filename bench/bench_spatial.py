"""Spatial-feature throughput at HICO-DET test scale (9,658 images), synthetic seeded boxes.

Measures (single process, float64 compute, float32 result):
  * encode only: `spatial_encoding` called once per image on up to 15 x 15 pairs;
  * encode, one call for all pairs of the split at once (upper bound of the vectorisation);
  * select + encode: `image_pairs` (thresholds, class-wise NMS, caps 15/15, humans as objects,
    pairs, encoding) on up to 100 raw detections per image, as the `spatial` stage does.

Usage: python bench/bench_spatial.py [--images 9658] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import record  # noqa: E402

from weakhoi.spatial import image_pairs, spatial_encoding  # noqa: E402

PERSON = 49


def random_boxes(rng: np.random.Generator, n: int, W: float, H: float) -> np.ndarray:
    """[n, 4] continuous xyxy boxes, mostly inside a W x H image."""
    xy = rng.uniform(0.0, 0.9, size=(n, 2)) * [W, H]
    wh = rng.uniform(0.02, 0.6, size=(n, 2)) * [W, H]
    return np.concatenate([xy, xy + wh], axis=1)


def make_images(n: int, seed: int):
    """Per image: (W, H, human boxes [Nh,4], object boxes [No,4], raw detections)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        W, H = float(rng.integers(300, 641)), float(rng.integers(300, 641))
        nh, no = int(rng.integers(1, 16)), int(rng.integers(1, 16))
        r = int(rng.integers(10, 101))
        raw = (random_boxes(rng, r, W, H), rng.uniform(0.0, 1.0, r),
               np.where(rng.random(r) < 0.4, PERSON, rng.integers(0, 80, r)))
        images.append((W, H, random_boxes(rng, nh, W, H), random_boxes(rng, no, W, H), raw))
    return images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=9658)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t = time.perf_counter()
    images = make_images(args.images, args.seed)
    # pairs of each image: all humans x all objects (up to 15 x 15), human-major
    pairs = [(W, H, np.repeat(bh, len(bo), axis=0), np.tile(bo, (len(bh), 1))) for W, H, bh, bo, _ in images]
    print(f"synthetic data: {args.images} images in {time.perf_counter() - t:.1f} s")

    # 1. encode only, one call per image
    t = time.perf_counter()
    n_pairs = 0
    for W, H, h, o in pairs:
        n_pairs += len(spatial_encoding(h, o, W, H))
    t_enc = time.perf_counter() - t

    # 2. encode all pairs of the split in one call (same image size for all: upper bound)
    all_h = np.concatenate([p[2] for p in pairs])
    all_o = np.concatenate([p[3] for p in pairs])
    t = time.perf_counter()
    spatial_encoding(all_h, all_o, 640.0, 640.0)
    t_batch = time.perf_counter() - t

    # 3. select + pair + encode from raw detections, as the stage does
    t = time.perf_counter()
    n_sel = 0
    for W, H, _, _, (boxes, scores, labels) in images:
        n_sel += len(image_pairs(boxes, scores, labels, W, H, PERSON)[0])
    t_sel = time.perf_counter() - t

    numbers = {
        "images": args.images,
        "encode_pairs": n_pairs,
        "encode_s": round(t_enc, 3),
        "encode_pairs_per_s": round(n_pairs / t_enc),
        "encode_images_per_s": round(args.images / t_enc),
        "encode_one_call_s": round(t_batch, 3),
        "encode_one_call_pairs_per_s": round(n_pairs / t_batch),
        "select_encode_pairs": n_sel,
        "select_encode_s": round(t_sel, 3),
        "select_encode_pairs_per_s": round(n_sel / t_sel),
        "select_encode_images_per_s": round(args.images / t_sel),
    }
    for k, v in numbers.items():
        print(f"{k:>30}: {v}")
    table = (
        "| measurement | images | pairs | time (s) | pairs/s | images/s |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        f"| encode, one call per image (<= 15x15 pairs) | {args.images} | {n_pairs} | {t_enc:.2f} | "
        f"{n_pairs / t_enc:,.0f} | {args.images / t_enc:,.0f} |\n"
        f"| encode, one call for the whole split | {args.images} | {n_pairs} | {t_batch:.2f} | "
        f"{n_pairs / t_batch:,.0f} | - |\n"
        f"| select (thr 0.2, NMS 0.5, 15/15, humans as objects) + encode, 10-100 dets/image | "
        f"{args.images} | {n_sel} | {t_sel:.2f} | {n_sel / t_sel:,.0f} | {args.images / t_sel:,.0f} |\n"
    )
    record("spatial", "Spatial encoding throughput (weakhoi.spatial)", numbers, table)


if __name__ == "__main__":
    main()
