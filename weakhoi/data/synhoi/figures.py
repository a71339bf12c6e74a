"""Stick people: clothing styles, body proportions and the posed person drawing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .primitives import Colour, Entity, Point, Prim, _add, _ik, _jitter, _rot

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
