"""Pictures of what the pipeline produces: HOI pairs, detections, contact sheets (PIL + numpy).

Boxes are continuous xyxy (see :mod:`weakhoi.boxes`): the box ``[x1, y1, x2, y2]`` covers the
pixel columns ``x1 .. x2 - 1``, so its outline is drawn on the first and last covered pixels.

Small images (SynHOI is ~140 px) are best drawn with ``scale=3``: the image is first upscaled
with nearest-neighbour sampling and the boxes and text are drawn at the new resolution, so the
lines stay thin and the text crisp. :func:`contact_sheet` tiles images (optionally upscaling
them again with nearest-neighbour sampling) and writes a caption under each.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]

# Distinct, saturated colours (one per pair, cycled).
PALETTE: tuple[RGB, ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128),
    (170, 110, 40), (128, 0, 0),
)
HUMAN_COLOUR: RGB = (30, 144, 255)      # detections of the person class
OBJECT_COLOUR: RGB = (255, 140, 0)      # detections of every other class
BACKGROUND: RGB = (32, 32, 32)          # contact sheet background
CAPTION_COLOUR: RGB = (235, 235, 235)
DEFAULT_FONT_SIZE = 11


@lru_cache(maxsize=8)
def get_font(size: int = DEFAULT_FONT_SIZE) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size`` px (the fixed bitmap font without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # old Pillow or no FreeType
        return ImageFont.load_default()


def _text_size(font, text: str) -> tuple[int, int]:
    l, t, r, b = font.getbbox(text)
    return int(r - l), int(b - min(t, 0))


def _text_colour(bg: RGB) -> RGB:
    """Black or white text, whichever reads better on ``bg``."""
    lum = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2]
    return (0, 0, 0) if lum > 140 else (255, 255, 255)


def _prepare(image: Image.Image | np.ndarray, scale: int) -> Image.Image:
    """RGB copy of ``image`` (PIL or [H, W(, 3)] uint8 array), upscaled ``scale`` x (nearest)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    out = image.convert("RGB")  # always a copy
    if scale > 1:
        out = out.resize((out.width * scale, out.height * scale), Image.Resampling.NEAREST)
    return out


