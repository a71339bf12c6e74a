"""Does the model learn? SynHOI test mAP of the full model against (a) the same network
untrained, (b) a detection-score-only ranking ((s_h s_o)^gamma for every valid class) and (c)
the paper's baseline row (L_p only: no HOI recognition, no KTN, no SRC, no score fusion),
mean +- std over training seeds.

Uses the workspace's upstream artifacts (run `dvc repro` first: data/synhoi, proposals, pairs,
knowledge bank, the CLIP prior) and params.yaml's defaults; every variant trains with the
`train` stage's own code (`weakhoi train`, `weakhoi infer`) into a scratch directory.

Usage: python bench/bench_learning.py [--seeds 0 1 2] [--params params.yaml] [--keep DIR]
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _results import record  # noqa: E402

VARIANTS = {
    "full": ({}, {}),
    "baseline": ({"model": {"hoi_recognition": False, "ktn": "none"}, "loss": {"src": False}},
                 {"use_global": False, "use_relatedness": False}),
    "untrained": ({"lr_backbone": 0.0, "lr_head": 0.0, "iterations": 1}, {}),
}


def merged(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merged(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def cli(*args) -> str:
    from typer.testing import CliRunner

    from pipeline.cli import app

    res = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    if res.exit_code != 0:
        raise SystemExit(f"weakhoi {' '.join(map(str, args[:2]))} failed:\n{res.output}")
    return res.output


def splits(params: dict) -> dict:
    s = params["dataset"]["splits"]
    return {k: Path(v) for k, v in (("train_ann", s["train"]["annotations"]), ("train_img", s["train"]["images"]),
                                     ("test_ann", s["test"]["annotations"]), ("test_img", s["test"]["images"]))}


def detection_only(scores_path: Path, test_ann: Path, gamma: float) -> dict:
    """mAP of ranking every valid (pair, class) by (s_h s_o)^gamma alone."""
    from weakhoi.eval.from_scores import FusedDetections, hoi_detections
    from weakhoi.eval.hicodet import evaluate_hicodet
    from weakhoi.data.loaders import load_dataset
    from weakhoi.scores import read_hoi_scores

    sc = read_hoi_scores(scores_path)
    ds = load_dataset("synhoi", test_ann, split="test", require_sizes=False)
    gh, go = sc.pair_detections()
    table = sc.verb_object_to_hoi()                                    # [A, C]
    hoi = table[:, sc.labels[go]].T                                    # [P, A]
    pair, verb = np.nonzero(hoi >= 0)
    score = (sc.det_scores[gh[pair]].astype(np.float64) * sc.det_scores[go[pair]]) ** gamma
    fused = FusedDetections(sc.pair_image()[pair], gh[pair], go[pair], hoi[pair, verb], score)
    r = evaluate_hicodet(ds, hoi_detections(sc, fused))
    return {"full": 100 * r.full, "rare": 100 * r.rare_map, "non_rare": 100 * r.non_rare_map}


def run_variant(work: Path, params: dict, name: str, seed: int) -> tuple[dict, float, Path, dict]:
    train_over, eval_over = VARIANTS[name]
    p = copy.deepcopy(params)
    p["train"] = merged(p["train"], train_over)
    p["train"]["seed"] = seed
    p["train"]["model"]["backbone"]["seed"] = seed
    p["evaluate"] = merged(p["evaluate"], eval_over)
    d = work / f"{name}-{seed}"
    d.mkdir(parents=True)
    pp = d / "params.yaml"
    pp.write_text(yaml.safe_dump(p, sort_keys=False))
    s = splits(p)
    t0 = time.perf_counter()
    cli("train", "--dataset", p["dataset"]["name"], "--annotations", s["train_ann"], "--images", s["train_img"],
        "--proposals", ROOT / "artifacts/proposals/train.h5", "--pairs", ROOT / "artifacts/pairs/train.zarr",
        "--bank", ROOT / "artifacts/knowledge_bank.h5", "--out", d / "model.h5", "--curves", d / "curves",
        "--checkpoint-root", d / "ckpt", "--params", pp)
    t_train = time.perf_counter() - t0
    cli("infer", "--dataset", p["dataset"]["name"], "--annotations", s["test_ann"], "--images", s["test_img"],
        "--model", d / "model.h5", "--proposals", ROOT / "artifacts/proposals/test.h5",
        "--pairs", ROOT / "artifacts/pairs/test.zarr", "--out", d / "scores.h5", "--params", pp)
    cli("evaluate", "scores", "--scores", d / "scores.h5", "--dataset", p["dataset"]["name"],
        "--annotations", s["test_ann"], "--train-annotations", s["train_ann"],
        "--metrics", d / "metrics.json", "--per-class", d / "per_class.json", "--plots-dir", d / "plots",
        "--params", pp)
    m = json.loads((d / "metrics.json").read_text())["hicodet"]["default"]
    pc = json.loads((d / "per_class.json").read_text())
    split = {"images": pc["images"], "classes": len(pc["classes"]), "rare": sum(c["rare"] for c in pc["classes"])}
    return {k: m[k] for k in ("full", "rare", "non_rare")}, t_train, d / "scores.h5", split


def summary(rows: list[dict]) -> dict:
    out = {}
    for k in ("full", "rare", "non_rare"):
        vals = [r[k] for r in rows]
        out[k] = {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                  "values": vals}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--keep", type=Path, default=None, help="keep the runs in this directory")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    params = yaml.safe_load(args.params.read_text())
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_learning-"))
    results, times = {}, {}
    try:
        for name in args.variants:
            rows = []
            for seed in args.seeds:
                m, t, scores, split = run_variant(work, params, name, seed)
                rows.append(m)
                times.setdefault(name, []).append(t)
                print(f"{name} seed {seed}: Full {m['full']:.2f} Rare {m['rare']:.2f} Non-Rare "
                      f"{m['non_rare']:.2f} (train {t:.0f} s)", flush=True)
                if name == "full":
                    results.setdefault("_det", []).append(
                        detection_only(scores, splits(params)["test_ann"], params["train"]["gamma"]))
            results[name] = summary(rows)
        if "_det" in results:
            results["detection_only"] = summary(results.pop("_det"))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    label = {"full": "full model (defaults)", "baseline": "paper baseline (L_p only, no fusion)",
             "untrained": "same network, untrained", "detection_only": "detection scores only ((s_h s_o)^γ)"}
    lines = ["| variant | Full | Rare | Non-Rare | train time (s) |", "|---|---:|---:|---:|---:|"]
    for name in ("full", "baseline", "untrained", "detection_only"):
        if name in results:
            r = results[name]
            t = f"{statistics.fmean(times[name]):.0f}" if name in times else "-"
            lines.append(f"| {label[name]} | " + " | ".join(
                f"{r[k]['mean']:.2f} ± {r[k]['std']:.2f}" for k in ("full", "rare", "non_rare")) + f" | {t} |")
    table = (f"SynHOI test split ({split['images']} images, {split['classes']} classes, {split['rare']} rare), "
             f"mAP (%) in the Default setting, "
             f"mean ± std over seeds {args.seeds} (train.seed = model.backbone.seed).\n\n" + "\n".join(lines))
    print(table)
    if not args.no_record:
        record("learning", "Learning on SynHOI (bench_learning.py)",
               {"results": results, "train_seconds": times, "seeds": args.seeds}, table)


if __name__ == "__main__":
    main()
