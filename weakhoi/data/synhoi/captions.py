"""The SynHOI caption split: "web data" for pretraining the tiny CLIP (image-caption pairs).

CLIP learns its prior from image-text pairs that the HOI training never sees. The caption split
imitates that offline: images drawn by the same SynHOI generator (:func:`generate_image`, the
scene parameters of a :class:`SynHOIConfig`) from an independent seed stream, so no image is
one of the train or test images, with a class distribution that is not the train split's long
tail (``tail_ratio`` 1: every interaction class equally likely), each with a caption written
from its content. Only the pixels and the caption are kept: no boxes, no class labels (the
per-class counts are returned as statistics only).

Captions are short natural-language sentences with varied templates, word order, synonyms and
realistic noise (rules in prose: README, "SynHOI", "Caption split"):

* one phrase per interaction, from ``templates`` ("{subject} {ing} {object}" -> "a man riding
  a horse", "{object} {pp} by {subject}" -> "a ball kicked by a kid"), phrases shuffled and
  joined by varied connectives; with ``omit_interaction_rate`` one of several interactions is
  left out, with ``omit_object_rate`` a phrase drops its object ("a woman holding something");
* with ``context_rate`` the idle people and the other objects are mentioned too
  (``idle_templates``: "{subject} standing next to {object}"; "a cup nearby", ...), before or
  after the interactions;
* with ``objects_only_rate`` the caption names only the objects ("a photo of a kite and two
  balls"), like alt text that misses the action;
* synonyms for subjects, verbs and objects (``synonym_rate``: "bike", "mug", "grabbing"), a
  ``prefixes`` / ``suffixes`` frame ("a photo of ...", "... outdoors"), and with ``typo_rate``
  one misspelt word.

Random streams: image ``i`` is drawn from ``SeedSequence([seed, CAPTION_STREAM, 0],
spawn_key=(i, 0))`` and its caption from ``spawn_key=(i, 1)``, so images do not depend on the
caption parameters, and nothing depends on how many images are drawn or on ``workers``. The
train/test streams use the tag ``0x5F4E`` instead (``scene._split_seed``).
"""
from __future__ import annotations

import hashlib
import string
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Callable, Sequence

import numpy as np

from ...errors import ConfigError
from .config import SynHOIConfig
from .scene import _Retry, _Sampler
from .vocabulary import OBJECTS, VERBS, synhoi_vocabulary

#: Tag of the caption split's seed stream (train/test use 0x5F4E): the streams never coincide.
CAPTION_STREAM = 0xCA97

#: Interaction phrase templates. Placeholders: {subject} ("a man"), {object} ("a horse", with
#: its article), {ing} ("riding"), {s} ("rides"), {pp} ("ridden").
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "{subject} {ing} {object}",
    "{subject} {ing} {object}",
    "{subject} {ing} {object}",
    "{subject} {s} {object}",
    "{subject} is {ing} {object}",
    "{object} {pp} by {subject}",
    "{object} being {pp} by {subject}",
    "{object} with {subject} {ing} it",
)
#: A person next to an object without interacting (no_interaction pairs).
DEFAULT_IDLE_TEMPLATES: tuple[str, ...] = (
    "{subject} and {object}",
    "{subject} standing next to {object}",
    "{subject} near {object}",
    "{object} beside {subject}",
    "{subject} looking at {object}",
)
DEFAULT_PREFIXES: tuple[str, ...] = ("", "", "", "a photo of ", "a picture of ", "an image of ",
                                     "a drawing of ", "cartoon of ", "stock illustration: ")
DEFAULT_SUFFIXES: tuple[str, ...] = ("", "", "", "", ".", " outdoors", " in a field",
                                     " on a sunny day", " in the park", " #fun")

