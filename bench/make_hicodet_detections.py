"""Write ~300,000 synthetic HICO-DET detections (seeded) over real test annotations, in the
interchange JSON that `weakhoi evaluate hicodet` reads.

Mix per image (about 31 detections per image on the 9,658 test images):
* jittered ground-truth pairs (true class, or another class of the same object),
* random boxes with random classes (many in images without that class: false positives).

Usage: python bench/make_hicodet_detections.py OUT.json [--annotations A] [--num N] [--seed S]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from weakhoi.data.loaders import load_dataset
from weakhoi.eval.detections import HOIDetections, write_detections_json

DEFAULT_ANNOTATIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "hicodet" / "instances_test2015.json"


def make_detections(dataset, num: int, seed: int) -> HOIDetections:
    rng = np.random.default_rng(seed)
    v = dataset.vocab
    n_img = len(dataset)
    recs = dataset.records
    sizes = np.array([(r.width, r.height) for r in recs], dtype=np.float64)        # [n, 2]
    gt_counts = np.array([r.num_pairs for r in recs])
    gt_img = np.repeat(np.arange(n_img), gt_counts)
    gt_h = np.concatenate([r.boxes_h for r in recs])                                # [G, 4]
    gt_o = np.concatenate([r.boxes_o for r in recs])
    gt_hoi = np.concatenate([r.hoi for r in recs])
    same_object = [np.flatnonzero(v.hoi_object == v.hoi_object[c]) for c in range(v.num_hois)]

    # 1) jittered ground truth: ~35% of the detections
    n_j = int(0.35 * num)
    pick = rng.integers(0, gt_hoi.size, n_j)
    def jitter(b: np.ndarray) -> np.ndarray:
        wh = np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)                   # [n, 2]
        scale = rng.choice([0.03, 0.1, 0.25], size=(len(b), 1))
        return b + rng.normal(size=b.shape) * np.tile(wh, 2) * scale
    jh, jo = jitter(gt_h[pick]), jitter(gt_o[pick])
    jhoi = gt_hoi[pick].copy()
    other = rng.random(n_j) < 0.4                                                    # another verb, same object
    jhoi[other] = [int(rng.choice(same_object[c])) for c in jhoi[other]]
    jscore = np.clip(rng.beta(4, 2, n_j), 1e-4, 1)
    jimg = gt_img[pick]

    # 2) random boxes, random classes: the rest
    n_r = num - n_j
    rimg = rng.integers(0, n_img, n_r)
    def rand_boxes(n: int) -> np.ndarray:
        wh = sizes[rimg]
        xy = rng.random((n, 2)) * wh * 0.8
        bwh = (0.05 + rng.random((n, 2)) * 0.5) * wh
        return np.concatenate([xy, np.minimum(xy + bwh, wh)], 1)
    rh, ro = rand_boxes(n_r), rand_boxes(n_r)
    rhoi = rng.integers(0, v.num_hois, n_r)
    rscore = np.clip(rng.beta(2, 4, n_r), 1e-4, 1)

    img = np.concatenate([jimg, rimg])
    boxes_h = np.concatenate([jh, rh])
    boxes_o = np.concatenate([jo, ro])
    # clip to the image, keep at least 1 px
    wh = sizes[img]
    for b in (boxes_h, boxes_o):
        b[:, 0:2] = np.clip(b[:, 0:2], 0, wh - 1)
        b[:, 2:4] = np.clip(b[:, 2:4], b[:, 0:2] + 1, wh)
    perm = rng.permutation(num)  # file order inside an image is random
    return HOIDetections.from_arrays(img[perm], boxes_h[perm], boxes_o[perm],
                                     np.concatenate([jhoi, rhoi])[perm], np.concatenate([jscore, rscore])[perm])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--annotations", type=Path, default=DEFAULT_ANNOTATIONS)
    ap.add_argument("--num", type=int, default=300_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = time.perf_counter()
    ds = load_dataset("hicodet", args.annotations, split="test")
    dets = make_detections(ds, args.num, args.seed)
    # pixel-rounded like a real detector's output written with 2 decimals
    write_detections_json(args.out, ds.file_names, dets, box_decimals=2, score_decimals=6)
    print(f"wrote {len(dets)} detections over {len(ds)} images to {args.out} "
          f"({args.out.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
