"""Groups: a person posed for a verb with its object (local frame: ground under the group at
y=0), and idle people whose poses imitate interaction poses."""
from __future__ import annotations

import math

import numpy as np

from .figures import Body, PersonStyle, build_person
from .objects import build_object
from .primitives import Entity, Prim
from .vocabulary import OBJECTS

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