#: Verb forms per SynHOI verb: (ing, present 3rd person, past participle); the first is the
#: canonical one (the knowledge-bank prompts use it), the others are synonyms.
VERB_FORMS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "hold": (("holding", "holds", "held"), ("grabbing", "grabs", "grabbed")),
    "kick": (("kicking", "kicks", "kicked"),),
    "lift": (("lifting", "lifts", "lifted"), ("raising", "raises", "raised")),
    "ride": (("riding", "rides", "ridden"),),
    "sit_on": (("sitting on", "sits on", "sat on"), ("sitting on top of", "sits on top of", "sat on")),
}
#: Object nouns: canonical first, then synonyms (singular, plural).
OBJECT_NOUNS: dict[str, tuple[tuple[str, str], ...]] = {
    "ball": (("ball", "balls"), ("football", "footballs")),
    "bicycle": (("bicycle", "bicycles"), ("bike", "bikes")),
    "bottle": (("bottle", "bottles"),),
    "box": (("box", "boxes"), ("cardboard box", "cardboard boxes"), ("package", "packages")),
    "chair": (("chair", "chairs"),),
    "cup": (("cup", "cups"), ("mug", "mugs")),
    "horse": (("horse", "horses"), ("pony", "ponies")),
    "kite": (("kite", "kites"),),
}
#: Subjects: canonical first ("a person", as in the prompts).
SUBJECTS: tuple[str, ...] = ("a person", "a man", "a woman", "a boy", "a girl", "a kid",
                             "someone", "a child", "a guy", "a young woman")
_CONNECTIVES = (", ", " and ", ", and ", " while ", "; ", " as ", " next to ")
_NUMBERS = ("", "", "two", "three", "four")
_IDLE_PERSON = ("another person stands nearby", "a second person watching", "people in the background",
                "a bystander", "someone standing around")
_EXTRA_OBJECT = ("{object} nearby", "{object} on the ground", "with {object} in the background",
                 "there is also {object}", "{object} lying around")
_OBJECTS_ONLY = ("{objects}", "{objects}", "only {objects}", "{objects} on the grass", "{objects} and people")
_PLACEHOLDERS = {"subject", "object", "ing", "s", "pp"}


