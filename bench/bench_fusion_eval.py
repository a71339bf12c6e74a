"""Benchmark the `evaluate` stage's hot path (fusion + official evaluation straight from a
`hoi_scores` artifact) and the effect of `evaluate.max_per_image` on time and mAP, at SynHOI
scale and at HICO-DET scale (the 9,658 real test images), with synthetic scores
(tests/synthetic_scores.py: true pairs high, seeded; `--fp-rate` false-positive detections per
image on top of every annotated box, all humans x all other detections as pairs, at most 15
humans and 15 objects per image, as the `spatial` stage forms them).

Per cap: fused detections, fusion time, evaluation time (Default + Known-Object), Full mAP and
its change against keeping everything. Records into bench/RESULTS.md (section fusion_eval).

Usage: python bench/bench_fusion_eval.py [--annotations A] [--fp-rate 6] [--caps 0,1000,300,100,50]
       [--skip-hicodet] [--skip-synhoi] [--section fusion_eval]
The default fp-rate gives ~70 pairs per HICO-DET image; bench_read's detector simulation (10-100
detections per image) gives ~330: `--fp-rate 20 --skip-synhoi --caps 300,100,50 --section
fusion_eval_dense` measures that regime (uncapped it does not fit a small machine's memory).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _results import record  # noqa: E402
from make_hicodet_detections import DEFAULT_ANNOTATIONS  # noqa: E402
from synthetic_scores import synthetic_scores  # noqa: E402

from weakhoi.data.loaders import load_dataset  # noqa: E402
from weakhoi.eval.from_scores import fuse_hoi_scores, hoi_detections  # noqa: E402
from weakhoi.eval.hicodet import evaluate_hicodet  # noqa: E402
from weakhoi.fusion import FusionConfig  # noqa: E402
from weakhoi.scores import read_hoi_scores  # noqa: E402


def measure(scores_path: Path, dataset, caps: list[int], repeats: int) -> list[dict]:
    scores = read_hoi_scores(scores_path)
    rows = []
    for cap in caps:
        cfg = FusionConfig(max_per_image=cap)
        t_fuse, t_eval = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fused = fuse_hoi_scores(scores, cfg)
            dets = hoi_detections(scores, fused)
            t1 = time.perf_counter()
            default = evaluate_hicodet(dataset, dets)
            known = evaluate_hicodet(dataset, dets, known_object=True)
            t2 = time.perf_counter()
            t_fuse.append(t1 - t0)
            t_eval.append(t2 - t1)
        rows.append({"max_per_image": cap, "detections": len(dets), "fuse_s": min(t_fuse), "eval_s": min(t_eval),
                     "full": 100 * default.full, "rare": 100 * default.rare_map,
                     "known_object_full": 100 * known.full})
        print(f"  cap {cap or 'all':>5}: {len(dets):>9} detections, fuse {min(t_fuse):6.2f} s, "
              f"eval {min(t_eval):6.2f} s, Full {100 * default.full:6.2f}", flush=True)
    return rows


def table(name: str, info: dict, rows: list[dict]) -> str:
    base = rows[0]["full"]
    lines = [f"**{name}**: {info['images']} images, {info['pairs']} pairs ({info['pairs'] / info['images']:.1f} per "
             f"image, max {info['max_pairs']}), {info['detections']} detections; writing the synthetic artifact took "
             f"{info['write_s']:.1f} s, reading it {info['read_s']:.2f} s.", "",
             "| max_per_image | fused detections | fusion (s) | evaluation, both settings (s) | Full mAP | Δ Full | "
             "Known-Object Full |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['max_per_image'] or 'all'} | {r['detections']:,} | {r['fuse_s']:.2f} | {r['eval_s']:.2f} | "
                     f"{r['full']:.2f} | {r['full'] - base:+.2f} | {r['known_object_full']:.2f} |")
    return "\n".join(lines)


def run_one(name: str, dataset, tmp: Path, fp_rate: float, caps: list[int], repeats: int) -> tuple[str, dict]:
    print(f"{name}: writing synthetic scores for {len(dataset)} images ...", flush=True)
    t0 = time.perf_counter()
    path = synthetic_scores(dataset, tmp / f"{name}.h5", seed=0, fp_rate=fp_rate)
    t1 = time.perf_counter()
    s = read_hoi_scores(path)
    t2 = time.perf_counter()
    import numpy as np
    info = {"images": len(s), "pairs": s.num_pairs, "max_pairs": int(np.diff(s.pair_indptr).max()),
            "detections": int(s.det_indptr[-1]), "write_s": t1 - t0, "read_s": t2 - t1}
    del s
    rows = measure(path, dataset, caps, repeats)
    return table(name, info, rows), {"info": info, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--annotations", type=Path, default=DEFAULT_ANNOTATIONS)
    ap.add_argument("--fp-rate", type=float, default=6.0, help="false-positive detections per image (Poisson)")
    ap.add_argument("--caps", default="0,1000,300,100,50")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-hicodet", action="store_true")
    ap.add_argument("--skip-synhoi", action="store_true")
    ap.add_argument("--section", default="fusion_eval", help="bench/RESULTS.md section to write")
    args = ap.parse_args()
    caps = [int(c) for c in args.caps.split(",")]
    sections, numbers = [], {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_synhoi:
            from weakhoi.data.synhoi import SynHOIConfig, generate

            generate(SynHOIConfig(seed=0, num_train=200, num_test=200, min_size=128, max_size=160), tmp / "synhoi")
            ds = load_dataset("synhoi", tmp / "synhoi" / "instances_test.json", split="test")
            text, numbers["synhoi"] = run_one("SynHOI test (default size, 200 images)", ds, tmp, args.fp_rate, caps,
                                              args.repeats)
            sections.append(text)
        if not args.skip_hicodet:
            ds = load_dataset("hicodet", args.annotations, split="test")
            text, numbers["hicodet"] = run_one("HICO-DET test", ds, tmp, args.fp_rate, caps, args.repeats)
            sections.append(text)
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10     # KiB -> MiB (Linux)
    numbers["peak_rss_mib"] = peak
    print("\n\n".join(sections))
    print(f"peak RSS {peak:.0f} MiB")
    record(args.section, f"Fusion + evaluation from a hoi_scores artifact, and max_per_image (fp-rate "
           f"{args.fp_rate:g})", numbers,
           "Times are the best of --repeats runs; the machine is shared (2 cores), so they are noisy. "
           f"Peak RSS of the whole run: {peak:.0f} MiB.\n\n" + "\n\n".join(sections))


if __name__ == "__main__":
    main()
