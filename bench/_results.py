"""Record benchmark numbers: each benchmark owns one section of bench/RESULTS.md (replaced in
place between markers) and one JSON file under bench/results/."""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_MD = BENCH_DIR / "RESULTS.md"
RESULTS_DIR = BENCH_DIR / "results"


def machine_summary() -> str:
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except Exception:  # noqa: BLE001 - best effort description
        cpu = platform.processor() or "unknown CPU"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, capture_output=True,
                              text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001
        return "unknown"


def record(name: str, title: str, numbers: dict, table_md: str, command: str | None = None) -> None:
    """Write bench/results/<name>.json and replace the <name> section of bench/RESULTS.md."""
    RESULTS_DIR.mkdir(exist_ok=True)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = command or "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:])
    payload = {"name": name, "date": when, "machine": machine_summary(), "commit": git_commit(),
               "command": command, "numbers": numbers}
    tmp = RESULTS_DIR / f".{name}.json.tmp"
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(RESULTS_DIR / f"{name}.json")

    section = (f"<!-- bench:{name}:start -->\n## {title}\n\n"
               f"- command: `{command}`\n- machine: {payload['machine']}\n"
               f"- date: {when}, commit {payload['commit']}\n\n{table_md.strip()}\n"
               f"<!-- bench:{name}:end -->")
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else "# Benchmark results\n\nWritten by the scripts in bench/; rerun them to refresh.\n"
    pat = re.compile(rf"<!-- bench:{re.escape(name)}:start -->.*?<!-- bench:{re.escape(name)}:end -->", re.S)
    text = pat.sub(lambda _: section, text) if pat.search(text) else text.rstrip() + "\n\n" + section + "\n"
    tmp = RESULTS_MD.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(RESULTS_MD)
    print(f"recorded {name} in {RESULTS_MD}")