@dataclass(frozen=True)
class CaptionConfig:
    """Caption split parameters (params.yaml: ``pretrain.captions``); scene parameters (image
    sizes, distractors, noise) come from the :class:`SynHOIConfig` the split is drawn with."""

    seed: int = 0
    num: int = 3000                          # image-caption pairs
    tail_ratio: float = 1.0                  # interaction class of rank k has weight tail_ratio ** k
    omit_interaction_rate: float = 0.15      # P(one of several interactions is not mentioned)
    omit_object_rate: float = 0.05           # P(an interaction phrase drops its object)
    objects_only_rate: float = 0.1           # P(the caption names only the objects)
    context_rate: float = 0.3                # P(idle people and other objects are mentioned)
    synonym_rate: float = 0.2                # P(a subject / verb / object word is a synonym)
    typo_rate: float = 0.03                  # P(one word of the caption is misspelt)
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    idle_templates: tuple[str, ...] = DEFAULT_IDLE_TEMPLATES
    prefixes: tuple[str, ...] = DEFAULT_PREFIXES
    suffixes: tuple[str, ...] = DEFAULT_SUFFIXES

    def validate(self, where: str = "captions") -> "CaptionConfig":
        """Self, or ConfigError naming ``<where>.<key>``."""
        def bad(key: str, msg: str) -> ConfigError:
            return ConfigError(f"{where}.{key}: {msg} (got {getattr(self, key)!r})")

        for key in ("seed", "num"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if key == "seed" else 1):
                raise bad(key, "must be an integer >= " + ("0" if key == "seed" else "1"))
        for key in ("omit_interaction_rate", "omit_object_rate", "objects_only_rate", "context_rate",
                    "synonym_rate", "typo_rate"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise bad(key, "must be a number in [0, 1]")
        if isinstance(self.tail_ratio, bool) or not isinstance(self.tail_ratio, (int, float)) \
                or not 0.0 < self.tail_ratio <= 1.0:
            raise bad("tail_ratio", "must be a number in (0, 1]")
        for key, need in (("templates", {"subject", "object"}), ("idle_templates", {"subject", "object"}),
                          ("prefixes", set()), ("suffixes", set())):
            seq = getattr(self, key)
            if isinstance(seq, str) or not isinstance(seq, (list, tuple)) or not seq \
                    or not all(isinstance(t, str) for t in seq):
                raise bad(key, "must be a non-empty list of strings")
            for t in seq:
                names = {f[1] for f in string.Formatter().parse(t) if f[1] is not None}
                if need and not need <= names:
                    raise bad(key, f"template {t!r} must contain " + " and ".join(f"{{{n}}}" for n in sorted(need)))
                if names - (_PLACEHOLDERS if need else set()):
                    raise bad(key, f"template {t!r} has unknown placeholders {sorted(names - _PLACEHOLDERS)}; "
                                   f"known: {', '.join('{' + n + '}' for n in sorted(_PLACEHOLDERS))}"
                              if need else f"{t!r} must not contain placeholders")
        return self

    @classmethod
    def from_mapping(cls, cfg: dict[str, Any], where: str = "captions") -> "CaptionConfig":
        """Build from a params mapping (lists become tuples); ConfigError naming an unknown or
        bad key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"unknown key {where}.{unknown[0]} (known: {', '.join(sorted(known))})")
        vals = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
        return cls(**vals).validate(where)

    def params(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class CaptionSplit:
    """Image-caption pairs. No boxes and no labels: ``hoi_counts`` ([num_hois], images showing
    each HOI class) and ``noise`` (captions per noise kind) are statistics, not training data."""

    images: list[np.ndarray]                 # [H, W, 3] uint8 each; sizes as in SynHOI
    captions: list[str]
    hoi_counts: np.ndarray                   # [num_hois] int64
    noise: dict[str, int]

    def __len__(self) -> int:
        return len(self.captions)

    def digest(self) -> str:
        """sha256 over every image (shape + bytes) and caption, in order: the split's identity."""
        h = hashlib.sha256()
        for img, cap in zip(self.images, self.captions):
            h.update(repr(img.shape).encode() + img.tobytes() + cap.encode("utf-8") + b"\n")
        return h.hexdigest()


def _caption_seed(seed: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), CAPTION_STREAM, 0])


