"""The CLIP prior: time of the `pretrain` stage with the default params, and zero-shot
image-level HOI recognition on the SynHOI test split for the pretrained tiny CLIP against
random init (mAP over HOI classes, Rare / Non-Rare; chance = mean positive rate).

    python bench/bench_zero_shot.py                 # runs `weakhoi pretrain` (default params)
    python bench/bench_zero_shot.py --checkpoint artifacts/clip_prior/open_clip_model.safetensors

The stage runs as a subprocess (`weakhoi pretrain`, exactly what `dvc repro` runs) so its
wall time includes start-up, drawing the caption split and writing the checkpoint. The load
average before and after is recorded: on a shared machine the time is an upper bound.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _results import record  # noqa: E402


def run_stage(params: Path, out: Path, live: Path) -> dict:
    """Run `weakhoi pretrain` in a subprocess; wall time, CPU time of the child, load."""
    load0 = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               WEAKHOI_RUN_LOG_DIR=str(live.parent / "runs"))
    subprocess.run([sys.executable, "-m", "pipeline.cli", "pretrain", "--dataset", "synhoi", "--out", str(out),
                    "--curves", str(live), "--params", str(params)], check=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    metrics = json.loads(next((live.parent / "runs").rglob(out.name + ".json")).read_text())  # run record
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "load_before": [round(x, 2) for x in load0],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "captions_s": metrics.get("seconds_captions"), "train_s": metrics.get("seconds_train"),
            "final_loss": metrics.get("final_loss"),
            "epochs": json.loads((out / "provenance.json").read_text())["training"]["epochs"]}


def test_split(params: dict, data_dir: Path | None, tmp: Path):
    """The SynHOI test split of `params` (generated into ``tmp`` unless ``data_dir`` has it)."""
    from weakhoi.data.loaders import load_dataset
    from weakhoi.data.synhoi import SynHOIConfig, generate
    if data_dir is None or not (data_dir / "instances_test.json").is_file():
        data_dir = tmp / "synhoi"
        generate(SynHOIConfig(**params["synhoi"]), data_dir)
    return load_dataset("synhoi", data_dir / "instances_test.json", data_dir / "images" / "test")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--checkpoint", type=Path, default=None, help="evaluate this checkpoint, do not train")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "synhoi",
                    help="SynHOI directory with instances_test.json (generated from --params if absent)")
    ap.add_argument("--random-seeds", type=int, default=3, help="random-init models to average")
    args = ap.parse_args()

    import numpy as np
    from weakhoi.clip import load_clip
    from weakhoi.zero_shot import evaluate_zero_shot, load_split_images, model_image_size

    params = yaml.safe_load(args.params.read_text())
    model = params["pretrain"]["model"]
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        timing = None
        ckpt = args.checkpoint
        if ckpt is None:
            timing = run_stage(args.params, tmp / "prior", tmp / "live")
            ckpt = tmp / "prior" / "open_clip_model.safetensors"
            print(f"pretrain stage: {timing}")
        ds = test_split(params, args.data, tmp)
        net, tok, _ = load_clip(model, str(ckpt))
        images, labels = load_split_images(ds, model_image_size(net))
        pre = evaluate_zero_shot(net, tok, ds.vocab, images, labels)
        rand = [evaluate_zero_shot(*load_clip(model, None, seed=s)[:2], ds.vocab, images, labels)
                for s in range(args.random_seeds)]
    mean = {k: float(np.mean([r[k] for r in rand])) for k in ("map", "rare", "non_rare")}
    print(f"pretrained: mAP {pre['map']:.2f} (rare {pre['rare']:.2f}, non-rare {pre['non_rare']:.2f}); "
          f"random init ({args.random_seeds} seeds): {mean['map']:.2f} ({mean['rare']:.2f}, {mean['non_rare']:.2f}); "
          f"chance {pre['chance']:.2f}")
    rows = [f"| pretrained (`{ckpt.name if args.checkpoint else 'weakhoi pretrain'}`) | {pre['map']:.1f} | "
            f"{pre['rare']:.1f} | {pre['non_rare']:.1f} |",
            f"| random init (mean of seeds 0-{args.random_seeds - 1}) | {mean['map']:.1f} | {mean['rare']:.1f} | "
            f"{mean['non_rare']:.1f} |",
            f"| chance (mean positive rate) | {pre['chance']:.1f} | {pre['chance_rare']:.1f} | "
            f"{pre['chance_non_rare']:.1f} |"]
    table = (f"Zero-shot image-level HOI recognition on the SynHOI test split ({len(ds)} images, "
             f"{pre['num_classes']} classes with a positive image: {pre['num_rare']} rare, "
             f"{pre['num_non_rare']} non-rare), `{model}`, prompts of `bank_prompts`, mAP in %:\n\n"
             "| model | mAP | Rare | Non-Rare |\n|---|---:|---:|---:|\n" + "\n".join(rows) + "\n")
    if timing is not None:
        p = params["pretrain"]
        table += (f"\n`weakhoi pretrain` with the default params ({p['captions']['num']} captions, {p['steps']} steps "
                  f"of batch {p['batch_size']}, {timing['epochs']} epochs; {p['low_res_fraction']:.0%} of the steps "
                  f"at {p['low_res_size']} px): wall {timing['wall_s']} s (captions {timing['captions_s']} s, "
                  f"training {timing['train_s']} s), CPU {timing['cpu_s']} s, final loss {timing['final_loss']}. "
                  f"Load average before / after: {timing['load_before']} / {timing['load_after']} "
                  f"(budget: 240 s on 2 cores).\n")
    record("zero_shot", "CLIP prior: pretrain time and zero-shot recognition (weakhoi.pretrain, weakhoi.zero_shot)",
           {"pretrained": {k: pre[k] for k in ("map", "rare", "non_rare", "chance")},
            "random_init_mean": mean, "random_init": [{k: r[k] for k in ("map", "rare", "non_rare")} for r in rand],
            "timing": timing, "checkpoint": str(args.checkpoint) if args.checkpoint else None,
            "pretrain_params": params["pretrain"]}, table)


if __name__ == "__main__":
    main()
