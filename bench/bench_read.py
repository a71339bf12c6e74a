"""Artifact read throughput a training data loader sees, at HICO-DET test scale.

Builds, in a temp dir, a synthetic `proposals` artifact (.h5, 9,658 images, 10-100 detections
each, seeded) and runs the `spatial` stage on it to get the `pair_features` artifact (.zarr,
as in dvc.yaml; and .h5 for comparison). Then reads, per image in a random order, the
detections (proposals) and the pairs (pair features), as a shuffling data loader would:
  * streaming: `art.ragged(...)[i]` on the on-disk arrays (decodes a chunk per miss);
  * in memory: `art.ragged(...).load()` once, then `[i]`.

Usage: python bench/bench_read.py [--images 9658] [--reads 3000] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import record  # noqa: E402

from weakhoi.artifacts import ArtifactWriter, open_artifact  # noqa: E402
from weakhoi.spatial import write_pair_features  # noqa: E402

PERSON = 49
CFG = {"human_score_threshold": 0.2, "object_score_threshold": 0.2, "nms_threshold": 0.5,
       "max_humans": 15, "max_objects": 15, "humans_as_objects": True, "eps": 1e-8}


def write_proposals(path: Path, n: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    sizes = np.stack([rng.integers(300, 641, n), rng.integers(300, 641, n)], axis=1)  # [n, 2]
    lengths = rng.integers(10, 101, n)                                                 # [n]
    total = int(lengths.sum())
    wh_img = np.repeat(sizes, lengths, axis=0).astype(np.float64)                      # [R, 2]
    xy = rng.uniform(0.0, 0.9, (total, 2)) * wh_img
    wh = rng.uniform(0.02, 0.6, (total, 2)) * wh_img
    boxes = np.concatenate([xy, np.minimum(xy + wh, wh_img)], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, total).astype(np.float32)
    labels = np.where(rng.random(total) < 0.4, PERSON, rng.integers(0, 80, total)).astype(np.int64)
    with ArtifactWriter(path, "proposals", params={"backend": "synthetic", "seed": seed},
                        extra={"backend": "synthetic", "dataset": "hicodet", "person_label": PERSON,
                               "num_objects": 80}) as w:
        w.write_strings("file_names", [f"HICO_test2015_{i + 1:08d}.jpg" for i in range(n)])
        w.write_array("image_sizes", sizes.astype(np.int64))
        w.write_ragged("detections", lengths, boxes=boxes, scores=scores, labels=labels)
    return total


def read_random(prop: Path, pairs: Path, order: np.ndarray, in_memory: bool) -> tuple[float, int]:
    """Seconds to read detections + pairs of the images in `order`; returns (s, pairs read)."""
    t = time.perf_counter()
    n_pairs = 0
    with open_artifact(prop, "proposals") as pa, open_artifact(pairs, "pair_features") as fa:
        dets, prs = pa.ragged("detections"), fa.ragged("pairs")
        if in_memory:
            dets, prs = dets.load(), prs.load()
        for i in order:
            d, p = dets[int(i)], prs[int(i)]
            n_pairs += len(p["human"])
            if len(p["object"]) and int(p["object"].max()) >= len(d["boxes"]):   # touch the data
                raise RuntimeError(f"image {i}: pair row index out of range")
    return time.perf_counter() - t, n_pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=9658)
    ap.add_argument("--reads", type=int, default=3000, help="images read in the streaming runs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed + 1)
    numbers: dict = {"images": args.images}
    rows = []
    with tempfile.TemporaryDirectory(prefix="weakhoi-bench-read-") as tmp:
        tmp = Path(tmp)
        prop = tmp / "proposals.h5"
        t = time.perf_counter()
        numbers["detections"] = write_proposals(prop, args.images, args.seed)
        numbers["write_proposals_s"] = round(time.perf_counter() - t, 2)
        outs = {}
        for suffix in (".zarr", ".h5"):
            out = tmp / f"pairs{suffix}"
            t = time.perf_counter()
            n = write_pair_features(prop, out, **CFG, progress=False)
            dt = time.perf_counter() - t
            numbers["pairs"] = n
            numbers[f"stage_s{suffix.replace('.', '_')}"] = round(dt, 2)
            outs[suffix] = out
            size = sum(f.stat().st_size for f in out.rglob("*")) if out.is_dir() else out.stat().st_size
            numbers[f"pairs_mb{suffix.replace('.', '_')}"] = round(size / 2**20, 1)
            print(f"spatial stage -> {out.name}: {n} pairs in {dt:.1f} s, {size / 2**20:.1f} MiB")
        numbers["proposals_mb"] = round(prop.stat().st_size / 2**20, 1)

        full = rng.permutation(args.images)
        subset = full[:min(args.reads, args.images)]
        for suffix, out in outs.items():
            for in_memory in (False, True):
                order = full if in_memory else subset
                dt, n_pairs = read_random(prop, out, order, in_memory)
                key = f"{'memory' if in_memory else 'stream'}{suffix.replace('.', '_')}"
                numbers[f"{key}_images_per_s"] = round(len(order) / dt, 1)
                numbers[f"{key}_pairs_per_s"] = round(n_pairs / dt)
                mode = "in memory (load() once, incl. load time)" if in_memory else "streaming (chunk decode per miss)"
                rows.append(f"| proposals .h5 + pairs {suffix} | {mode} | {len(order)} | {dt:.2f} | "
                            f"{len(order) / dt:,.0f} | {n_pairs / dt:,.0f} |")
                print(rows[-1])

    for k, v in numbers.items():
        print(f"{k:>28}: {v}")
    table = (
        f"Synthetic HICO-DET test scale: {args.images} images, {numbers['detections']} detections "
        f"(10-100 per image), {numbers['pairs']} pairs after the `spatial` stage (defaults); "
        f"proposals {numbers['proposals_mb']} MiB, pairs {numbers['pairs_mb_zarr']} MiB (.zarr) / "
        f"{numbers['pairs_mb_h5']} MiB (.h5). Stage time: {numbers['stage_s_zarr']} s (.zarr), "
        f"{numbers['stage_s_h5']} s (.h5).\n\n"
        "| artifacts | access | images read (random order) | time (s) | images/s | pairs/s |\n"
        "|---|---|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n")
    record("read", "Artifact read throughput (random order, per image)", numbers, table)


if __name__ == "__main__":
    main()
