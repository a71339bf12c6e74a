"""Scene layout: placed entities with the generator's validity rules (image bounds, overlap,
contact margins), random placement, and the bystander and decoy placements that defeat
proximity-based pairing."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ...boxes import box_iou
from .figures import PersonStyle
from .objects import build_object
from .poses import SMALL_OBJECTS, idle_person
from .primitives import Entity, Point
from .vocabulary import OBJECTS

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
