"""SynHOI: a seeded procedural HOI dataset in the HICO-DET ``instances_*.json`` layout.

Images show 1-3 articulated stick people and 1-4 objects of 8 classes on a noisy, textured
background. Each interaction is visible only as a local contact cue between ONE person and ONE
object (a hand on it, a foot at it, sitting or riding on it, a string to a kite); people and
objects that take part in no interaction are placed so that proximity alone does not give the
pairing (decoy objects closer to an actor's centre than its true object, bystanders next to a
true object). HOI class frequencies follow a fixed geometric long tail so several classes are
rare (< 10 training instances). See the README, section "SynHOI", for the rules in prose.

Output (``generate``)::

    out_dir/instances_train.json   out_dir/images/train/synhoi_train_000000.png ...
    out_dir/instances_test.json    out_dir/images/test/synhoi_test_000000.png ...

JSON keys: ``filenames``, ``size`` ([w, h]), ``annotation`` (per image ``boxes_h``, ``boxes_o``
as 1-based inclusive pixel indices, ``hoi``, ``object``, ``verb``; all 0-based class ids),
``empty``, the vocabulary keys of :meth:`Vocabulary.to_hicodet_json_dict` (rare split computed
from the generated train counts), ``instances`` (every drawn person/object per image, also the
distractors: ``boxes``, ``object``, ``interacting``) and ``generator`` (seed, split, params).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..boxes import box_iou, continuous_to_hico
from ..errors import ConfigError
from ..vocab import Vocabulary

GENERATOR_NAME = "synhoi"
GENERATOR_VERSION = 1

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

OBJECTS: tuple[str, ...] = ("ball", "bicycle", "bottle", "box", "chair", "cup", "horse", "kite",
                            "person")
VERBS: tuple[str, ...] = ("hold", "kick", "lift", "no_interaction", "ride", "sit_on")

#: Interaction classes (verb, object) from most to least frequent: the long tail is a fixed
#: property of the dataset; the class of 0-based rank k is drawn with weight tail_ratio ** k.
INTERACTION_RANKING: tuple[tuple[str, str], ...] = (
    ("hold", "cup"), ("ride", "bicycle"), ("kick", "ball"), ("sit_on", "chair"),
    ("hold", "ball"), ("ride", "horse"), ("hold", "bottle"), ("hold", "kite"),
    ("lift", "box"), ("hold", "box"), ("sit_on", "box"), ("lift", "ball"),
    ("kick", "box"), ("hold", "bicycle"), ("sit_on", "horse"), ("hold", "horse"),
    ("kick", "bottle"), ("lift", "chair"), ("hold", "chair"), ("lift", "bicycle"),
)
#: Objects with a (no_interaction, object) class: every object class but person.
NO_INTERACTION_OBJECTS: tuple[str, ...] = tuple(o for o in OBJECTS if o != "person")


def _hoi_pairs() -> list[tuple[str, str]]:
    """All HOI classes (verb, object), ordered by object then verb (HICO-DET's order)."""
    pairs = set(INTERACTION_RANKING) | {("no_interaction", o) for o in NO_INTERACTION_OBJECTS}
    return sorted(pairs, key=lambda p: (OBJECTS.index(p[1]), VERBS.index(p[0])))


def synhoi_vocabulary(rare: Sequence[int] = ()) -> Vocabulary:
    """The SynHOI vocabulary: 9 objects (8 + person), 6 verbs, 28 HOI classes.

    ``rare`` (class indices) is empty by default; the generated JSON stores the split computed
    from the train counts (``Vocabulary.with_rare_from_counts``)."""
    hois = [(VERBS.index(v), OBJECTS.index(o)) for v, o in _hoi_pairs()]
    return Vocabulary.build("synhoi", OBJECTS, VERBS, hois, rare)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SynHOIConfig:
    """Generator parameters (all of them are recorded in the JSON ``generator`` key)."""

    seed: int = 0
    num_train: int = 800
    num_test: int = 200
    min_size: int = 128                 # image width and height drawn per image in [min, max]
    max_size: int = 160
    tail_ratio: float = 0.75            # interaction class of rank k has weight tail_ratio ** k
    distractor_rate: float = 0.6        # share of images drawn with distractor people/objects
    decoy_rate: float = 0.9             # P(a distractor object is placed as a decoy by an actor)
    bystander_rate: float = 0.6         # P(first idle person is a bystander next to a true object)
    no_interaction_rate: float = 0.5    # P(an idle person is annotated no_interaction with an object)
    noise_std: float = 6.0              # per-pixel Gaussian noise (0-255 scale) on the final image
    rare_threshold: int = 10            # rare = fewer than this many train instances

    def __post_init__(self) -> None:
        def bad(key: str, msg: str) -> ConfigError:
            return ConfigError(f"synhoi.{key}: {msg} (got {getattr(self, key)!r})")

        for key in ("seed", "num_train", "num_test", "min_size", "max_size", "rare_threshold"):
            v = getattr(self, key)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise bad(key, "must be an integer")
        if self.seed < 0:
            raise bad("seed", "must be >= 0")
        if self.num_train < 1:
            raise bad("num_train", "must be >= 1")
        if self.num_test < 0:
            raise bad("num_test", "must be >= 0")
        if self.min_size < 96:
            raise bad("min_size", "must be >= 96")
        if self.max_size < self.min_size or self.max_size > 1024:
            raise bad("max_size", "must be in [min_size, 1024]")
        for key in ("distractor_rate", "decoy_rate", "bystander_rate", "no_interaction_rate"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise bad(key, "must be a number in [0, 1]")
        if not isinstance(self.tail_ratio, (int, float)) or not 0.0 < self.tail_ratio <= 1.0:
            raise bad("tail_ratio", "must be a number in (0, 1]")
        if not isinstance(self.noise_std, (int, float)) or not 0.0 <= self.noise_std <= 64.0:
            raise bad("noise_std", "must be a number in [0, 64]")

    @classmethod
    def from_mapping(cls, cfg: dict[str, Any], where: str = "synhoi") -> "SynHOIConfig":
        """Build from a params mapping; unknown keys raise ConfigError naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"params: unknown key {where}.{unknown[0]} (known: {', '.join(sorted(known))})")
        return cls(**cfg)

    def params(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Drawing primitives (a tiny scene graph: entities are lists of primitives + key points)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Person
# --------------------------------------------------------------------------------------------

SKIN = [(241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172)]
SHIRT = [(200, 40, 40), (40, 90, 200), (40, 150, 60), (230, 200, 40), (130, 60, 170),
         (240, 130, 30), (30, 30, 30), (235, 235, 235), (20, 170, 170)]
TROUSERS = [(30, 40, 90), (60, 60, 60), (90, 60, 30), (20, 20, 20), (100, 110, 130)]


@dataclass
class PersonStyle:
    skin: Colour
    shirt: Colour
    trousers: Colour
    hair: Colour

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "PersonStyle":
        return cls(_jitter(rng, SKIN[rng.integers(len(SKIN))], 10),
                   _jitter(rng, SHIRT[rng.integers(len(SHIRT))]),
                   _jitter(rng, TROUSERS[rng.integers(len(TROUSERS))], 15),
                   _jitter(rng, (50, 35, 20), 30))


class Body:
    """Proportions of a person of height ``hp`` (feet at y = 0 when standing, head up)."""

    def __init__(self, hp: float):
        self.hp = hp
        self.r_head = 0.085 * hp
        self.torso = 0.31 * hp          # hip -> shoulder
        self.upper_arm = 0.16 * hp
        self.forearm = 0.16 * hp
        self.thigh = 0.24 * hp
        self.shin = 0.23 * hp
        self.stand_hip = 0.46 * hp      # hip height when standing
        self.lw = max(2, int(round(0.05 * hp)))

    @property
    def reach(self) -> float:
        return self.upper_arm + self.forearm

    def shoulder(self, hip: Point, lean: float, d: int) -> Point:
        return _add(hip, _rot((0.0, -self.torso), lean * d))


def build_person(hp: float, d: int, hip: Point, lean: float, hands: Sequence[Point],
                 feet: Sequence[Point], style: PersonStyle, label: int,
                 knee_dir: int | None = None) -> Entity:
    """Stick person facing ``d`` (+1 right, -1 left): hip position, torso lean (radians,
    positive = towards ``d``), hand and foot targets (reached by IK when possible)."""
    b = Body(hp)
    sh = b.shoulder(hip, lean, d)
    axis = ((sh[0] - hip[0]) / b.torso, (sh[1] - hip[1]) / b.torso)  # unit hip -> shoulder
    neck = _add(sh, (axis[0] * 0.04 * hp, axis[1] * 0.04 * hp))
    head = _add(neck, (axis[0] * b.r_head * 0.95 + d * 0.01 * hp, axis[1] * b.r_head * 0.95))
    kd = d if knee_dir is None else knee_dir
    prims: list[Prim] = []
    points: dict[str, Point] = {}
    lw = b.lw
    # legs (drawn first, behind the torso)
    for i, f in enumerate(feet):
        knee, foot = _ik(hip, f, b.thigh, b.shin, prefer=lambda j: kd * j[0] - 0.01 * j[1])
        prims.append(Prim("line", [hip, knee, foot], style.trousers, lw + 1))
        shoe_end = (foot[0] + d * 0.06 * hp, foot[1])
        prims.append(Prim("line", [foot, shoe_end], (25, 25, 25), max(2, lw)))
        points[f"foot{i}"] = (foot[0] + d * 0.03 * hp, foot[1])
    # torso: trapezoid from shoulders to hips, perpendicular to the body axis
    perp = (-axis[1], axis[0])
    ws, wh = 0.085 * hp, 0.065 * hp
    torso = [(sh[0] + perp[0] * ws, sh[1] + perp[1] * ws), (sh[0] - perp[0] * ws, sh[1] - perp[1] * ws),
             (hip[0] - perp[0] * wh, hip[1] - perp[1] * wh), (hip[0] + perp[0] * wh, hip[1] + perp[1] * wh)]
    prims.append(Prim("polygon", torso, style.shirt))
    # head with hair cap and an eye showing the facing direction
    r = b.r_head
    prims.append(Prim("ellipse", [head, (r, r)], style.skin))
    prims.append(Prim("polygon", [(head[0] - r, head[1] - 0.1 * r), (head[0] - 0.7 * r, head[1] - 0.8 * r),
                                  (head[0], head[1] - r * 1.05), (head[0] + 0.7 * r, head[1] - 0.8 * r),
                                  (head[0] + r, head[1] - 0.1 * r)], style.hair))
    eye = (head[0] + d * 0.45 * r, head[1] - 0.05 * r)
    er = max(0.8, 0.15 * r)
    prims.append(Prim("ellipse", [eye, (er, er)], (10, 10, 10)))
    # arms (in front of the torso): sleeve on the upper arm, skin on the forearm
    for i, t in enumerate(hands):
        elbow, hand = _ik(sh, t, b.upper_arm, b.forearm, prefer=lambda j: j[1] - 0.2 * d * j[0])
        prims.append(Prim("line", [sh, elbow], style.shirt, lw))
        prims.append(Prim("line", [elbow, hand], style.skin, lw))
        hr = max(1.5, 0.75 * lw)
        prims.append(Prim("ellipse", [hand, (hr, hr)], style.skin))
        points[f"hand{i}"] = hand
    points["hip"] = hip
    points["shoulder"] = sh
    return Entity(label, prims, points, hp)


# --------------------------------------------------------------------------------------------
# Objects: built in local coordinates with the ground contact (or centre) at the origin
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Groups: a person posed for a verb with its object (local frame: ground under the group at y=0)
# --------------------------------------------------------------------------------------------

SMALL_OBJECTS = ("ball", "bottle", "box", "cup")
IDLE_POSES = ("down", "down", "point", "wave", "hips")


def idle_person(hp: float, d: int, rng: np.random.Generator, style: PersonStyle, pose: str | None = None
                ) -> Entity:
    """A person doing nothing with any object; some idle poses imitate interaction poses
    (a pointing arm, a raised arm) so pose alone does not tell the verb."""
    b = Body(hp)
    hip = (0.0, -b.stand_hip)
    lean = rng.uniform(-0.06, 0.06)
    sh = b.shoulder(hip, lean, d)
    pose = pose or IDLE_POSES[rng.integers(len(IDLE_POSES))]
    down_f = (sh[0] + d * rng.uniform(0.02, 0.08) * hp, sh[1] + 0.31 * hp)
    down_b = (sh[0] - d * rng.uniform(0.02, 0.08) * hp, sh[1] + 0.31 * hp)
    if pose == "point":
        hands = [(sh[0] + d * 0.3 * hp, sh[1] + rng.uniform(-0.05, 0.12) * hp), down_b]
    elif pose == "wave":
        hands = [(sh[0] + d * rng.uniform(0.05, 0.15) * hp, sh[1] - 0.27 * hp), down_b]
    elif pose == "hips":
        hands = [(hip[0] + d * 0.08 * hp, hip[1] - 0.02 * hp), (hip[0] - d * 0.08 * hp, hip[1] - 0.02 * hp)]
    else:
        hands = [down_f, down_b]
    spread = rng.uniform(0.03, 0.09) * hp
    feet = [(d * spread, 0.0), (-d * spread * 0.6, 0.0)]
    return build_person(hp, d, hip, lean, hands, feet, style, OBJECTS.index("person"))


def interaction_group(verb: str, obj: str, hp: float, d: int, rng: np.random.Generator,
                      style: PersonStyle) -> tuple[Entity, Entity]:
    """(person, object) showing ``verb`` through a local contact cue, in a frame whose ground
    line is y = 0 (kites fly above)."""
    b = Body(hp)
    person_label, obj_label = OBJECTS.index("person"), OBJECTS.index(obj)
    feet_stand = [(d * 0.05 * hp, 0.0), (-d * 0.04 * hp, 0.0)]
    hip = (0.0, -b.stand_hip)
    if verb == "hold" and obj in SMALL_OBJECTS:
        lean = rng.uniform(-0.05, 0.08)
        sh = b.shoulder(hip, lean, d)
        target = (sh[0] + d * rng.uniform(0.2, 0.29) * hp, sh[1] + rng.uniform(0.0, 0.17) * hp)
        p = build_person(hp, d, hip, lean, [target, (sh[0] - d * 0.04 * hp, sh[1] + 0.31 * hp)],
                         feet_stand, style, person_label)
        o = build_object(obj, hp, d, rng, obj_label, rng.uniform(0.85, 1.1))
        hand = p.points["hand0"]
        g = o.points["grip"]
        return p, o.moved(hand[0] - g[0], hand[1] - g[1])
    if verb == "hold" and obj == "kite":
        lean = rng.uniform(-0.1, 0.02)
        sh = b.shoulder(hip, lean, d)
        target = (sh[0] + d * 0.17 * hp, sh[1] - rng.uniform(0.12, 0.24) * hp)
        p = build_person(hp, d, hip, lean, [target, (sh[0] - d * 0.04 * hp, sh[1] + 0.31 * hp)],
                         feet_stand, style, person_label)
        o = build_object(obj, hp, d, rng, obj_label, rng.uniform(0.8, 1.1))
        hand = p.points["hand0"]
        kx = hand[0] + d * rng.uniform(0.25, 0.55) * hp
        ky = hand[1] - rng.uniform(0.25, 0.5) * hp
        g = o.points["grip"]
        o = o.moved(kx - g[0], ky - g[1])
        box = tuple(o.bbox().tolist())
        lower = (o.bbox()[0] * 0.5 + o.bbox()[2] * 0.5, o.bbox()[3])
        # string (part of the kite's drawing, outside its box): hand -> bottom tip of the kite
        mid = ((hand[0] + lower[0]) / 2 - d * 0.04 * hp, (hand[1] + lower[1]) / 2 + 0.04 * hp)
        o.prims.insert(0, Prim("line", [hand, mid, lower], (30, 30, 30), 1))
        o.box_override = box  # type: ignore[assignment]
        return p, o
    if verb == "hold":  # bicycle, horse, chair: standing beside it, a hand on its grip
        o = build_object(obj, hp, d, rng, obj_label, rng.uniform(0.9, 1.05))
        sh = b.shoulder(hip, 0.0, d)
        g = o.points["grip"]
        dy = g[1] - sh[1]
        dx = math.sqrt(max((0.9 * b.reach) ** 2 - dy * dy, (0.1 * hp) ** 2))
        o = o.moved(sh[0] + d * dx - g[0], 0.0)
        p = build_person(hp, d, hip, 0.0, [o.points["grip"], (sh[0] - d * 0.04 * hp, sh[1] + 0.31 * hp)],
                         feet_stand, style, person_label)
        return p, o
    if verb == "lift":
        size = rng.uniform(0.8, 0.95) if obj in ("chair", "bicycle") else rng.uniform(0.9, 1.1)
        o = build_object(obj, hp, d, rng, obj_label, size)
        lean = rng.uniform(-0.05, 0.05)
        sh = b.shoulder(hip, lean, d)
        ob = o.bbox()
        half = min((ob[2] - ob[0]) / 2 * 0.8, 0.12 * hp)
        y = sh[1] - rng.uniform(0.27, 0.3) * hp
        p = build_person(hp, d, hip, lean, [(sh[0] + d * half, y), (sh[0] - d * half, y)],
                         [(d * 0.07 * hp, 0.0), (-d * 0.07 * hp, 0.0)], style, person_label)
        h0, h1 = p.points["hand0"], p.points["hand1"]
        top = min(h0[1], h1[1]) + 0.5 * b.lw
        return p, o.moved((h0[0] + h1[0]) / 2 - (ob[0] + ob[2]) / 2, top - ob[3])
    if verb == "kick":
        lean = -rng.uniform(0.05, 0.18)
        hip = (0.0, -b.stand_hip * rng.uniform(0.97, 1.0))
        ang = rng.uniform(0.55, 0.9)  # leg angle from vertical
        L = (b.thigh + b.shin) * 0.97
        foot = (hip[0] + d * math.sin(ang) * L, hip[1] + math.cos(ang) * L)
        sh = b.shoulder(hip, lean, d)
        hands = [(sh[0] - d * 0.18 * hp, sh[1] + 0.22 * hp), (sh[0] + d * 0.2 * hp, sh[1] + 0.15 * hp)]
        p = build_person(hp, d, hip, lean, hands, [foot, (-d * 0.05 * hp, 0.0)], style, person_label,
                         knee_dir=d)
        o = build_object(obj, hp, d, rng, obj_label, rng.uniform(0.9, 1.1))
        ob = o.bbox()
        f = p.points["foot0"]
        near_edge = ob[0] if d > 0 else ob[2]
        # bottom on the ground, near side touching the toe; raise the object if the toe is above it
        dy = min(0.0, f[1] + 0.03 * hp - ob[1]) if f[1] < ob[1] else 0.0
        return p, o.moved(f[0] - near_edge - d * 0.5 * b.lw, dy)
    if verb == "ride":
        o = build_object(obj, hp, d, rng, obj_label, rng.uniform(0.95, 1.1))
        seat, grip = o.points["seat"], o.points["grip"]
        lean = rng.uniform(0.25, 0.45)
        hip = seat
        if obj == "bicycle":
            feet = [o.points["pedal0"], o.points["pedal1"]]
        else:
            feet = [(hip[0] + d * 0.08 * hp, hip[1] + 0.36 * hp), (hip[0] + d * 0.02 * hp, hip[1] + 0.33 * hp)]
        hands = [grip, (grip[0] - d * 0.02 * hp, grip[1] + 0.02 * hp)]
        p = build_person(hp, d, hip, lean, hands, feet, style, person_label, knee_dir=d)
        return p, o
    if verb == "sit_on":
        # a box is sized to seat height (its height is 0.24 * hp * size)
        size = b.shin * rng.uniform(0.95, 1.05) / (0.24 * hp) if obj == "box" else rng.uniform(0.95, 1.05)
        o = build_object(obj, hp, d, rng, obj_label, size)
        hip = o.points["seat"]
        lean = rng.uniform(-0.15, 0.03)
        knee = (hip[0] + d * b.thigh * 0.98, hip[1])
        feet = [(knee[0] + d * 0.02 * hp, hip[1] + b.shin), (knee[0] - d * 0.03 * hp, hip[1] + b.shin * 0.98)]
        hands = [(knee[0] - d * 0.04 * hp, knee[1] - 0.03 * hp), (knee[0] - d * 0.09 * hp, knee[1] - 0.02 * hp)]
        p = build_person(hp, d, hip, lean, hands, feet, style, person_label, knee_dir=d)
        return p, o
    raise ValueError(f"no pose for {verb} {obj}")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Scene layout
# --------------------------------------------------------------------------------------------

def _centre(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def _point_box_dist(p: Point, b: np.ndarray) -> float:
    dx = max(b[0] - p[0], 0.0, p[0] - b[2])
    dy = max(b[1] - p[1], 0.0, p[1] - b[3])
    return math.hypot(dx, dy)


@dataclass
class Placed:
    entity: Entity
    ground: float              # y used for the painter's order (larger = nearer, drawn later)
    order: int                 # tie-break: objects of a group before its person
    group: int                 # interaction group id (-1: no interaction)


class Scene:
    """Entities placed in a w x h image with the validity rules of the generator."""

    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.items: list[Placed] = []

    def persons(self) -> list[Placed]:
        return [p for p in self.items if p.entity.label == OBJECTS.index("person")]

    def objects(self) -> list[Placed]:
        return [p for p in self.items if p.entity.label != OBJECTS.index("person")]

    def fits(self, new: Sequence[Entity], margin_px: float = 1.0, overlap_people: bool = False) -> bool:
        """Inside the image; box overlap with unrelated entities limited (IoU <= 0.15 between
        people, <= 0.3 otherwise; not checked against people when ``overlap_people``: decoys
        may sit inside an actor's box); no hand or foot
        closer than a margin to an object it does not interact with (and vice versa)."""
        person = OBJECTS.index("person")
        for e in new:
            b = e.bbox()
            if b[0] < margin_px or b[1] < margin_px or b[2] > self.w - margin_px or b[3] > self.h - margin_px:
                return False
            if e.label == person:  # the kite string may leave the kite box but not the image
                continue
            for p in e.prims:
                pb = p.bbox()
                if pb[0] < 0 or pb[1] < 0 or pb[2] > self.w or pb[3] > self.h:
                    return False
        for e in new:
            b = e.bbox()
            for it in self.items:
                ob = it.entity.bbox()
                if overlap_people and it.entity.label == person:
                    pass
                elif box_iou(b[None], ob[None])[0, 0] > (0.15 if e.label == it.entity.label == person else 0.3):
                    return False
                elif min(b[2] - b[0], b[3] - b[1]) > 0:  # not hidden inside another entity's box
                    inter = max(0.0, min(b[2], ob[2]) - max(b[0], ob[0])) * max(0.0, min(b[3], ob[3]) - max(b[1], ob[1]))
                    if inter > 0.6 * (b[2] - b[0]) * (b[3] - b[1]) or \
                            inter > 0.6 * (ob[2] - ob[0]) * (ob[3] - ob[1]):
                        return False
                # contact rule between a person and an object of different groups
                pe, oe = (e, it.entity) if e.label == person else (it.entity, e)
                if (pe.label == person) == (oe.label == person):
                    continue
                marg = 0.07 * pe.scale + 2.0
                obox = oe.bbox()
                for k, pt in pe.points.items():
                    if (k.startswith("hand") or k.startswith("foot")) and _point_box_dist(pt, obox) < marg:
                        return False
        return True

    def add(self, ents: Sequence[Entity], ground: float, group: int) -> None:
        for k, e in enumerate(ents):
            self.items.append(Placed(e, ground, k, group))

    def draw(self, img: Image.Image) -> None:
        d = ImageDraw.Draw(img)
        for it in sorted(self.items, key=lambda p: (p.ground, p.group, p.order)):
            for prim in it.entity.prims:
                prim.draw(d)


def _try_place(scene: Scene, ents: Sequence[Entity], rng: np.random.Generator, group: int,
               ground_range: tuple[float, float] | None = None, tries: int = 40,
               x_range: tuple[float, float] | None = None) -> list[Entity] | None:
    """Translate ``ents`` (local frame, ground at y=0) to a random valid position."""
    bb = np.array([e.bbox() for e in ents])
    x1, y1, x2, y2 = bb[:, 0].min(), bb[:, 1].min(), bb[:, 2].max(), bb[:, 3].max()
    for _ in range(tries):
        lo_x, hi_x = 2 - x1, scene.w - 2 - x2
        if x_range is not None:
            lo_x, hi_x = max(lo_x, x_range[0]), min(hi_x, x_range[1])
        lo_y, hi_y = 2 - y1, scene.h - 2 - y2
        if ground_range is not None:
            lo_y, hi_y = max(lo_y, ground_range[0]), min(hi_y, ground_range[1])
        if hi_x < lo_x or hi_y < lo_y:
            return None
        dx, dy = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
        moved = [e.moved(dx, dy) for e in ents]
        if scene.fits(moved):
            scene.add(moved, dy, group)
            return moved
    return None


# --------------------------------------------------------------------------------------------
# One image
# --------------------------------------------------------------------------------------------

@dataclass
class ImageRecord:
    """What one generated image contributes to the JSON (continuous boxes)."""

    width: int
    height: int
    pairs: list[tuple[np.ndarray, np.ndarray, int, int, int]]   # (box_h, box_o, hoi, object, verb)
    boxes: np.ndarray                                            # [E, 4] every drawn entity
    labels: np.ndarray                                           # [E]
    interacting: np.ndarray                                      # [E] bool
    has_distractor: bool


def _background(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """[h, w, 3] uint8: two-tone ground/sky gradient, low-frequency blotches, clutter strokes."""
    horizon = rng.uniform(0.3, 0.6) * h
    sky = rng.uniform(120, 220, size=3)
    ground = rng.uniform(60, 170, size=3)
    yy = np.arange(h, dtype=np.float64)[:, None, None]                      # [h, 1, 1]
    t = 1.0 / (1.0 + np.exp(-(yy - horizon) / (0.04 * h)))
    img = (1 - t) * sky + t * ground                                        # [h, 1, 3]
    img = np.broadcast_to(img, (h, w, 3)).copy()
    coarse = rng.normal(0, 18, size=(h // 16 + 2, w // 16 + 2, 3))
    up = np.kron(coarse, np.ones((16, 16, 1)))[:h, :w]                        # blocky texture
    k = np.ones(9) / 9.0                                                    # blur the blocks
    up = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, up)
    up = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, up)
    img += up + rng.normal(0, 8, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _clutter(draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator) -> None:
    """A few random strokes and blobs (not objects of any class) in the background."""
    for _ in range(int(rng.integers(2, 7))):
        c = tuple(int(v) for v in rng.integers(40, 220, size=3))
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        if rng.random() < 0.5:
            draw.line([(x, y), (x + rng.uniform(-30, 30), y + rng.uniform(-30, 30))], fill=c,
                      width=int(rng.integers(1, 3)))
        else:
            r = rng.uniform(2, 7)
            draw.ellipse([x - r, y - r * 0.6, x + r, y + r * 0.6], fill=c)


class _Sampler:
    """HOI sampling tables derived from the vocabulary and the config."""

    def __init__(self, cfg: SynHOIConfig, vocab: Vocabulary):
        self.vocab = vocab
        self.classes = [vocab.hoi_index(VERBS.index(v), OBJECTS.index(o)) for v, o in INTERACTION_RANKING]
        w = float(cfg.tail_ratio) ** np.arange(len(self.classes))
        self.p = w / w.sum()                                     # [num interaction classes]

    def interaction(self, rng: np.random.Generator, forced: int | None = None) -> tuple[str, str]:
        k = int(rng.choice(len(self.classes), p=self.p))
        return INTERACTION_RANKING[k if forced is None else forced]


def _person_scale(h: int, n_people: int, rng: np.random.Generator) -> float:
    shrink = {1: 1.0, 2: 0.88, 3: 0.78}[n_people]
    return h * rng.uniform(0.42, 0.56) * shrink


def generate_image(cfg: SynHOIConfig, sampler: _Sampler, rng: np.random.Generator,
                   forced: int | None = None) -> tuple[Image.Image, ImageRecord]:
    """Draw one image. Returns the PIL image and its annotation record. ``forced``: rank (in
    INTERACTION_RANKING) of the first actor's class instead of a sampled one."""
    w = int(rng.integers(cfg.min_size, cfg.max_size + 1))
    h = int(rng.integers(cfg.min_size, cfg.max_size + 1))
    vocab = sampler.vocab
    person_label = OBJECTS.index("person")
    # ---- how many of what
    with_distractors = bool(rng.random() < cfg.distractor_rate)
    if with_distractors:
        n_act = 1 if rng.random() < 0.7 else 2
        n_idle = int(rng.choice([0, 1, 2], p=[0.35, 0.45, 0.2]))
        n_idle = min(n_idle, 3 - n_act)
        n_dobj = int(rng.choice([0, 1, 2], p=[0.15, 0.55, 0.3])) if n_idle else int(rng.choice([1, 2], p=[0.6, 0.4]))
        n_dobj = min(n_dobj, 4 - n_act)
    else:
        n_act = int(rng.choice([1, 2, 3], p=[0.55, 0.35, 0.10]))
        n_idle = n_dobj = 0
    n_people = n_act + n_idle
    scene = Scene(w, h)
    actors: list[tuple[Entity, Entity, str, str]] = []
    # ---- interacting groups
    for gi in range(n_act):
        verb, obj = sampler.interaction(rng, forced if gi == 0 else None)
        placed = None
        hp = _person_scale(h, n_people, rng)
        for _attempt in range(4):
            d = 1 if rng.random() < 0.5 else -1
            p, o = interaction_group(verb, obj, hp, d, rng, PersonStyle.sample(rng))
            ground = (0.55 * h, h - 2.0)
            placed = _try_place(scene, [o, p], rng, gi, ground if verb != "lift" else None)
            if placed is not None:
                break
            hp *= 0.88
        if placed is None:
            if actors:
                continue  # no room for another actor: the image keeps fewer
            raise _Retry()
        actors.append((placed[1], placed[0], verb, obj))
    # ---- idle people (the first may be a bystander next to a true object)
    idle: list[Entity] = []
    for k in range(n_idle):
        hp = _person_scale(h, n_people, rng)
        style = PersonStyle.sample(rng)
        placed = None
        if k == 0 and rng.random() < cfg.bystander_rate:
            placed = _place_bystander(scene, actors, hp, rng, style)
        if placed is None:
            d = 1 if rng.random() < 0.5 else -1
            placed = _try_place(scene, [idle_person(hp, d, rng, style)], rng, -1, (0.5 * h, h - 2.0))
        if placed is not None:
            idle.append(placed[0])
    # ---- distractor objects (each may be a decoy next to an actor)
    free_objs: list[Entity] = []
    decoyed: set[int] = set()
    for k in range(n_dobj):
        name = NO_INTERACTION_OBJECTS[int(rng.integers(len(NO_INTERACTION_OBJECTS)))]
        placed = None
        if rng.random() < cfg.decoy_rate:
            placed = _place_decoy(scene, actors, rng, decoyed)
        if placed is None:
            hp = _person_scale(h, max(n_people, 2), rng)
            d = 1 if rng.random() < 0.5 else -1
            o = build_object(name, hp, d, rng, OBJECTS.index(name), rng.uniform(0.85, 1.1))
            gr = (0.1 * h, 0.5 * h) if name == "kite" else (0.5 * h, h - 2.0)
            placed = _try_place(scene, [o], rng, -1, gr)
        if placed is not None:
            free_objs.append(placed[0])
    # ---- paint
    img = Image.fromarray(_background(w, h, rng))
    _clutter(ImageDraw.Draw(img), w, h, rng)
    scene.draw(img)
    if cfg.noise_std > 0:
        arr = np.asarray(img, dtype=np.float64) + rng.normal(0, cfg.noise_std, size=(h, w, 3))
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
    # ---- annotations
    pairs = []
    for p, o, verb, obj in actors:
        vi, oi = VERBS.index(verb), OBJECTS.index(obj)
        pairs.append((p.bbox(), o.bbox(), vocab.hoi_index(vi, oi), oi, vi))
    all_objects = [o for _, o, _, _ in actors] + free_objs
    ni = VERBS.index("no_interaction")
    for p in idle:
        if rng.random() < cfg.no_interaction_rate:
            o = all_objects[int(rng.integers(len(all_objects)))]
            pairs.append((p.bbox(), o.bbox(), vocab.hoi_index(ni, o.label), o.label, ni))
    ents = [e for a in actors for e in (a[0], a[1])] + idle + free_objs
    inter = [True] * (2 * len(actors)) + [False] * (len(idle) + len(free_objs))
    rec = ImageRecord(w, h, pairs, np.array([e.bbox() for e in ents]).reshape(-1, 4),
                      np.array([e.label for e in ents], dtype=np.int64), np.array(inter, dtype=bool),
                      bool(idle or free_objs))
    assert all(lbl == person_label for lbl in rec.labels[0:2 * len(actors):2])
    return img, rec


class _Retry(Exception):
    """Internal: the sampled layout did not fit; the image is drawn again."""


def _place_bystander(scene: Scene, actors: list, hp: float, rng: np.random.Generator,
                     style: PersonStyle) -> list[Entity] | None:
    """Idle person right next to an actor's object, on the side away from the actor, hands
    clear of the object, with its box centre closer to the object's than the actor's is."""
    order = rng.permutation(len(actors))
    for ai in order:
        actor, obj, verb, _ = actors[ai]
        ob, ab = obj.bbox(), actor.bbox()
        oc = _centre(ob)
        side = 1 if oc[0] >= _centre(ab)[0] else -1
        d = -side  # facing the object
        person = idle_person(hp, d, rng, style, pose=("down", "hips")[int(rng.integers(2))])
        pb = person.bbox()
        ground = max(ab[3], ob[3]) + rng.uniform(-3, 4)
        for gap in (0.08, 0.11, 0.15):
            edge = ob[2] if side > 0 else ob[0]
            px = edge + side * gap * hp - (pb[0] if side > 0 else pb[2])
            moved = person.moved(px, ground)
            mb = moved.bbox()
            if np.linalg.norm(_centre(mb) - oc) >= 1.25 * np.linalg.norm(_centre(ab) - oc):
                continue
            if scene.fits([moved]):
                scene.add([moved], ground, -1)
                return [moved]
    return None


def _place_decoy(scene: Scene, actors: list, rng: np.random.Generator, decoyed: set[int]
                 ) -> list[Entity] | None:
    """A small object beside an actor's body, away from its hands and feet, with its box
    centre closer to the actor's box centre than the actor's true object. Actors without a
    decoy yet are tried first; ``decoyed`` is updated."""
    perm = rng.permutation(len(actors)).tolist()
    order = [a for a in perm if a not in decoyed] + [a for a in perm if a in decoyed]
    for ai in order * 2:  # a second round with other object classes
        actor, obj, _, _ = actors[ai]
        ab, tb = actor.bbox(), obj.bbox()
        ac = _centre(ab)
        true_dist = np.linalg.norm(_centre(tb) - ac)
        name = SMALL_OBJECTS[int(rng.integers(len(SMALL_OBJECTS)))]
        hp = actor.scale
        d = 1 if actor.points["hand0"][0] >= actor.points["shoulder"][0] else -1
        o = build_object(name, hp, d, rng, OBJECTS.index(name), rng.uniform(0.85, 1.05))
        obb = o.bbox()
        hip = actor.points["hip"]
        cands = []
        for side in (-d, d):
            for gap in (0.12, 0.16, 0.2, 0.26):
                for yrel in (0.0, -0.12, 0.12, 0.25):
                    cx = hip[0] + side * (gap * hp + (obb[2] - obb[0]) / 2)
                    cy = hip[1] + yrel * hp
                    cands.append((cx, cy))
        for ci in rng.permutation(len(cands)):
            cx, cy = cands[ci]
            moved = o.moved(cx - (obb[0] + obb[2]) / 2, cy - (obb[1] + obb[3]) / 2)
            if np.linalg.norm(_centre(moved.bbox()) - ac) >= true_dist:
                continue
            if scene.fits([moved], overlap_people=True):
                scene.add([moved], moved.bbox()[3], -1)
                decoyed.add(int(ai))
                return [moved]
    return None


# --------------------------------------------------------------------------------------------
# Dataset generation
# --------------------------------------------------------------------------------------------

SPLITS = ("train", "test")


def _split_seed(seed: int, split: str) -> np.random.SeedSequence:
    """Independent streams for train and test derived from the master seed."""
    return np.random.SeedSequence([int(seed), 0x5F4E, SPLITS.index(split)])


def _image_rng(seed: int, split: str, i: int) -> np.random.Generator:
    ss = _split_seed(seed, split)
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(i,)))


def generate_split(cfg: SynHOIConfig, split: str, num: int, image_dir: Path | None,
                   progress: Callable[[int], None] | None = None) -> tuple[list[str], list[ImageRecord]]:
    """Generate ``num`` images of ``split``; PNGs go to ``image_dir`` when given."""
    sampler = _Sampler(cfg, synhoi_vocabulary())
    names, records = [], []
    for i in range(num):
        rng = _image_rng(cfg.seed, split, i)
        # every interaction class gets at least one training instance: the first train images
        # show each class once (their other people and objects are sampled as usual)
        forced = i if split == "train" and i < len(INTERACTION_RANKING) else None
        for _ in range(50):
            try:
                img, rec = generate_image(cfg, sampler, rng, forced)
                break
            except _Retry:
                continue
        else:  # pragma: no cover - the first actor always fits at some scale
            raise RuntimeError(f"synhoi: could not lay out image {split}/{i}")
        name = f"synhoi_{split}_{i:06d}.png"
        if image_dir is not None:
            img.save(image_dir / name, format="PNG", optimize=False, compress_level=6)
        names.append(name)
        records.append(rec)
        if progress is not None:
            progress(1)
    return names, records


def _hico_box(b: np.ndarray, w: int, h: int) -> list[float]:
    """Continuous box -> integer pixel edges inside the image -> HICO 1-based inclusive."""
    x1 = max(0, math.floor(b[0]))
    y1 = max(0, math.floor(b[1]))
    x2 = min(w, max(math.ceil(b[2]), x1 + 1))
    y2 = min(h, max(math.ceil(b[3]), y1 + 1))
    return [float(v) for v in continuous_to_hico(np.array([[x1, y1, x2, y2]], dtype=np.float64))[0]]


def split_json(cfg: SynHOIConfig, split: str, names: list[str], records: list[ImageRecord],
               vocab: Vocabulary) -> dict[str, Any]:
    """The HICO-DET-layout dict of one split (vocabulary with the rare split included)."""
    ann, sizes, empty, inst = [], [], [], []
    for i, r in enumerate(records):
        ann.append({
            "boxes_h": [_hico_box(p[0], r.width, r.height) for p in r.pairs],
            "boxes_o": [_hico_box(p[1], r.width, r.height) for p in r.pairs],
            "hoi": [int(p[2]) for p in r.pairs],
            "object": [int(p[3]) for p in r.pairs],
            "verb": [int(p[4]) for p in r.pairs],
        })
        inst.append({
            "boxes": [_hico_box(b, r.width, r.height) for b in r.boxes],
            "object": [int(v) for v in r.labels],
            "interacting": [int(v) for v in r.interacting],
        })
        sizes.append([r.width, r.height])
        if not r.pairs:
            empty.append(i)
    out: dict[str, Any] = {"filenames": names, "size": sizes, "annotation": ann, "empty": empty,
                           "instances": inst}
    out.update(vocab.to_hicodet_json_dict())
    out["generator"] = {"name": GENERATOR_NAME, "version": GENERATOR_VERSION, "seed": cfg.seed,
                        "split": split, "params": cfg.params(),
                        "rare_rule": f"HOI class with fewer than {cfg.rare_threshold} train pairs"}
    return out


def dump_json(obj: Any, path: Path) -> None:
    """Deterministic JSON: sorted keys, compact separators, floats via repr, no timestamps."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def nearest_object_mispair_rate(split: dict[str, Any]) -> float:
    """Share of interacting pairs of a split's JSON dict whose person's nearest object (box
    centre distance, over every drawn object in ``instances``) is not its true object: what
    proximity alone gets wrong. Ties go to the first object listed."""
    person = split["objects"].index("person")
    ni = split["verbs"].index("no_interaction")
    wrong = total = 0
    for a, inst in zip(split["annotation"], split["instances"]):
        objs = np.array([b for b, o in zip(inst["boxes"], inst["object"]) if o != person])  # [O, 4]
        centres = (objs[:, :2] + objs[:, 2:]) / 2                                          # [O, 2]
        for bh, bo, v in zip(a["boxes_h"], a["boxes_o"], a["verb"]):
            if v == ni:
                continue
            ch = np.array([(bh[0] + bh[2]) / 2, (bh[1] + bh[3]) / 2])
            k = int(np.argmin(np.linalg.norm(centres - ch, axis=1)))
            total += 1
            wrong += int(objs[k].tolist() != list(bo))
    return wrong / max(total, 1)


def summarize(records: Sequence[ImageRecord], vocab: Vocabulary, split: dict[str, Any]) -> dict[str, Any]:
    """Statistics of one split (``split``: its JSON dict)."""
    person = OBJECTS.index("person")
    hoi = [p[2] for r in records for p in r.pairs]
    counts = np.bincount(np.asarray(hoi, dtype=np.int64), minlength=vocab.num_hois)
    npeople = [int((r.labels == person).sum()) for r in records]
    nobj = [int((r.labels != person).sum()) for r in records]
    ni = VERBS.index("no_interaction")
    return {
        "images": len(records),
        "pairs": len(hoi),
        "interaction_pairs": int(sum(1 for r in records for p in r.pairs if p[4] != ni)),
        "no_interaction_pairs": int(sum(1 for r in records for p in r.pairs if p[4] == ni)),
        "classes_present": int((counts > 0).sum()),
        "distractor_share": float(np.mean([r.has_distractor for r in records])) if records else 0.0,
        "people_per_image": [min(npeople, default=0), max(npeople, default=0)],
        "objects_per_image": [min(nobj, default=0), max(nobj, default=0)],
        "nearest_object_mispair_rate": nearest_object_mispair_rate(split),
        "hoi_counts": counts.tolist(),
    }


def generate(config: SynHOIConfig, out_dir: Path | str,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write the dataset to ``out_dir`` atomically (built in a temporary sibling directory and
    renamed; an existing ``out_dir`` is replaced; on error nothing is left at ``out_dir``).

    Returns summary statistics: per split (images, pairs, distractor share, ...) plus the
    vocabulary sizes and the rare classes (train count < ``rare_threshold``)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the dataset is an ordinary directory
    try:
        recs: dict[str, tuple[list[str], list[ImageRecord]]] = {}
        for split, num in (("train", config.num_train), ("test", config.num_test)):
            img_dir = tmp / "images" / split
            img_dir.mkdir(parents=True)
            recs[split] = generate_split(config, split, num, img_dir, progress)
        base = synhoi_vocabulary()
        train_counts = np.bincount([p[2] for r in recs["train"][1] for p in r.pairs],
                                   minlength=base.num_hois)
        vocab = base.with_rare_from_counts(train_counts, config.rare_threshold)
        summary: dict[str, Any] = {"num_objects": vocab.num_objects, "num_verbs": vocab.num_verbs,
                                   "num_hois": vocab.num_hois, "rare": vocab.rare_indices.tolist(),
                                   "num_rare": int(vocab.rare.sum())}
        for split, (names, records) in recs.items():
            d = split_json(config, split, names, records, vocab)
            dump_json(d, tmp / f"instances_{split}.json")
            summary[split] = summarize(records, vocab, d)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished directory ``src`` onto ``dst`` (replacing an existing one)."""
    if dst.exists() or dst.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
        os.replace(dst, old / "d")
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)
