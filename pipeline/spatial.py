"""Candidate human-object pairs and their 36-d spatial encoding.

Stage `spatial` (params: section `spatial` of --params). Reads a `proposals`
artifact; per image keeps the candidate humans and objects (score thresholds,
class-wise NMS, at most max_humans / max_objects; humans are also objects
when humans_as_objects), forms the human-major pairs (humans x objects minus
self-pairs) and writes a `pair_features` artifact (.zarr or .h5) with ragged
`pairs`: `human`, `object` (row indices into the image's detections in the
proposals artifact) and `spatial` [P, 36] float32.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import typer
from tqdm import tqdm

from weakhoi.artifacts import ArtifactWriter, open_artifact
from weakhoi.errors import ArtifactError, ConfigError, DataError
from weakhoi.spatial import NUM_SPATIAL_FEATURES, image_pairs

from .params import DEFAULT_PARAMS, load_params, require, section

SECTION = "spatial"
KEYS = ("human_score_threshold", "object_score_threshold", "nms_threshold", "max_humans",
        "max_objects", "humans_as_objects", "eps")


def check_params(cfg: Mapping[str, Any], where: str = SECTION) -> dict[str, Any]:
    """Validate the `spatial` section; returns the typed values (ConfigError naming the key)."""
    out: dict[str, Any] = {}
    for key in ("human_score_threshold", "object_score_threshold", "nms_threshold"):
        v = require(cfg, key, where)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            raise ConfigError(f"params: {where}.{key} must be a number in [0, 1], got {v!r}")
        out[key] = float(v)
    for key in ("max_humans", "max_objects"):
        v = require(cfg, key, where)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"params: {where}.{key} must be a non-negative integer, got {v!r}")
        out[key] = int(v)
    v = require(cfg, "humans_as_objects", where)
    if not isinstance(v, bool):
        raise ConfigError(f"params: {where}.humans_as_objects must be true or false, got {v!r}")
    out["humans_as_objects"] = v
    v = require(cfg, "eps", where)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 < float(v) < 1e-2:
        raise ConfigError(f"params: {where}.eps must be a number in (0, 0.01), got {v!r}")
    out["eps"] = float(v)
    unknown = sorted(set(cfg) - set(KEYS))
    if unknown:
        raise ConfigError(f"params: unknown key(s) in {where}: {', '.join(unknown)}")
    return out


def build_pair_features(proposals: Path, out: Path, cfg: Mapping[str, Any],
                        progress: bool = True) -> int:
    """Write the `pair_features` artifact `out` from the `proposals` artifact. Returns the number
    of pairs. `cfg` is the validated `spatial` section (see `check_params`)."""
    cfg = check_params(cfg)
    filt = {k: cfg[k] for k in KEYS if k != "eps"}
    with open_artifact(proposals, "proposals") as art:
        if "person_label" not in art.attrs:
            raise ArtifactError(f"{proposals}: proposals artifact has no 'person_label' attribute")
        person = int(art.attrs["person_label"])
        names = art.strings("file_names")
        sizes = np.asarray(art.array("image_sizes"), dtype=np.int64)  # [n, 2] (width, height)
        dets = art.ragged("detections")
        if sizes.shape != (len(names), 2) or len(dets) != len(names):
            raise ArtifactError(f"{proposals}: file_names ({len(names)}), image_sizes "
                                f"{sizes.shape} and detections ({len(dets)}) disagree")
        extra = {**filt, "eps": cfg["eps"], "person_label": person,
                 "proposals_params_hash": str(art.attrs.get("params_hash", "unknown"))}
        total = 0
        with ArtifactWriter(out, "pair_features", params=cfg, inputs=[proposals], extra=extra) as w:
            w.write_strings("file_names", names)
            w.write_array("image_sizes", sizes)
            app = w.ragged_appender("pairs", human=(np.int64, ()), object=(np.int64, ()),
                                    spatial=(np.float32, (NUM_SPATIAL_FEATURES,)))
            for i in tqdm(range(len(names)), desc="spatial", unit="img", disable=not progress or None):
                d = dets[i]
                boxes = np.asarray(d["boxes"], dtype=np.float64)  # [R, 4]
                width, height = (int(s) for s in sizes[i])
                if width <= 0 or height <= 0:
                    raise DataError(f"{proposals}: image {i} ({names[i]}): size {width}x{height} "
                                    f"is not positive")
                if not np.isfinite(boxes).all() or not np.isfinite(d["scores"]).all():
                    raise DataError(f"{proposals}: image {i} ({names[i]}): non-finite detection "
                                    f"box or score")
                h, o, sp = image_pairs(boxes, d["scores"], d["labels"], width, height, person,
                                       eps=cfg["eps"], **filt)
                app.append(human=h, object=o, spatial=sp)     # [P], [P], [P, 36]
                total += len(h)
    return total


def command(
    proposals: Path = typer.Option(..., "--proposals", help="Input `proposals` artifact (.h5/.zarr)."),
    out: Path = typer.Option(..., "--out", help="Output `pair_features` artifact (.zarr or .h5)."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml; uses its `spatial` section."),
) -> None:
    """Candidate human-object pairs and their 36-d spatial encoding (params: spatial.*)."""
    cfg = section(load_params(params), SECTION, params)
    n = build_pair_features(proposals, out, check_params(cfg, SECTION))
    typer.echo(f"wrote {out} ({n} pairs)")
