"""Per-run records: when, where, how long and from which commit an output was written.

Artifacts hold only what determines their bytes (inputs, params, code; see
`weakhoi.artifacts.provenance`), so the facts of one particular run live here instead: a small
JSON file per output, ``logs/runs/<output path>.json`` (the output's path relative to the
working directory, mirrored below ``logs/runs``; ``$WEAKHOI_RUN_LOG_DIR`` overrides the
directory). It is next to, never inside, the DVC outputs, git-ignored and not a DVC output, so
it can change on every run without invalidating anything. Every stage calls
:func:`record_run` once its output is in place::

    record_run(out, "spatial", extra={"pairs": n})

Keys: stage, output, started_utc, finished_utc, duration_s, git_commit (HEAD of the weakhoi
checkout, "unknown" outside one), git_dirty, host, pid, command (argv), cwd, weakhoi_version,
plus ``extra``. Writing the record is best effort: a failure is reported on stderr and does not
fail the stage, whose output is already complete.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

RUN_LOG_DIR_ENV = "WEAKHOI_RUN_LOG_DIR"
DEFAULT_RUN_LOG_DIR = Path("logs") / "runs"
_CODE_ROOT = Path(__file__).resolve().parents[1]       # <checkout>/pipeline/runlog.py
_started = time.time()


def mark_start() -> None:
    """Start the clock of the current command (the CLI calls it before every command)."""
    global _started
    _started = time.time()


def run_log_dir() -> Path:
    return Path(os.environ.get(RUN_LOG_DIR_ENV) or DEFAULT_RUN_LOG_DIR)


def run_record_path(out_path: Path | str) -> Path:
    """``<run log dir>/<out_path relative to the working directory>.json`` (an output outside
    the working directory keeps its absolute path below the run log dir)."""
    out = Path(os.path.abspath(out_path))
    try:
        rel = out.relative_to(Path.cwd())
    except ValueError:
        rel = out.relative_to(out.anchor)
    return run_log_dir().joinpath(*rel.parts[:-1], rel.name + ".json")


def _git(*args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", "-C", str(_CODE_ROOT), *args], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None


def git_state() -> tuple[str, bool | None]:
    """(HEAD commit of the weakhoi checkout or 'unknown', whether tracked files have changes)."""
    if not (_CODE_ROOT / ".git").exists():
        return "unknown", None
    head = _git("rev-parse", "HEAD")
    if head is None or head.returncode != 0 or not head.stdout.strip():
        return "unknown", None
    status = _git("status", "--porcelain", "--untracked-files=no")
    dirty = None if status is None or status.returncode != 0 else bool(status.stdout.strip())
    return head.stdout.strip(), dirty


def _utc(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="seconds")


def record_run(out_path: Path | str, stage: str, extra: Mapping[str, Any] | None = None
               ) -> Path | None:
    """Write the run record of ``out_path`` produced by ``stage`` (see the module docstring);
    returns its path, or None when it could not be written (reported on stderr)."""
    from weakhoi.artifacts import write_json
    from weakhoi.errors import WeakHOIError

    now = time.time()
    commit, dirty = git_state()
    try:
        version = importlib.metadata.version("weakhoi")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    doc: dict[str, Any] = {
        "stage": stage, "output": str(out_path), "started_utc": _utc(_started),
        "finished_utc": _utc(now), "duration_s": round(now - _started, 3),
        "git_commit": commit, "git_dirty": dirty, "host": platform.node(), "pid": os.getpid(),
        "command": list(sys.argv), "cwd": os.getcwd(), "weakhoi_version": version,
    }
    doc.update(extra or {})
    path = run_record_path(out_path)
    try:
        write_json(path, doc, indent=1, default=str)
    except (OSError, WeakHOIError) as e:
        print(f"warning: run record {path} not written: {e}", file=sys.stderr)
        return None
    return path
