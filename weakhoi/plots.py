"""Small static charts drawn with PIL (no plotting library in the environment): a scatter plot
with axes, ticks, labels and a legend, written as a byte-reproducible PNG (no metadata, no
timestamps). Used by ``weakhoi evaluate scores`` for the per-class AP plot; DVC renders the
same data interactively from the CSV files next to it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .artifacts import atomic_output
from .viz import get_font

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Series:
    label: str
    x: np.ndarray        # [n] float
    y: np.ndarray        # [n] float
    colour: RGB


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values covering [lo, hi] (steps 1, 2 or 5 x 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(target - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + 1e-9 * step:
        ticks.append(round(t, 10))
        t += step
    return ticks


def scatter_png(path: Path | str, series: Sequence[Series], title: str, x_label: str,
                y_label: str, x_ticks: Sequence[tuple[float, str]] | None = None,
                y_range: tuple[float, float] | None = None, size: tuple[int, int] = (720, 460)) -> None:
    """Write a scatter plot of ``series`` to ``path`` (PNG, atomically). ``x_ticks``: explicit
    (position, label) pairs (e.g. a log axis labelled in counts); default round ticks."""
    W, H = size
    left, right, top, bottom = 64, 20, 36, 56
    img = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font, small = get_font(13), get_font(11)
    xs = np.concatenate([np.asarray(s.x, float) for s in series]) if series else np.zeros(0)
    ys = np.concatenate([np.asarray(s.y, float) for s in series]) if series else np.zeros(0)
    xt = list(x_ticks) if x_ticks else [(t, f"{t:g}") for t in nice_ticks(
        float(xs.min(initial=0.0)), float(xs.max(initial=1.0)))]
    x0 = min([t for t, _ in xt] + ([float(xs.min())] if xs.size else []))
    x1 = max([t for t, _ in xt] + ([float(xs.max())] if xs.size else []))
    if x1 <= x0:
        x1 = x0 + 1.0
    y0, y1 = y_range if y_range else (float(ys.min(initial=0.0)), float(ys.max(initial=1.0)))
    yt = nice_ticks(y0, y1)
    y0, y1 = min(y0, yt[0]), max(y1, yt[-1])
    pw, ph = W - left - right, H - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    grid, axis, ink = (228, 228, 228), (90, 90, 90), (20, 20, 20)
    for t in yt:
        draw.line([(left, py(t)), (left + pw, py(t))], fill=grid)
        label = f"{t:g}"
        tw = draw.textlength(label, font=small)
        draw.text((left - 6 - tw, py(t) - 7), label, fill=ink, font=small)
    for t, label in xt:
        draw.line([(px(t), top), (px(t), top + ph)], fill=grid)
        tw = draw.textlength(label, font=small)
        draw.text((px(t) - tw / 2, top + ph + 6), label, fill=ink, font=small)
    draw.rectangle([left, top, left + pw, top + ph], outline=axis)
    for s in series:
        for x, y in zip(np.asarray(s.x, float).tolist(), np.asarray(s.y, float).tolist()):
            if math.isfinite(x) and math.isfinite(y):
                cx, cy = px(x), py(y)
                draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=s.colour, outline=(255, 255, 255))
    draw.text((left, 10), title, fill=ink, font=font)
    tw = draw.textlength(x_label, font=font)
    draw.text((left + (pw - tw) / 2, H - 24), x_label, fill=ink, font=font)
    ylab = Image.new("RGB", (int(draw.textlength(y_label, font=font)) + 4, 18), (255, 255, 255))
    ImageDraw.Draw(ylab).text((2, 1), y_label, fill=ink, font=font)
    ylab = ylab.rotate(90, expand=True)
    img.paste(ylab, (6, top + (ph - ylab.size[1]) // 2))
    lx = left + pw - 8
    for k, s in enumerate(series):
        label = f"{s.label} ({len(s.x)})"
        tw = draw.textlength(label, font=small)
        ly = top + 8 + 16 * k
        draw.ellipse([lx - tw - 16, ly + 2, lx - tw - 8, ly + 10], fill=s.colour)
        draw.text((lx - tw, ly - 1), label, fill=ink, font=small)
    with atomic_output(path) as tmp:
        img.save(tmp, format="PNG", optimize=False, compress_level=6)