def caption_rngs(seed: int, i: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(image stream, caption stream) of caption image ``i``."""
    root = _caption_seed(seed).entropy
    return (np.random.default_rng(np.random.SeedSequence(root, spawn_key=(i, 0))),
            np.random.default_rng(np.random.SeedSequence(root, spawn_key=(i, 1))))


# ------------------------------------------------------------------------------------------
# caption text
# ------------------------------------------------------------------------------------------
def _pick(rng: np.random.Generator, seq: Sequence[Any]) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _variant(rng: np.random.Generator, options: Sequence[Any], synonym_rate: float) -> Any:
    """The canonical option (first), or with ``synonym_rate`` a random other one."""
    if len(options) > 1 and rng.random() < synonym_rate:
        return options[1 + int(rng.integers(len(options) - 1))]
    return options[0]


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _subject(rng: np.random.Generator, cfg: CaptionConfig) -> str:
    return _variant(rng, SUBJECTS, cfg.synonym_rate)


def _object_phrase(rng: np.random.Generator, obj: str, cfg: CaptionConfig) -> str:
    return _article(_variant(rng, OBJECT_NOUNS[obj], cfg.synonym_rate)[0])


def _interaction_phrase(rng: np.random.Generator, verb: str, obj: str, cfg: CaptionConfig,
                        noise: dict[str, int]) -> str:
    ing, s, pp = _variant(rng, VERB_FORMS[verb], cfg.synonym_rate)
    subject = _subject(rng, cfg)
    if rng.random() < cfg.omit_object_rate:
        noise["omitted_object"] += 1
        return f"{subject} {ing} something" if rng.random() < 0.7 else f"something {pp} by {subject}"
    t = _pick(rng, cfg.templates)
    return t.format(subject=subject, object=_object_phrase(rng, obj, cfg), ing=ing, s=s, pp=pp)


def _objects_list(rng: np.random.Generator, objs: Sequence[str], cfg: CaptionConfig) -> str:
    """'a kite, two balls and a cup' (order shuffled, repeated classes counted)."""
    names = sorted(set(objs), key=objs.index)
    names = [names[k] for k in rng.permutation(len(names))]
    parts = []
    for o in names:
        n = objs.count(o)
        sing, plur = _variant(rng, OBJECT_NOUNS[o], cfg.synonym_rate)
        parts.append(_article(sing) if n == 1 else f"{_NUMBERS[min(n, 4)]} {plur}")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _typo(rng: np.random.Generator, text: str) -> str:
    words = text.split(" ")
    cand = [k for k, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not cand:
        return text
    k = cand[int(rng.integers(len(cand)))]
    w = words[k]
    j = int(rng.integers(1, len(w) - 1))
    words[k] = w[:j] + w[j + 1] + w[j] + w[j + 2:] if rng.random() < 0.5 else w[:j] + w[j + 1:]
    return " ".join(words)


def write_caption(rng: np.random.Generator, cfg: CaptionConfig, interactions: Sequence[tuple[str, str]],
                  idle_objects: Sequence[str], n_idle: int, objects: Sequence[str],
                  extra_objects: Sequence[str], noise: dict[str, int]) -> str:
    """One caption from an image's content.

    Args:
        interactions: (verb, object) of each acting person.
        idle_objects: object of each no_interaction pair (an idle person next to it).
        n_idle: idle people in the image (with or without a no_interaction pair).
        objects: every drawn object (not persons), for objects-only captions.
        extra_objects: objects nobody interacts with.
        noise: counters, updated per noise kind.
    """
    if not interactions or rng.random() < cfg.objects_only_rate:
        noise["objects_only"] += 1
        body = _pick(rng, _OBJECTS_ONLY).format(objects=_objects_list(rng, list(objects), cfg))
    else:
        acts = [interactions[k] for k in rng.permutation(len(interactions))]
        if len(acts) > 1 and rng.random() < cfg.omit_interaction_rate:
            noise["omitted_interaction"] += 1
            acts = acts[:-1]
        phrases = [_interaction_phrase(rng, v, o, cfg, noise) for v, o in acts]
        context: list[str] = []
        if rng.random() < cfg.context_rate:
            for o in idle_objects:
                context.append(_pick(rng, cfg.idle_templates).format(
                    subject=_subject(rng, cfg), object=_object_phrase(rng, o, cfg)))
            if n_idle > len(idle_objects):
                context.append(_pick(rng, _IDLE_PERSON))
            for o in extra_objects:
                if rng.random() < 0.6:
                    context.append(_pick(rng, _EXTRA_OBJECT).format(object=_object_phrase(rng, o, cfg)))
        context = [context[k] for k in rng.permutation(len(context))]
        if context:
            noise["with_context"] += 1
        parts = context + phrases if context and rng.random() < 0.25 else phrases + context
        body = parts[0]
        for p in parts[1:]:
            body += _pick(rng, _CONNECTIVES) + p
    text = _pick(rng, cfg.prefixes) + body + _pick(rng, cfg.suffixes)
    if rng.random() < cfg.typo_rate:
        noise["typo"] += 1
        text = _typo(rng, text)
    return text[0].upper() + text[1:] if rng.random() < 0.3 else text


# ------------------------------------------------------------------------------------------
# the split
# ------------------------------------------------------------------------------------------
NOISE_KINDS = ("objects_only", "omitted_interaction", "omitted_object", "with_context", "typo")


def draw_caption_pair(scene: SynHOIConfig, cfg: CaptionConfig, i: int, sampler: _Sampler | None = None
                      ) -> tuple[np.ndarray, str, list[int], dict[str, int]]:
    """Caption image ``i``: ``(image [H, W, 3] uint8, caption, HOI classes shown, noise counts)``."""
    from . import generate_image    # through the package namespace, like generate_split
    sampler = sampler or _Sampler(replace(scene, tail_ratio=cfg.tail_ratio), synhoi_vocabulary())
    img_rng, txt_rng = caption_rngs(cfg.seed, i)
    for _ in range(50):
        try:
            img, rec = generate_image(scene, sampler, img_rng)
            break
        except _Retry:
            continue
    else:  # pragma: no cover - the first actor always fits at some scale
        raise RuntimeError(f"synhoi captions: could not lay out image {i}")
    ni = VERBS.index("no_interaction")
    person = OBJECTS.index("person")
    interactions = [(VERBS[p[4]], OBJECTS[p[3]]) for p in rec.pairs if p[4] != ni]
    idle_objects = [OBJECTS[p[3]] for p in rec.pairs if p[4] == ni]
    labels, inter = rec.labels.tolist(), rec.interacting.tolist()
    objects = [OBJECTS[lbl] for lbl in labels if lbl != person]
    extra = [OBJECTS[lbl] for lbl, it in zip(labels, inter) if lbl != person and not it]
    n_idle = sum(1 for lbl, it in zip(labels, inter) if lbl == person and not it)
    noise = dict.fromkeys(NOISE_KINDS, 0)
    caption = write_caption(txt_rng, cfg, interactions, idle_objects, n_idle, objects, extra, noise)
    return np.asarray(img, dtype=np.uint8), caption, sorted({int(p[2]) for p in rec.pairs}), noise


def _draw_chunk(args: tuple[SynHOIConfig, CaptionConfig, int, int]) -> list[tuple[np.ndarray, str, list[int], dict]]:
    scene, cfg, start, stop = args
    sampler = _Sampler(replace(scene, tail_ratio=cfg.tail_ratio), synhoi_vocabulary())
    return [draw_caption_pair(scene, cfg, i, sampler) for i in range(start, stop)]


def generate_captions(scene: SynHOIConfig, cfg: CaptionConfig, workers: int = 1,
                      progress: Callable[[int], None] | None = None, chunk: int = 64) -> CaptionSplit:
    """Draw the caption split in memory (no files, no PNG encoding).

    ``scene``: the SynHOI generator parameters (its ``seed``, ``num_*``, ``tail_ratio`` and
    ``rare_threshold`` are not used: the caption split has its own seed and class weights).
    ``workers`` > 1 draws chunks of ``chunk`` images in that many processes; the result is the
    same for any number of workers."""
    cfg.validate()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    jobs = [(scene, cfg, s, min(s + chunk, cfg.num)) for s in range(0, cfg.num, chunk)]
    images, captions = [], []
    counts = np.zeros(synhoi_vocabulary().num_hois, dtype=np.int64)
    noise = dict.fromkeys(NOISE_KINDS, 0)

    def collect(rows: list) -> None:
        for img, cap, hois, nz in rows:
            images.append(img)
            captions.append(cap)
            counts[hois] += 1
            for k, v in nz.items():
                noise[k] += v
        if progress is not None:
            progress(len(rows))

    if workers == 1 or len(jobs) == 1:
        for job in jobs:
            collect(_draw_chunk(job))
    else:
        import multiprocessing as mp
        # spawn: the parent may hold torch/OpenMP threads, which fork would copy in a bad state
        with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            for rows in pool.imap(_draw_chunk, jobs):     # ordered: same result for any workers
                collect(rows)
    return CaptionSplit(images, captions, counts, noise)
