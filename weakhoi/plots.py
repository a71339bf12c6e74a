"""Small static charts drawn with PIL (no plotting library in the environment), written as
byte-reproducible PNGs (no metadata, no timestamps): a scatter plot with axes, ticks, labels and
a legend (``weakhoi evaluate scores``' per-class AP plot; DVC renders the same data
interactively from the CSV files next to it), and a horizontal chart of bar pairs, measured vs
reference per row (``weakhoi tables render``: each paper table's measured numbers against the
paper's).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
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


@dataclass(frozen=True)
class BarPair:
    """One row of :func:`bar_pairs_png`: a measured value next to its reference (e.g. the
    paper's number). ``value`` None draws no measured bar but ``note`` (e.g. "not run");
    ``spread`` (e.g. the sd over seeds) a whisker of ± spread around the measured bar's end."""
    label: str
    value: float | None
    reference: float | None
    note: str = ""
    spread: float | None = None


MEASURED_COLOUR: RGB = (31, 119, 180)
REFERENCE_COLOUR: RGB = (190, 190, 190)
WHISKER_COLOUR: RGB = (0, 0, 0)


def decimal_text(value: float, digits: int = 2) -> str:
    """``value`` rounded half up to ``digits`` decimals from its shortest decimal form, as papers
    print numbers (35.125 -> '35.13'; Python's format rounds the binary value: '35.12')."""
    q = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{q:.{digits}f}"


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(float(x))


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    """``text``, cut with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def bar_pairs_png(path: Path | str, pairs: Sequence[BarPair], title: str, x_label: str,
                  legend: tuple[str, str] = ("measured", "reference"), width: int = 760) -> None:
    """Write a horizontal bar chart with one pair of bars per row (measured above, reference
    below) to ``path`` (PNG, atomically, byte-reproducible). Rows without a measured value show
    their ``note`` in place of the bar; values are printed at the bar ends."""
    font, small = get_font(13), get_font(11)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = 16 + int(max([probe.textlength(p.label, font=small) for p in pairs] + [40.0]))
    right, top, bottom, bar, gap = 56, 58, 46, 11, 12
    if any(_finite(p.value) and _finite(p.spread) for p in pairs):
        right += 44                                            # room for "± sd" after the value
    row_h = 2 * bar + gap
    H = top + bottom + row_h * max(len(pairs), 1)
    W = max(width, left + right + 240)
    img = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    values = [float(v) for p in pairs for v in (p.value, p.reference) if _finite(v)]
    values += [float(p.value) + float(p.spread) for p in pairs if _finite(p.value) and _finite(p.spread)]
    top_value = max(values + [1.0])
    ticks = nice_ticks(0.0, top_value)
    if ticks[-1] < top_value:                                 # the axis ends on a tick past every bar
        ticks.append(round(2 * ticks[-1] - ticks[-2], 10) if len(ticks) > 1 else top_value)
    x1 = ticks[-1]
    pw = W - left - right

    def px(x: float) -> float:
        return left + max(0.0, x) / x1 * pw

    grid, axis, ink, faint = (228, 228, 228), (90, 90, 90), (20, 20, 20), (120, 120, 120)
    plot_bottom = top + row_h * max(len(pairs), 1)
    for t in ticks:
        draw.line([(px(t), top - 4), (px(t), plot_bottom)], fill=grid)
        label = f"{t:g}"
        tw = draw.textlength(label, font=small)
        draw.text((px(t) - tw / 2, plot_bottom + 4), label, fill=ink, font=small)
    draw.line([(left, top - 4), (left, plot_bottom)], fill=axis)
    draw.line([(left, plot_bottom), (left + pw, plot_bottom)], fill=axis)
    for i, p in enumerate(pairs):
        y = top + i * row_h
        tw = draw.textlength(p.label, font=small)
        draw.text((left - 8 - tw, y + bar - 6), p.label, fill=ink, font=small)
        for k, (v, colour) in enumerate(((p.value, MEASURED_COLOUR), (p.reference, REFERENCE_COLOUR))):
            yy = y + k * bar
            if _finite(v):
                draw.rectangle([left + 1, yy + 1, max(left + 1, px(float(v))), yy + bar - 1], fill=colour)
                text, end = decimal_text(float(v)), px(float(v))
                if k == 0 and _finite(p.spread):
                    lo, hi = px(float(v) - abs(float(p.spread))), px(float(v) + abs(float(p.spread)))
                    ym = yy + bar / 2
                    draw.line([(lo, ym), (hi, ym)], fill=WHISKER_COLOUR)
                    draw.line([(lo, yy + 2), (lo, yy + bar - 2)], fill=WHISKER_COLOUR)
                    draw.line([(hi, yy + 2), (hi, yy + bar - 2)], fill=WHISKER_COLOUR)
                    text, end = f"{text} ± {decimal_text(abs(float(p.spread)))}", max(end, hi)
                draw.text((end + 4, yy - 1), text, fill=ink, font=small)
            elif k == 0:
                draw.text((left + 6, yy - 1), _fit(draw, p.note or "no value", small, pw - 12), fill=faint, font=small)
    draw.text((16, 10), title, fill=ink, font=font)
    lx = 16
    for name, colour in zip(legend, (MEASURED_COLOUR, REFERENCE_COLOUR)):
        draw.rectangle([lx, 36, lx + 10, 46], fill=colour)
        draw.text((lx + 14, 34), name, fill=ink, font=small)
        lx += 30 + int(draw.textlength(name, font=small))
    tw = draw.textlength(x_label, font=font)
    draw.text((left + (pw - tw) / 2, H - 22), x_label, fill=ink, font=font)
    with atomic_output(path) as tmp:
        img.save(tmp, format="PNG", optimize=False, compress_level=6)
