"""Run every benchmark in bench/ (each records its numbers in bench/RESULTS.md)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = ["bench_spatial.py", "bench_read.py", "bench_eval_hicodet.py", "bench_fusion_eval.py", "bench_train_step.py",
           "bench_zero_shot.py", "bench_learning.py", "bench_pipeline.py", "bench_tables.py"]   # the last four: minutes each (tables: ~100 min)

if __name__ == "__main__":
    failed = []
    for name in SCRIPTS:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(BENCH / name)], cwd=BENCH.parent).returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
