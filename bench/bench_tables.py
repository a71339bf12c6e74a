"""The paper's Tables 2-5 on SynHOI as DVC experiments: queue and run them (`weakhoi tables`),
render them next to the paper's numbers, measure the seed spread and check which of the paper's
orderings hold.

Clones the committed HEAD into a scratch directory (--keep DIR: there), sets it up with `make
venv` (timed apart), or works in an existing clone (--project, e.g. one where the runs already
finished: queueing skips finished experiments), and runs, timing each phase:

    weakhoi tables queue --table T          (each of --tables, in order)
    weakhoi tables run -j 1
    weakhoi tables queue --row R ... --seed S ...   (--seed-rows with --seeds)
    weakhoi tables run -j 1
    weakhoi tables render -A --out tables

--no-run skips the queue and run phases (analyse finished experiments); --wall LABEL=SECONDS
then records wall times measured elsewhere (e.g. by a log of the same commands).

Usage: python bench/bench_tables.py [--project DIR] [--tables 2 3 4 5] [--seeds 1 2]
       [--seed-rows t2-baseline ...] [--no-run --wall "Table 2=1234"] [--no-record]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _results import record  # noqa: E402

# The paper's orderings (Full mAP): each is a list of (lower row, higher row, strict).
ORDERINGS = {
    "baseline < Exp 1 < Exp 3 < Exp 4 < ours (Table 2)": [
        ("t2-baseline", "t2-exp1", True), ("t2-exp1", "t2-exp3", True), ("t2-exp3", "t2-exp4", True),
        ("t2-exp4", "t2-ours", True)],
    "ours > Exp 9 (Table 2)": [("t2-exp9", "t2-ours", True)],
    "ours > Abl 1, the zero-shot CLIP union score (Table 3)": [("t3-abl1", "t3-ours", True)],
    "top-1 ≥ top-2 ≥ top-5 (Table 5)": [("t5-top2", "t5-top1", False), ("t5-top5", "t5-top2", False)],
    "softmax KTN > uniform, sigmoid, union (Table 4)": [
        ("t4-exp12", "t4-ours", True), ("t4-exp13", "t4-ours", True), ("t4-exp11", "t4-ours", True)],
}
SEED_ROWS = ["t2-baseline", "t2-exp1", "t2-exp3", "t2-exp4", "t2-exp7", "t2-ours"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, default=None, help="work in this existing clone (its own .venv)")
    ap.add_argument("--keep", type=Path, default=None, help="make the fresh clone here (must not exist) and keep it")
    ap.add_argument("--tables", type=int, nargs="+", default=[2, 3, 4, 5])
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--seed-rows", nargs="+", default=SEED_ROWS)
    ap.add_argument("--no-run", action="store_true", help="only render and analyse finished experiments")
    ap.add_argument("--wall", action="append", default=[], help="LABEL=SECONDS measured elsewhere (with --no-run)")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()

    work = args.project or args.keep or Path(tempfile.mkdtemp(prefix="bench_tables-")) / "clone"
    print(f"project: {work}", flush=True)
    wall: dict[str, float] = {}
    if args.project is None:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
        shared = ROOT.parent / "shared"
        if shared.exists() and not (work.parent / "shared").exists():
            (work.parent / "shared").symlink_to(shared)
        # its own .venv (an editable install): a link to this checkout's would run this
        # checkout's code, not the clone's
        t0 = time.perf_counter()
        subprocess.run(["make", "venv"], cwd=work, check=True, capture_output=True)
        wall["venv (make venv)"] = time.perf_counter() - t0
    venv_bin = (work / ".venv" / "bin").resolve()
    env = dict(os.environ, PATH=str(venv_bin) + os.pathsep + os.environ.get("PATH", ""), DVC_NO_ANALYTICS="1")
    env.pop("PYTHONPATH", None)

    def sh(*cmd: str, check: bool = True) -> tuple[str, float]:
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        print(r.stdout[-2000:], flush=True)
        if check and r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r.stdout, dt

    if not args.no_run:
        for t in args.tables:
            _, q = sh("weakhoi", "tables", "queue", "--table", str(t))
            _, r = sh("weakhoi", "tables", "run", "-j", "1", check=False)
            wall[f"Table {t}"] = q + r
        if args.seeds:
            rows = [x for r in args.seed_rows for x in ("--row", r)]
            seeds = [x for s in args.seeds for x in ("--seed", str(s))]
            _, q = sh("weakhoi", "tables", "queue", *rows, *seeds)
            _, r = sh("weakhoi", "tables", "run", "-j", "1", check=False)
            wall["seed replicates"] = q + r
    for item in args.wall:
        label, _, seconds = item.partition("=")
        wall[label.strip()] = float(seconds)
    sh("weakhoi", "tables", "render", "-A", "--out", "tables", *[x for t in args.tables for x in ("--table", str(t))])
    shown, _ = sh(sys.executable, "-m", "dvc", "exp", "show", "-A", "--json")

    from pipeline.experiments import load_experiments
    from pipeline.paper_tables import comparison_rows, parse_exp_show

    ef = load_experiments(work / "pipeline" / "experiments.yaml")
    records = parse_exp_show(json.loads(shown), ef.metrics_file)
    values: dict[str, tuple[float | None, float | None]] = {}
    for t in args.tables:
        for row, (cr, _) in zip(ef.table_rows(t), comparison_rows(ef, ef.tables[t], "synhoi", records,
                                                                  work / "assets")):
            values[row.id] = (cr.measured.get("full"), (cr.spread or {}).get("full"))
    spreads = [sd for _, sd in values.values() if sd is not None]
    typical = statistics.median(spreads) if spreads else None

    lines = ["| paper's ordering (Full) | pair | measured (SynHOI) | holds |", "|---|---|---|---|"]
    verdicts = {}
    for name, pairs in ORDERINGS.items():
        held = []
        for lo, hi, strict in pairs:
            (a, sa), (b, sb) = values.get(lo, (None, None)), values.get(hi, (None, None))
            pair = f"{ef.rows[lo].label} {'<' if strict else '≤'} {ef.rows[hi].label}"
            if a is None or b is None:
                held.append(None)
                lines.append(f"| {name} | {pair} | not measured ({ef.rows[lo if a is None else hi].label}) | – |")
                continue
            ok = b > a if strict else b >= a
            noise = (sa ** 2 + sb ** 2) ** 0.5 if sa is not None and sb is not None else (
                typical * 2 ** 0.5 if typical is not None else None)
            within = noise is not None and abs(b - a) < noise
            held.append(ok)
            lines.append(f"| {name} | {pair} | {a:.2f} vs {b:.2f} (Δ {b - a:+.2f}"
                         + (f", noise ≈ {noise:.2f}" if noise is not None else "") + ") | "
                         + ("yes" if ok else "no") + (" (within seed noise)" if within else "") + " |")
        verdicts[name] = ("not measured" if all(h is None for h in held) else
                          "holds" if all(h for h in held if h is not None) else "does not hold")
    # which stages each inference-only experiment ran (the run-cache should give it the model)
    shared = ["| inference-only row | experiment | stages run | train |", "|---|---|---|---|"]
    for t in args.tables:
        for row in ef.table_rows(t):
            if not row.inference_only:
                continue
            base = ef.experiment_name(row, "synhoi")
            for name in [n for n in [base] + ef.replicate_names(base, records) if n in records]:
                log = subprocess.run([sys.executable, "-m", "dvc", "queue", "logs", name], cwd=work, env=env,
                                     capture_output=True, text=True).stdout
                ran = [line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")]
                train = ("run-cache" if "Stage 'train' is cached" in log else "trained" if "train" in ran
                         else "unchanged" if "Stage 'train' didn't change" in log else "no log")
                shared.append(f"| {row.label} (Table {t}) | `{name}` | {', '.join(ran) or '-'} | {train} |")
    tables_md = []
    for t in args.tables:
        path = work / "tables" / f"table{t}_synhoi.md"
        tables_md.append(path.read_text(encoding="utf-8").replace("## ", "### ", 1))
    header = ("The numbers are SynHOI's (synthetic, CPU, the project's default schedule), not HICO-DET's; "
              "the paper's column is HICO-DET. Compare orderings, not values.\n\n"
              + ("Wall time (given with --wall, measured by an earlier run of this script on the same "
                 "project; rounded to 0.1 min): " if args.wall else "Wall time: ") + ", ".join(f"{k} {v / 60:.1f} min" for k, v in wall.items())
              + (f" (experiments in total {sum(v for k, v in wall.items() if not k.startswith('venv')) / 60:.1f} min)"
                 if wall else "") + ".\n\n"
              + (f"Seed spread: sample sd of Full over {1 + len(args.seeds)} seeds, median over the rows with "
                 f"replicates {typical:.2f} (range {min(spreads):.2f}-{max(spreads):.2f}); 'noise' below is the sd "
                 f"of a difference of two runs (sqrt(sd_a² + sd_b²), the median sd where a row has no replicates)."
                 if spreads else "No seed replicates.") + "\n\n")
    summary = "\n".join(f"- {k}: **{v}**" for k, v in verdicts.items())
    text = (header + summary + "\n\n" + "\n".join(lines) + "\n\n" + "\n".join(shared) + "\n\n"
            + "\n".join(tables_md))
    print(text)
    if not args.no_record:
        record("tables", "Paper tables on SynHOI (bench_tables.py)",
               {"wall_seconds": wall, "full": {k: {"mean": m, "sd": s} for k, (m, s) in values.items()},
                "typical_sd": typical, "orderings": verdicts}, text)


if __name__ == "__main__":
    main()