def _pixel_box(box: np.ndarray, scale: int, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Continuous xyxy (original frame) -> inclusive pixel rectangle in the scaled image, clipped;
    None when the box is not finite or lies outside the image."""
    b = np.asarray(box, dtype=np.float64).reshape(4)
    if not np.isfinite(b).all():
        return None
    x1, y1, x2, y2 = (int(round(v * scale)) for v in b)
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(x2 - 1, width - 1), min(y2 - 1, height - 1)
    if x2 < x1 or y2 < y1:
        return None
    return x1, y1, x2, y2


def _centre(rect: tuple[int, int, int, int]) -> tuple[float, float]:
    return (rect[0] + rect[2]) / 2.0, (rect[1] + rect[3]) / 2.0


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _put_label(draw: ImageDraw.ImageDraw, text: str, anchor: tuple[int, int], colour: RGB, font,
               placed: list[tuple[int, int, int, int]], size: tuple[int, int]) -> None:
    """Text on a filled ``colour`` tag whose bottom-left sits at ``anchor`` (moved inside the
    image, and down past tags already ``placed`` so labels do not cover each other)."""
    if not text:
        return
    tw, th = _text_size(font, text)
    w, h = tw + 4, th + 3
    x = min(max(anchor[0], 0), max(size[0] - w, 0))
    y = anchor[1] - h
    if y < 0:                      # no room above the box: put the tag just inside it
        y = anchor[1]
    y = min(max(y, 0), max(size[1] - h, 0))
    rect = (x, y, x + w - 1, y + h - 1)
    for _ in range(len(placed) + 1):
        hit = [r for r in placed if _overlaps(rect, r)]
        if not hit:
            break
        y = max(r[3] for r in hit) + 1
        if y + h > size[1]:
            break
        rect = (x, y, x + w - 1, y + h - 1)
    placed.append(rect)
    draw.rectangle(rect, fill=colour)
    draw.text((rect[0] + 2, rect[1] + 1), text, fill=_text_colour(colour), font=font)


def _default_width(scale: int) -> int:
    return 1 if scale < 2 else 2


def draw_pairs(image: Image.Image | np.ndarray, boxes_h: np.ndarray, boxes_o: np.ndarray,
               labels: Sequence[str], colours: Sequence[RGB] | None = None, scale: int = 1,
               line_width: int | None = None, font_size: int = DEFAULT_FONT_SIZE) -> Image.Image:
    """Human-object pairs on a copy of ``image``.

    ``boxes_h``, ``boxes_o``: [P, 4] continuous xyxy in ``image``'s pixel frame (a NaN object row,
    V-COCO's pair without role object, draws the human only). ``labels``: [P] text per pair, e.g.
    ``'ride bicycle 0.87'``, drawn on a tag in the pair's colour at the human box's top-left
    corner. ``colours``: [P] RGB per pair (default: :data:`PALETTE`, cycled). Per pair: human and
    object outlines, a line between the box centres, a filled dot on the human's centre and a
    hollow square on the object's centre. ``scale``: nearest-neighbour upscaling of the image
    before drawing (boxes are scaled with it). Returns a new RGB image of size ``scale x`` the input.
    """
    out = _prepare(image, scale)
    bh = np.asarray(boxes_h, dtype=np.float64).reshape(-1, 4)   # [P, 4]
    bo = np.asarray(boxes_o, dtype=np.float64).reshape(-1, 4)   # [P, 4]
    if len(bh) != len(bo) or len(bh) != len(labels):
        raise ValueError(f"draw_pairs: {len(bh)} human boxes, {len(bo)} object boxes and "
                         f"{len(labels)} labels; one of each per pair is required")
    if colours is not None and len(colours) != len(bh):
        raise ValueError(f"draw_pairs: {len(colours)} colours for {len(bh)} pairs")
    lw = line_width or _default_width(scale)
    font = get_font(font_size)
    draw = ImageDraw.Draw(out)
    rects = []
    for p in range(len(bh)):
        colour = tuple(colours[p]) if colours is not None else PALETTE[p % len(PALETTE)]
        rh = _pixel_box(bh[p], scale, out.width, out.height)
        ro = _pixel_box(bo[p], scale, out.width, out.height)
        rects.append((rh, ro, colour))
        for r in (rh, ro):
            if r is not None:
                draw.rectangle(r, outline=colour, width=lw)
        if rh is not None and ro is not None:
            (hx, hy), (ox, oy) = _centre(rh), _centre(ro)
            draw.line([(hx, hy), (ox, oy)], fill=colour, width=lw)
            d = lw + 1
            draw.ellipse([hx - d, hy - d, hx + d, hy + d], fill=colour)
            draw.rectangle([ox - d, oy - d, ox + d, oy + d], outline=colour, width=1)
    placed: list[tuple[int, int, int, int]] = []
    for p, (rh, ro, colour) in enumerate(rects):   # labels last: they stay readable
        anchor_rect = rh if rh is not None else ro
        if anchor_rect is not None:
            _put_label(draw, str(labels[p]), (anchor_rect[0], anchor_rect[1]), colour, font, placed,
                       out.size)
    return out


def draw_detections(image: Image.Image | np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                    labels: np.ndarray, names: Sequence[str] | None, person_label: int,
                    score_threshold: float = 0.0, scale: int = 1, line_width: int | None = None,
                    font_size: int = DEFAULT_FONT_SIZE, show_text: bool = True) -> Image.Image:
    """Detections (object proposals) on a copy of ``image``.

    ``boxes`` [R, 4] continuous xyxy, ``scores`` [R], ``labels`` [R] dataset object indices.
    People (``labels == person_label``) are drawn in :data:`HUMAN_COLOUR`, all other objects in
    :data:`OBJECT_COLOUR`, each with a ``'<name> <score>'`` tag (``names[label]``, underscores
    as spaces; ``'obj <label>'`` when ``names`` is None). Detections scoring below
    ``score_threshold`` are not drawn. Lower scores are drawn first so the best boxes end on top.
    """
    out = _prepare(image, scale)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)     # [R, 4]
    s = np.asarray(scores, dtype=np.float64).reshape(-1)       # [R]
    lab = np.asarray(labels, dtype=np.int64).reshape(-1)       # [R]
    if not len(b) == len(s) == len(lab):
        raise ValueError(f"draw_detections: {len(b)} boxes, {len(s)} scores, {len(lab)} labels")
    lw = line_width or _default_width(scale)
    font = get_font(font_size)
    draw = ImageDraw.Draw(out)
    keep = np.flatnonzero(s >= score_threshold)
    order = keep[np.lexsort((keep, s[keep]))]                  # ascending score
    tags = []
    for i in order:
        colour = HUMAN_COLOUR if lab[i] == person_label else OBJECT_COLOUR
        r = _pixel_box(b[i], scale, out.width, out.height)
        if r is None:
            continue
        draw.rectangle(r, outline=colour, width=lw)
        if names is not None and 0 <= lab[i] < len(names):
            name = str(names[lab[i]]).replace("_", " ")
        else:
            name = "person" if lab[i] == person_label else f"obj {int(lab[i])}"
        tags.append((f"{name} {s[i]:.2f}", (r[0], r[1]), colour))
    if show_text:
        placed: list[tuple[int, int, int, int]] = []
        for text, anchor, colour in reversed(tags):            # best scores placed first
            _put_label(draw, text, anchor, colour, font, placed, out.size)
    return out


def _wrap(text: str, font, width: int) -> list[str]:
    """Greedy word wrap of ``text`` (newlines kept) to lines at most ``width`` px wide."""
    lines: list[str] = []
    for para in str(text).split("\n"):
        words, cur = para.split(" "), ""
        for w in words:
            cand = w if not cur else f"{cur} {w}"
            if not cur or _text_size(font, cand)[0] <= width:
                cur = cand
            else:
                lines.append(cur)
                cur = w
        lines.append(cur)
    return lines


def caption_height(captions: Sequence[str], cell_width: int, font_size: int = DEFAULT_FONT_SIZE) -> int:
    """Height in px of the caption band under each cell (the tallest wrapped caption)."""
    if not captions:
        return 0
    font = get_font(font_size)
    line = _text_size(font, "Ag")[1] + 2
    return max(len(_wrap(c, font, cell_width - 4)) for c in captions) * line + 4


def contact_sheet(images: Sequence[Image.Image], columns: int, scale: int = 2,
                  captions: Sequence[str] | None = None, pad: int = 4,
                  font_size: int = DEFAULT_FONT_SIZE, background: RGB = BACKGROUND) -> Image.Image:
    """Tile ``images`` row-major into a grid of ``min(columns, len(images))`` columns.

    Every image is upscaled ``scale`` x with nearest-neighbour sampling and placed at the top-left
    of its cell, its caption right under it; cells are ``max width * scale`` wide and ``max height * scale + caption band``
    high (the band, present only with ``captions``, fits the tallest word-wrapped caption). The
    sheet is ``cols * cell_w + (cols + 1) * pad`` wide and ``rows * cell_h + (rows + 1) * pad``
    high, ``rows = ceil(len(images) / cols)``.
    """
    if not images:
        raise ValueError("contact_sheet: no images")
    if columns < 1 or scale < 1:
        raise ValueError(f"contact_sheet: columns and scale must be >= 1 (got {columns}, {scale})")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"contact_sheet: {len(captions)} captions for {len(images)} images")
    cols = min(columns, len(images))
    rows = -(-len(images) // cols)
    cell_w = max(im.width for im in images) * scale
    img_h = max(im.height for im in images) * scale
    cap_h = caption_height(captions, cell_w, font_size) if captions is not None else 0
    cell_h = img_h + cap_h
    sheet = Image.new("RGB", (cols * cell_w + (cols + 1) * pad, rows * cell_h + (rows + 1) * pad),
                      background)
    draw = ImageDraw.Draw(sheet)
    font = get_font(font_size)
    line = _text_size(font, "Ag")[1] + 2
    for k, im in enumerate(images):
        r, c = divmod(k, cols)
        x, y = pad + c * (cell_w + pad), pad + r * (cell_h + pad)
        tile = _prepare(im, scale)
        sheet.paste(tile, (x, y))
        if captions is not None:
            for j, text in enumerate(_wrap(captions[k], font, cell_w - 4)):
                draw.text((x + 2, y + tile.height + 2 + j * line), text, fill=CAPTION_COLOUR, font=font)
    return sheet
