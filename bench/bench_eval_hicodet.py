"""Benchmark `weakhoi evaluate hicodet` end to end (console script, loading included) on the
real HICO-DET test annotations with ~300,000 synthetic detections.

Measures wall time and peak RSS of the command (per child, via os.wait4), repeated --runs times,
plus an informative breakdown (import of the CLI, annotation reading, detection reading,
evaluation) from one instrumented child. Records into bench/RESULTS.md (section eval_hicodet).

Usage: python bench/bench_eval_hicodet.py [--annotations A] [--num 300000] [--runs 3]
Targets: < 5 s wall, < 1 GB peak RSS. References: official MATLAB ~320 s, Python ports ~15 s.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from _results import record  # noqa: E402
from make_hicodet_detections import DEFAULT_ANNOTATIONS, make_detections  # noqa: E402

BREAKDOWN = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import pipeline.cli  # what the console script imports (all stage modules)
t1 = time.perf_counter()
from weakhoi.data.loaders import load_dataset
from weakhoi.eval.detections import read_detections_json
from weakhoi.eval.hicodet import evaluate_hicodet
ds = load_dataset("hicodet", sys.argv[1], split="test")
t2 = time.perf_counter()
dets = read_detections_json(sys.argv[2], ds)
t3 = time.perf_counter()
res = evaluate_hicodet(ds, dets)
t4 = time.perf_counter()
print(json.dumps({"import_cli_s": t1 - t0, "load_annotations_s": t2 - t1, "read_detections_s": t3 - t2,
                  "evaluate_s": t4 - t3, "full": 100 * res.full}))
"""


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd`` once; wall time and its own peak RSS (os.wait4 rusage of that child)."""
    r, w = os.pipe()
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: stdout -> pipe, exec the command
        os.chdir(ROOT)
        os.dup2(w, 1)
        os.close(r)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.execv(cmd[0], cmd)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024.0, b"".join(chunks).decode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--annotations", type=Path, default=DEFAULT_ANNOTATIONS)
    ap.add_argument("--num", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not args.annotations.is_file():
        raise SystemExit(f"annotations not found: {args.annotations}")

    from weakhoi.data.loaders import load_dataset
    from weakhoi.eval.detections import write_detections_json

    py = str(ROOT / ".venv" / "bin" / "python")
    exe = str(ROOT / ".venv" / "bin" / "weakhoi")
    with tempfile.TemporaryDirectory() as tmp:
        dets_path, out_path = Path(tmp) / "detections.json", Path(tmp) / "M.json"
        ds = load_dataset("hicodet", args.annotations, split="test")
        dets = make_detections(ds, args.num, args.seed)
        write_detections_json(dets_path, ds.file_names, dets, box_decimals=2, score_decimals=6)
        size_mib = dets_path.stat().st_size / 2**20
        del ds, dets

        cmd = [exe, "evaluate", "hicodet", "--annotations", str(args.annotations),
               "--detections", str(dets_path), "--output", str(out_path)]
        walls, rss = [], []
        for _ in range(args.runs):
            w, m, _ = measure(cmd)
            walls.append(w)
            rss.append(m)
            print(f"run: {w:.2f} s wall, {m:.0f} MiB peak RSS")
        metrics = json.loads(out_path.read_text())
        # the same command through the evaluate sub-app only (without the other stage modules
        # that `pipeline.cli` imports): what this stage itself costs
        only = [py, "-c", "import sys; from pipeline.evaluate import app; sys.argv[0] = 'weakhoi evaluate'; app()",
                *cmd[2:]]
        only_wall, only_rss, _ = measure(only)
        print(f"evaluate sub-app only: {only_wall:.2f} s wall, {only_rss:.0f} MiB peak RSS")
        _, bd_rss, bd_out = measure([py, "-c", BREAKDOWN, str(args.annotations), str(dets_path)])
        bd = json.loads(bd_out.strip().splitlines()[-1])

    walls.sort()
    numbers = {"detections": args.num, "detections_json_mib": round(size_mib, 1), "runs": args.runs,
               "wall_s_median": round(walls[len(walls) // 2], 3), "wall_s_min": round(walls[0], 3),
               "peak_rss_mib_max": round(max(rss), 1), "full_map": round(metrics["full"], 4),
               "subapp_only_wall_s": round(only_wall, 3), "subapp_only_peak_rss_mib": round(only_rss, 1),
               **{k: round(v, 3) for k, v in bd.items() if k.endswith("_s")}}
    table = (f"| detections | JSON | wall (median of {args.runs}) | wall (min) | peak RSS | mAP Full |\n"
             f"|---:|---:|---:|---:|---:|---:|\n"
             f"| {args.num:,} | {size_mib:.1f} MiB | {numbers['wall_s_median']:.2f} s | {numbers['wall_s_min']:.2f} s "
             f"| {numbers['peak_rss_mib_max']:.0f} MiB | {metrics['full']:.2f} |\n\n"
             f"Same command through `pipeline.evaluate:app` alone (without the stage modules `pipeline.cli` "
             f"imports): {only_wall:.2f} s, {only_rss:.0f} MiB.\n\n"
             f"Breakdown (one instrumented run): import of `pipeline.cli` (all stage modules) "
             f"{bd['import_cli_s']:.2f} s, annotation reading (`load_dataset`) {bd['load_annotations_s']:.2f} s, "
             f"detection JSON reading {bd['read_detections_s']:.2f} s, evaluation {bd['evaluate_s']:.2f} s.\n"
             f"Targets: < 5 s and < 1 GB. References: official MATLAB ~320 s, popular Python ports ~15 s.")
    print(table)
    record("eval_hicodet", "HICO-DET evaluation (`weakhoi evaluate hicodet`, 9,658 test images)", numbers, table,
           command=f"python bench/bench_eval_hicodet.py --num {args.num} --runs {args.runs}")


if __name__ == "__main__":
    main()
