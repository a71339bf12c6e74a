"""Drawing primitives (a tiny scene graph: entities are lists of primitives + key points),
colour jitter, 2-D vector helpers and two-link inverse kinematics."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import ImageDraw

Colour = tuple[int, int, int]
Point = tuple[float, float]


@dataclass
class Prim:
    """One drawing operation in image coordinates (before translation: local coordinates)."""

    kind: str                        # 'line' | 'polygon' | 'ellipse' | 'ellipse_outline'
    pts: list[Point]                 # line/polygon vertices; ellipse: [centre, (rx, ry)]
    colour: Colour
    width: int = 1

    def bbox(self) -> tuple[float, float, float, float]:
        if self.kind.startswith("ellipse"):
            (cx, cy), (rx, ry) = self.pts
            return cx - rx, cy - ry, cx + rx, cy + ry
        xs = [p[0] for p in self.pts]
        ys = [p[1] for p in self.pts]
        h = self.width / 2.0 if self.kind == "line" else 0.0
        return min(xs) - h, min(ys) - h, max(xs) + h, max(ys) + h

    def moved(self, dx: float, dy: float) -> "Prim":
        if self.kind.startswith("ellipse"):
            (cx, cy), r = self.pts
            return Prim(self.kind, [(cx + dx, cy + dy), r], self.colour, self.width)
        return Prim(self.kind, [(x + dx, y + dy) for x, y in self.pts], self.colour, self.width)

    def draw(self, d: ImageDraw.ImageDraw) -> None:
        if self.kind == "line":
            d.line([tuple(map(float, p)) for p in self.pts], fill=self.colour, width=self.width,
                   joint="curve")
            if self.width >= 3:  # round caps
                r = self.width / 2.0 - 0.5
                for x, y in (self.pts[0], self.pts[-1]):
                    d.ellipse([x - r, y - r, x + r, y + r], fill=self.colour)
        elif self.kind == "polygon":
            d.polygon([tuple(map(float, p)) for p in self.pts], fill=self.colour)
        else:
            (cx, cy), (rx, ry) = self.pts
            box = [cx - rx, cy - ry, cx + rx, cy + ry]
            if self.kind == "ellipse":
                d.ellipse(box, fill=self.colour)
            else:
                d.ellipse(box, outline=self.colour, width=self.width)


@dataclass
class Entity:
    """A drawn person or object: primitives, class, key points (all in the same coordinates)."""

    label: int                                   # object class index (person included)
    prims: list[Prim]
    points: dict[str, Point]                     # 'hand0', 'hand1', 'foot0', 'foot1', 'grip', 'seat'
    scale: float                                 # person height Hp it was built for
    box_override: tuple[float, float, float, float] | None = None  # kite: box without the string

    def bbox(self) -> np.ndarray:
        if self.box_override is not None:
            return np.array(self.box_override, dtype=np.float64)
        b = np.array([p.bbox() for p in self.prims], dtype=np.float64)  # [K, 4]
        return np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])

    def moved(self, dx: float, dy: float) -> "Entity":
        bo = None
        if self.box_override is not None:
            x1, y1, x2, y2 = self.box_override
            bo = (x1 + dx, y1 + dy, x2 + dx, y2 + dy)
        return Entity(self.label, [p.moved(dx, dy) for p in self.prims],
                      {k: (x + dx, y + dy) for k, (x, y) in self.points.items()}, self.scale, bo)


def _jitter(rng: np.random.Generator, c: Colour, amount: int = 22) -> Colour:
    v = np.clip(np.asarray(c) + rng.integers(-amount, amount + 1, size=3), 0, 255)
    return (int(v[0]), int(v[1]), int(v[2]))


def _rot(v: Point, ang: float) -> Point:
    c, s = math.cos(ang), math.sin(ang)
    return (v[0] * c - v[1] * s, v[0] * s + v[1] * c)


def _add(a: Point, b: Point) -> Point:
    return (a[0] + b[0], a[1] + b[1])


def _ik(root: Point, target: Point, l1: float, l2: float, prefer: Callable[[Point], float]
        ) -> tuple[Point, Point]:
    """Two-link inverse kinematics: (middle joint, end point). The end point is the target
    when reachable, otherwise the nearest reachable point on the root-target ray. Of the two
    bend solutions the one with the larger ``prefer(joint)`` is taken."""
    dx, dy = target[0] - root[0], target[1] - root[1]
    dist = math.hypot(dx, dy)
    lo, hi = abs(l1 - l2) + 1e-3, l1 + l2 - 1e-3
    dc = min(max(dist, lo), hi)
    ux, uy = (dx / dist, dy / dist) if dist > 1e-9 else (0.0, 1.0)
    end = (root[0] + ux * dc, root[1] + uy * dc)
    a = (l1 * l1 - l2 * l2 + dc * dc) / (2 * dc)
    h = math.sqrt(max(l1 * l1 - a * a, 0.0))
    mx, my = root[0] + ux * a, root[1] + uy * a
    j1 = (mx - uy * h, my + ux * h)
    j2 = (mx + uy * h, my - ux * h)
    return (j1 if prefer(j1) >= prefer(j2) else j2), end
