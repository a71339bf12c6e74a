"""Objects: built in local coordinates with the ground contact (or centre) at the origin."""
from __future__ import annotations

import numpy as np

from .figures import Body
from .primitives import Colour, Entity, Point, Prim, _jitter

OBJ_COLOURS: dict[str, Colour] = {
    "ball": (220, 40, 40), "bicycle": (230, 120, 20), "bottle": (30, 160, 70), "box": (170, 120, 60),
    "chair": (40, 70, 190), "cup": (40, 200, 220), "horse": (120, 70, 35), "kite": (220, 40, 200),
}


def build_object(name: str, hp: float, d: int, rng: np.random.Generator, label: int,
                 size: float = 1.0) -> Entity:
    """Object of class ``name`` sized for a person of height ``hp`` (``size`` multiplies it),
    facing ``d``. Local frame: the bottom centre of the object at (0, 0). Key points: 'grip'
    (where a hand holds it), 'seat' (where a hip rests), 'pedal0/1' (bicycle)."""
    s = hp * size
    c = _jitter(rng, OBJ_COLOURS[name])
    dark = (max(c[0] - 90, 0), max(c[1] - 90, 0), max(c[2] - 90, 0))
    prims: list[Prim] = []
    pts: dict[str, Point] = {}
    lw = max(2, int(round(0.04 * hp)))
    if name == "ball":
        r = 0.1 * s
        prims += [Prim("ellipse", [(0, -r), (r, r)], c),
                  Prim("line", [(-r * 0.95, -r), (r * 0.95, -r)], (245, 245, 245), max(1, int(r / 3))),
                  Prim("ellipse", [(0, -r), (r * 0.3, r * 0.3)], (245, 245, 245))]
        pts["grip"] = (-d * r, -r)
    elif name == "cup":
        w, h = 0.12 * s, 0.13 * s
        prims += [Prim("polygon", [(-w / 2, -h), (w / 2, -h), (w * 0.35, 0), (-w * 0.35, 0)], c),
                  Prim("ellipse_outline", [(-d * w * 0.55, -h * 0.55), (w * 0.22, h * 0.25)], c, max(1, lw - 1)),
                  Prim("line", [(-w / 2, -h), (w / 2, -h)], dark, 1)]
        pts["grip"] = (-d * w * 0.62, -h * 0.55)
    elif name == "bottle":
        w, h = 0.085 * s, 0.3 * s
        prims += [Prim("polygon", [(-w / 2, 0), (w / 2, 0), (w / 2, -0.62 * h), (w * 0.2, -0.8 * h),
                                   (w * 0.2, -h), (-w * 0.2, -h), (-w * 0.2, -0.8 * h), (-w / 2, -0.62 * h)], c),
                  Prim("polygon", [(-w / 2, -0.25 * h), (w / 2, -0.25 * h), (w / 2, -0.45 * h), (-w / 2, -0.45 * h)],
                       (235, 235, 210)),
                  Prim("polygon", [(-w * 0.25, -h), (w * 0.25, -h), (w * 0.25, -1.07 * h), (-w * 0.25, -1.07 * h)],
                       (200, 30, 30))]
        pts["grip"] = (-d * w * 0.5, -0.35 * h)
    elif name == "box":
        w, h = 0.3 * s, 0.24 * s
        prims += [Prim("polygon", [(-w / 2, 0), (w / 2, 0), (w / 2, -h), (-w / 2, -h)], c),
                  Prim("line", [(-w / 2, -h), (w / 2, -h), (w / 2, 0), (-w / 2, 0), (-w / 2, -h)], dark, 1),
                  Prim("line", [(0, -h), (0, 0)], (225, 205, 150), max(1, lw - 1)),
                  Prim("line", [(-w / 2, -h * 0.5), (w / 2, -h * 0.5)], (225, 205, 150), max(1, lw - 1))]
        pts["grip"] = (-d * w / 2, -h * 0.5)
        pts["seat"] = (0.0, -h)
    elif name == "kite":
        w, h = 0.24 * s, 0.32 * s
        top, bot = (0, -h), (0, 0)
        left, right = (-w / 2, -0.62 * h), (w / 2, -0.62 * h)
        c2 = _jitter(rng, (250, 220, 30))
        prims += [Prim("polygon", [top, right, bot, left], c),
                  Prim("polygon", [top, right, (0, -0.62 * h)], c2),
                  Prim("polygon", [bot, left, (0, -0.62 * h)], c2),
                  Prim("line", [top, bot], (40, 40, 40), 1), Prim("line", [left, right], (40, 40, 40), 1)]
        pts["grip"] = (0.0, -0.62 * h)
    elif name == "chair":
        seat_h = Body(hp).shin * rng.uniform(0.97, 1.05) * size
        depth, back_h = 0.24 * s, 0.26 * s
        bx = -d * depth / 2  # back of the chair behind the sitter
        fx = d * depth / 2
        prims += [Prim("line", [(bx, 0), (bx, -seat_h - back_h)], c, lw + 1),
                  Prim("line", [(fx, 0), (fx, -seat_h)], c, lw + 1),
                  Prim("line", [(bx, -seat_h), (fx, -seat_h)], c, lw + 2),
                  Prim("line", [(bx, -seat_h - back_h * 0.5), (bx - d * 0.01 * s, -seat_h - back_h * 0.5)], dark, lw)]
        pts["seat"] = (bx + d * 0.07 * s, -seat_h - (lw + 2) / 2.0)
        pts["grip"] = (bx, -seat_h - back_h)
    elif name == "bicycle":
        rw = 0.15 * s
        rear, front = (-d * 0.3 * s, -rw), (d * 0.3 * s, -rw)
        crank = (0.0, -rw * 0.95)
        seat = (-d * 0.1 * s, -0.5 * s)
        bar = (d * 0.2 * s, -0.58 * s)
        grey = (40, 40, 40)
        for hub in (rear, front):
            prims.append(Prim("ellipse_outline", [hub, (rw, rw)], grey, max(2, lw)))
            prims.append(Prim("line", [(hub[0] - rw, hub[1]), (hub[0] + rw, hub[1])], (150, 150, 150), 1))
            prims.append(Prim("line", [(hub[0], hub[1] - rw), (hub[0], hub[1] + rw)], (150, 150, 150), 1))
        prims += [Prim("line", [rear, seat, crank, rear], c, lw),
                  Prim("line", [seat, bar, front], c, lw),
                  Prim("line", [crank, (bar[0] - d * 0.04 * s, bar[1] + 0.06 * s)], c, lw),
                  Prim("line", [(seat[0] - 0.05 * s, seat[1]), (seat[0] + 0.05 * s, seat[1])], grey, lw + 1),
                  Prim("line", [bar, (bar[0] + d * 0.03 * s, bar[1] - 0.03 * s)], grey, lw)]
        pts["seat"] = (seat[0], seat[1] - lw)
        pts["grip"] = (bar[0] + d * 0.03 * s, bar[1] - 0.03 * s)
        pts["pedal0"] = (crank[0] + d * 0.07 * s, crank[1] + 0.02 * s)
        pts["pedal1"] = (crank[0] - d * 0.05 * s, crank[1] - 0.03 * s)
    elif name == "horse":
        bw, bh = 0.4 * s, 0.15 * s          # body half-width / half-height
        leg = 0.4 * s
        body = (0.0, -leg - bh * 0.6)
        top = body[1] - bh
        for lx in (-0.75, -0.55, 0.55, 0.75):
            x = body[0] + lx * bw
            prims.append(Prim("line", [(x, body[1]), (x + d * 0.02 * s, 0)], dark, lw + 1))
        neck_base = (body[0] + d * 0.7 * bw, body[1] - 0.3 * bh)
        head = (body[0] + d * 1.15 * bw, top - 0.28 * s)
        prims += [Prim("ellipse", [body, (bw, bh)], c),
                  Prim("line", [neck_base, head], c, int(0.12 * s)),
                  Prim("ellipse", [(head[0] + d * 0.06 * s, head[1] + 0.02 * s), (0.09 * s, 0.05 * s)], c),
                  Prim("line", [(body[0] - d * bw, body[1] - 0.3 * bh), (body[0] - d * 1.2 * bw, body[1] + 0.9 * bh)],
                       dark, lw),
                  Prim("line", [(neck_base[0], neck_base[1] - 0.06 * s), (head[0] - d * 0.05 * s, head[1])], dark, lw)]
        pts["seat"] = (body[0] - d * 0.05 * s, top + 0.02 * s)
        pts["grip"] = (body[0] + d * 0.78 * bw, top - 0.1 * s)
    else:  # pragma: no cover - vocabulary is fixed
        raise ValueError(name)
    return Entity(label, prims, pts, hp)
