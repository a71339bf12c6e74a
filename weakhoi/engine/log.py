"""Training curves in dvclive's file layout, rebuilt from the run's history.

dvclive's ``Live`` would write a wall-clock ``timestamp`` column and wipe its directory on a
restart (DVC-NOTES); instead the history (one row per logging step) lives in the checkpoint and
these files are rewritten from it, so a resumed run produces the same bytes as an uninterrupted
one and the curves are byte-reproducible::

    <dir>/metrics.json                      last logged values + "step"
    <dir>/plots/metrics/train/<name>.tsv    "step\\t<name>" rows (one file per curve)

Throughput (iterations/s) depends on the machine, so it goes to a separate file outside the
stage's outputs (:func:`write_timing`), declared as a top-level plot in dvc.yaml.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..artifacts import atomic_output, directory_kind

#: Replace-policy kind of the curves directory (a marked weakhoi directory).
CURVES_KIND = directory_kind("training curves")


def _fmt(v: Any) -> str:
    return str(int(v)) if isinstance(v, int) and not isinstance(v, bool) else repr(float(v))


def _tsv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return "\t".join(header) + "\n" + "".join("\t".join(_fmt(v) for v in r) + "\n" for r in rows)


def _write_tsv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(_tsv(header, rows), encoding="utf-8")


def write_curves(directory: Path | str, history: Sequence[Mapping[str, Any]],
                 prefix: str = "train") -> None:
    """Write the dvclive-layout curves and summary of ``history`` (rows with ``step`` and
    metric values; a metric missing from a row is skipped there). The directory is replaced as
    a whole, atomically (only a curves directory weakhoi wrote is replaced)."""
    with atomic_output(directory, CURVES_KIND) as tmp:
        tmp.mkdir()
        _curves_into(tmp, history, prefix)


def _curves_into(d: Path, history: Sequence[Mapping[str, Any]], prefix: str) -> None:
    names = sorted({k for row in history for k in row if k != "step"})
    for name in names:
        rows = [(int(r["step"]), r[name]) for r in history if name in r]
        f = d / "plots" / "metrics" / prefix / f"{name}.tsv"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(_tsv(["step", name], rows), encoding="utf-8")
    summary: dict[str, Any] = {}
    if history:
        last = history[-1]
        summary = {prefix: {k: float(v) for k, v in sorted(last.items()) if k != "step"},
                   "step": int(last["step"])}
    (d / "metrics.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n",
                                    encoding="utf-8")


def write_timing(path: Path | str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Machine-dependent throughput rows (``step``, ``it_per_s``, ...) as one TSV."""
    if not rows:
        return
    keys = ["step"] + sorted(k for k in rows[0] if k != "step")
    _write_tsv(Path(path), keys, [[r[k] for k in keys] for r in rows])
