"""One image: per-image random streams, background and clutter, interaction class sampling,
and :func:`generate_image` (actors, idle people, distractor objects, annotations)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ...vocab import Vocabulary
from .config import SynHOIConfig
from .figures import PersonStyle
from .layout import Scene, _place_bystander, _place_decoy, _try_place
from .objects import build_object
from .poses import idle_person, interaction_group
from .primitives import Entity
from .vocabulary import INTERACTION_RANKING, NO_INTERACTION_OBJECTS, OBJECTS, VERBS

SPLITS = ("train", "test")


def _split_seed(seed: int, split: str) -> np.random.SeedSequence:
    """Independent streams for train and test derived from the master seed."""
    return np.random.SeedSequence([int(seed), 0x5F4E, SPLITS.index(split)])


def _image_rng(seed: int, split: str, i: int) -> np.random.Generator:
    ss = _split_seed(seed, split)
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(i,)))


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
    up = _box_blur9(_box_blur9(up, 0), 1)                                   # blur the blocks
    img += up + rng.normal(0, 8, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _box_blur9(a: np.ndarray, axis: int) -> np.ndarray:
    """``np.convolve(v, ones(9) / 9, mode='same')`` along ``axis`` for every line ``v`` of ``a``,
    vectorised. The nine products are summed in ascending input order with zero padding, which
    is the order ``np.convolve`` uses: the result is bit-identical (tests compare them), so
    SynHOI's bytes do not change, and it is 10x faster than a Python call per line."""
    k = 1.0 / 9.0
    a = np.moveaxis(a, axis, 0)
    n = a.shape[0]
    pad = np.zeros((n + 8,) + a.shape[1:], dtype=np.float64)
    pad[4:4 + n] = a
    out = pad[0:n] * k
    for j in range(1, 9):
        out = out + pad[j:j + n] * k
    return np.moveaxis(out, 0, axis)


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
