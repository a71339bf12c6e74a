"""Candidate human-object pairs and their 36-d spatial encoding.

Stage `spatial` (params: section `spatial` of --params). Reads a `proposals`
artifact; per image keeps the candidate humans and objects (score thresholds,
class-wise NMS, at most max_humans / max_objects; humans are also objects
when humans_as_objects), forms the human-major pairs (humans x objects minus
self-pairs) and writes a `pair_features` artifact (.zarr or .h5) with ragged
`pairs`: `human`, `object` (row indices into the image's detections in the
proposals artifact) and `spatial` [P, 36] float32. The work is done by
`weakhoi.spatial.write_pair_features`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import typer

from weakhoi.spatial import write_pair_features

from .params import DEFAULT_PARAMS, boolean, integer, load_params, number, reject_unknown, section
from .runlog import record_run

SECTION = "spatial"
KEYS = ("human_score_threshold", "object_score_threshold", "nms_threshold", "max_humans",
        "max_objects", "humans_as_objects", "eps")


def check_params(cfg: Mapping[str, Any], where: str = SECTION) -> dict[str, Any]:
    """Validate the `spatial` section; returns the typed values, i.e. the keyword arguments of
    `write_pair_features` (ConfigError naming the key)."""
    out: dict[str, Any] = {}
    for key in ("human_score_threshold", "object_score_threshold", "nms_threshold"):
        out[key] = number(cfg, key, 0.0, 1.0, where)
    for key in ("max_humans", "max_objects"):
        out[key] = integer(cfg, key, 0, where)
    out["humans_as_objects"] = boolean(cfg, "humans_as_objects", where)
    out["eps"] = number(cfg, "eps", 0.0, 1e-2, where, open_lo=True, open_hi=True)
    reject_unknown(cfg, KEYS, where)
    return out


def build_pair_features(proposals: Path, out: Path, cfg: Mapping[str, Any],
                        progress: bool = True) -> int:
    """Validate the `spatial` section `cfg` and write the `pair_features` artifact `out` from the
    `proposals` artifact. Returns the number of pairs."""
    return write_pair_features(proposals, out, **check_params(cfg), progress=progress)


def command(
    proposals: Path = typer.Option(..., "--proposals", help="Input `proposals` artifact (.h5/.zarr)."),
    out: Path = typer.Option(..., "--out", help="Output `pair_features` artifact (.zarr or .h5)."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml; uses its `spatial` section."),
) -> None:
    """Candidate human-object pairs and their 36-d spatial encoding (params: spatial.*)."""
    n = build_pair_features(proposals, out, section(load_params(params), SECTION, params))
    record_run(out, "spatial", {"pairs": n})
    typer.echo(f"wrote {out} ({n} pairs)")
