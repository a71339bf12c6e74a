"""What the ``evaluate`` stage writes: the metrics document (the paper's columns, percent), the
per-class table, the per-class AP vs training-frequency plot data (CSV for DVC, PNG) and the
printed table. Everything is deterministic: same results -> same bytes.

metrics.json layouts (flat enough for ``dvc metrics show/diff``: ``hicodet.default.full``, ...)::

    HICO-DET layout (hicodet, synhoi):
      {"hicodet": {"default": {"full", "rare", "non_rare"},
                   "known_object": {"full", "rare", "non_rare"}}}
    V-COCO:
      {"vcoco": {"role_ap_s1", "role_ap_s2", "agent_ap"}}
      (+ "role_ap_s1_no_point", "role_ap_s2_no_point" when the ground truth has 'point')

Per-class plot data: ``per_class_ap_rare.csv`` and ``per_class_ap_non_rare.csv`` (V-COCO has no
rare split: all classes are non-rare), columns ``class``, ``name``, ``train_instances``,
``log10_train_instances_plus_1`` (the x axis: log10(1 + n)), ``ap`` (percent: HICO-DET
Default-setting AP, V-COCO scenario-1 role AP); and ``per_class_ap.png``. Classes without test
instances are left out of the plots (their AP is 0 by the protocol, not a measurement).
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..artifacts import atomic_output, directory_kind

#: Replace-policy kind of the plots directory (a marked weakhoi directory).
PLOTS_KIND = directory_kind("evaluation plots")
from ..vocab import Vocabulary
from .hicodet import HICODetResult
from .vcoco import VCOCOResult

PLOT_FIELDS = ("class", "name", "train_instances", "log10_train_instances_plus_1", "ap")
RARE_COLOUR, NON_RARE_COLOUR = (214, 39, 40), (31, 119, 180)


def _pct(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(100.0 * float(x), 4)


def hicodet_metrics(default: HICODetResult, known: HICODetResult) -> dict:
    """The metrics document of a HICO-DET-layout evaluation (percent, 4 decimals)."""
    def cols(r: HICODetResult) -> dict:
        return {"full": _pct(r.full), "rare": _pct(r.rare_map), "non_rare": _pct(r.non_rare_map)}
    return {"hicodet": {"default": cols(default), "known_object": cols(known)}}


def vcoco_metrics(result: VCOCOResult) -> dict:
    """The metrics document of a V-COCO evaluation (percent, 4 decimals)."""
    d = result.to_json_dict()
    m = {"role_ap_s1": round(d["role_map_s1"], 4), "role_ap_s2": round(d["role_map_s2"], 4),
         "agent_ap": round(d["agent_map"], 4)}
    if "point" in result.actions:
        m["role_ap_s1_no_point"] = round(d["role_map_s1_no_point"], 4)
        m["role_ap_s2_no_point"] = round(d["role_map_s2_no_point"], 4)
    return {"vcoco": m}


def hicodet_per_class(default: HICODetResult, known: HICODetResult, vocab: Vocabulary,
                      train_counts: np.ndarray) -> list[dict]:
    """One row per HOI class: name, rare, train/test instances, AP (both settings), recall."""
    rows = []
    for i in range(vocab.num_hois):
        rows.append({"class": i, "name": vocab.hoi_name(i), "rare": bool(default.rare[i]),
                     "train_instances": int(train_counts[i]), "test_instances": int(default.npos[i]),
                     "ap": _pct(default.per_class_ap[i]), "ap_known_object": _pct(known.per_class_ap[i]),
                     "recall": _pct(default.per_class_recall[i]),
                     "detections": int(default.num_detections[i])})
    return rows


def vcoco_per_class(result: VCOCOResult, train_counts: dict[str, int]) -> list[dict]:
    """One row per (action, role) class ('hold-obj', ...); ``train_counts`` by verb name
    ('hold_obj'). No rare split (all False)."""
    rows = []
    for k, (name, (a, _)) in enumerate(zip(result.role_names, result.role_pairs)):
        verb = name.replace("-", "_")
        rows.append({"class": k, "name": name, "rare": False,
                     "train_instances": int(train_counts.get(verb, 0)),
                     "test_instances": int(result.npos[a]),
                     "ap": _pct(float(result.role_ap_s1[k])), "ap_s2": _pct(float(result.role_ap_s2[k]))})
    return rows


def _csv_text(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=PLOT_FIELDS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "log10_train_instances_plus_1": f"{math.log10(1 + r['train_instances']):.6f}",
                    "ap": "" if r["ap"] is None else f"{r['ap']:.4f}"})
    return buf.getvalue()


def write_plot_data(plots_dir: Path | str, rows: Sequence[dict], title: str) -> list[Path]:
    """Write the two CSV files and the PNG into ``plots_dir``, the directory replaced as a whole
    and atomically (only a plots directory weakhoi wrote is replaced); returns their paths."""
    final = Path(plots_dir)
    names = ["per_class_ap_rare.csv", "per_class_ap_non_rare.csv", "per_class_ap.png"]
    with atomic_output(final, PLOTS_KIND) as d:
        d.mkdir()
        _plot_files(d, rows, title)
    return [final / n for n in names]


def _plot_files(d: Path, rows: Sequence[dict], title: str) -> None:
    from ..plots import Series, scatter_png

    rows = [r for r in rows if r["test_instances"] > 0]      # AP is undefined without test instances
    for rare, name in ((True, "per_class_ap_rare.csv"), (False, "per_class_ap_non_rare.csv")):
        (d / name).write_text(_csv_text([r for r in rows if r["rare"] == rare]), encoding="utf-8")
    series = []
    for rare, label, colour in ((False, "non-rare", NON_RARE_COLOUR), (True, "rare", RARE_COLOUR)):
        sel = [r for r in rows if r["rare"] == rare and r["ap"] is not None]
        if sel or not rare:
            series.append(Series(label, np.log10(1 + np.array([r["train_instances"] for r in sel], float)),
                                 np.array([r["ap"] for r in sel], float), colour))
    top = max([r["train_instances"] for r in rows] + [10])
    ticks = [(math.log10(1 + t), f"{t:g}") for t in
             [0] + [10 ** k for k in range(math.ceil(math.log10(top)) + 1)]]
    scatter_png(d / "per_class_ap.png", series, title, "training instances (log scale)", "AP (%)",
                x_ticks=ticks, y_range=(0.0, 100.0))


def metrics_table(metrics: dict, title: str) -> str:
    """The printed table of a metrics document (percent)."""
    def f(x) -> str:
        return "   n/a" if x is None else f"{x:6.2f}"
    lines = [title]
    if "hicodet" in metrics:
        h = metrics["hicodet"]
        lines.append(f"{'mAP (%)':14}{'Full':>8}{'Rare':>8}{'Non-Rare':>10}")
        for key, label in (("default", "Default"), ("known_object", "Known Object")):
            lines.append(f"{label:14}  {f(h[key]['full'])}  {f(h[key]['rare'])}    {f(h[key]['non_rare'])}")
    if "vcoco" in metrics:
        v = metrics["vcoco"]
        lines.append(f"{'AP (%)':14}{'role S1':>10}{'role S2':>10}{'agent':>8}")
        lines.append(f"{'V-COCO':14}    {f(v['role_ap_s1'])}    {f(v['role_ap_s2'])}  {f(v['agent_ap'])}")
        if "role_ap_s1_no_point" in v:
            lines.append(f"{'  no point':14}    {f(v['role_ap_s1_no_point'])}    {f(v['role_ap_s2_no_point'])}")
    return "\n".join(lines)
