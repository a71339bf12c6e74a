"""The main command on a fresh clone: wall time of `dvc repro` (every stage, CLIP pretraining and
training included), that a second `dvc repro` does nothing, and what `dvc exp run -S
train.gamma=1.0` re-runs and how long it takes, with the metrics it prints.

Clones the committed HEAD of this checkout into a scratch directory (uncommitted changes are not
measured), links this checkout's .venv into it (the install is not timed), and runs DVC there
exactly as `make repro` does (the venv's bin first on PATH). Also checks that the clone's git
status stays clean (dvc.lock up to date, every output git-ignored).

Usage: python bench/bench_pipeline.py [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _results import record  # noqa: E402


def ran_stages(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, default=None, help="clone here and keep it (must not exist)")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_pipeline-")) / "clone"
    venv_bin = ROOT / ".venv" / "bin"
    env = dict(os.environ, PATH=str(work / ".venv" / "bin") + os.pathsep + os.environ.get("PATH", ""),
               DVC_NO_ANALYTICS="1")
    env.pop("PYTHONPATH", None)

    def sh(*cmd: str) -> tuple[str, float]:
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r.stdout + r.stderr, dt

    try:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
        (work / ".venv").symlink_to(venv_bin.parent)
        load0 = os.getloadavg()
        first, t_first = sh("dvc", "repro")
        second, t_second = sh("dvc", "repro")
        status, _ = sh("git", "status", "--porcelain")
        gamma, t_gamma = sh("dvc", "exp", "run", "-S", "train.gamma=1.0")
        metrics = json.loads((work / "metrics" / "metrics.json").read_text())
        sh("git", "checkout", "--", "params.yaml", "dvc.lock")
        table_lines = [line for line in first.splitlines() if line.startswith(("mAP (%)", "Default", "Known Object"))]
    finally:
        if args.keep is None:
            shutil.rmtree(work.parent, ignore_errors=True)
    numbers = {"repro_s": round(t_first, 1), "repro_stages": ran_stages(first),
               "second_repro_s": round(t_second, 1), "second_repro_stages": ran_stages(second),
               "git_status_after_repro": status.strip().splitlines(),
               "gamma_exp_s": round(t_gamma, 1), "gamma_exp_stages": ran_stages(gamma),
               "gamma_share": round(t_gamma / t_first, 4), "gamma_1_metrics": metrics.get("hicodet", {}),
               "load_before": [round(x, 2) for x in load0]}
    print(json.dumps(numbers, indent=1))
    table = (f"`dvc repro` on a fresh clone (install not timed): **{t_first:.0f} s** "
             f"({t_first / 60:.1f} min; budget 12 min), stages {', '.join(numbers['repro_stages'])}. "
             f"It prints:\n\n```\n" + "\n".join(table_lines) + "\n```\n\n"
             f"Second `dvc repro`: {t_second:.1f} s, stages run: {numbers['second_repro_stages'] or 'none'}; "
             f"`git status --porcelain` after the run: {'clean' if not status.strip() else status.strip()}.\n"
             f"`dvc exp run -S train.gamma=1.0`: {t_gamma:.1f} s ({100 * t_gamma / t_first:.1f} % of the full "
             f"run; budget 5 %), stages run: {', '.join(numbers['gamma_exp_stages'])}; Full / Rare / Non-Rare "
             + " / ".join(f"{metrics['hicodet']['default'][k]:.2f}" for k in ("full", "rare", "non_rare"))
             + f". Load average before: {numbers['load_before']}.\n")
    print(table)
    if not args.no_record:
        record("pipeline", "The main command on a fresh clone (bench_pipeline.py)", numbers, table)


if __name__ == "__main__":
    main()
