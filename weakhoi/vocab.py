"""HOI vocabularies: object classes, verbs, and the (verb, object) HOI classes built from them.

A :class:`Vocabulary` is plain data. The HICO-DET one ships with the package
(``vocab_data/hicodet.tsv``: the 600 classes in the official order, with the default rare
split); datasets in the HICO-DET JSON layout (SynHOI included) carry their own and are read
with :meth:`Vocabulary.from_hicodet_json_dict`.

Indices are 0-based everywhere inside weakhoi. ``hoi_verb[i]`` / ``hoi_object[i]`` give the verb
and object of HOI class ``i``; ``hoi_index(verb, object)`` goes back (-1 when not a class).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import DataError

#: Default template of the paper (§3.2): "a person riding a bicycle".
DEFAULT_TEMPLATE = "a person {verb_phrase} {article} {object}"
#: Phrase used for the no-interaction verb: "a person and a bicycle".
NO_INTERACTION_TEMPLATE = "a person and {article} {object}"
#: V-COCO templates per role (paper appendix G / METHOD §2): "a person holding a cup" ('obj'),
#: "a person cutting with knife" ('instr'). Used for vocabularies with ``hoi_roles``.
VCOCO_ROLE_TEMPLATES: Mapping[str, str] = MappingProxyType({
    "obj": "a person {verb_phrase} {article} {object}",
    "instr": "a person {verb_phrase} with {object}",
})

# Irregular -ing forms and particles; everything else follows the regular rules below.
_GERUND_EXCEPTIONS = {
    "tie": "tying", "lie": "lying", "die": "dying", "run": "running", "sit": "sitting",
    "cut": "cutting", "hit": "hitting", "set": "setting", "stab": "stabbing", "hug": "hugging",
    "hop": "hopping", "drag": "dragging", "flip": "flipping", "stir": "stirring", "pet": "petting",
    "tag": "tagging", "shop": "shopping", "swim": "swimming", "grab": "grabbing", "row": "rowing",
    "throw": "throwing", "blow": "blowing", "fly": "flying", "buy": "buying", "pay": "paying",
    "see": "seeing", "toast": "toasting", "spin": "spinning", "dribble": "dribbling",
    "zip": "zipping", "control": "controlling", "sip": "sipping", "stop": "stopping", "skateboard": "skateboarding", "snowboard": "snowboarding",
    "surf": "surfing", "ski": "skiing", "kick": "kicking", "lay": "laying",
    "no_interaction": "and",
}


def gerund(verb: str) -> str:
    """'ride' -> 'riding', 'sit_on' -> 'sitting on', 'talk_on_phone' -> 'talking on phone'."""
    head, *rest = verb.split("_")
    if verb in _GERUND_EXCEPTIONS:
        return _GERUND_EXCEPTIONS[verb]
    if head in _GERUND_EXCEPTIONS:
        ing = _GERUND_EXCEPTIONS[head]
    elif head.endswith("ie"):
        ing = head[:-2] + "ying"
    elif head.endswith("ee") or head.endswith("ye") or head.endswith("oe"):
        ing = head + "ing"
    elif head.endswith("e") and len(head) > 2:
        ing = head[:-1] + "ing"
    else:
        ing = head + "ing"
    return " ".join([ing, *rest])


def article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Object classes, verbs and HOI classes of one dataset."""

    name: str
    objects: tuple[str, ...]            # [C] object names (underscores, e.g. 'dining_table')
    verbs: tuple[str, ...]              # [A] verb names
    hoi_verb: np.ndarray                # [N] int64 verb index of each HOI class
    hoi_object: np.ndarray              # [N] int64 object index of each HOI class
    rare: np.ndarray                    # [N] bool, default rare split
    verb_phrases: tuple[str, ...]       # [A] phrase used in prompts ('riding', 'sitting on')
    person: int                         # object index of 'person'
    no_interaction: int | None = None   # verb index of 'no_interaction', if any
    hoi_roles: tuple[str, ...] | None = None  # [N] V-COCO role ('obj'/'instr') of each class
    _lookup: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.hoi_verb)
        if len(self.hoi_object) != n or len(self.rare) != n:
            raise DataError(f"vocabulary {self.name}: hoi_verb/hoi_object/rare lengths differ")
        if len(self.verb_phrases) != len(self.verbs):
            raise DataError(f"vocabulary {self.name}: one verb phrase per verb is required")
        if n and (self.hoi_verb.max() >= len(self.verbs) or self.hoi_object.max() >= len(self.objects)):
            raise DataError(f"vocabulary {self.name}: HOI class refers to an unknown verb/object")
        for i, (v, o) in enumerate(zip(self.hoi_verb.tolist(), self.hoi_object.tolist())):
            self._lookup.setdefault((v, o), i)

    # sizes ------------------------------------------------------------------------------
    @property
    def num_objects(self) -> int:
        return len(self.objects)

    @property
    def num_verbs(self) -> int:
        return len(self.verbs)

    @property
    def num_hois(self) -> int:
        return len(self.hoi_verb)

    # lookups ----------------------------------------------------------------------------
    def hoi_index(self, verb: int, obj: int) -> int:
        """HOI class of (verb, object), or -1 if that combination is not a class."""
        return self._lookup.get((int(verb), int(obj)), -1)

    def verb_object_to_hoi(self) -> np.ndarray:
        """[A, C] int64 table: HOI class of (verb, object), -1 where invalid."""
        table = np.full((self.num_verbs, self.num_objects), -1, dtype=np.int64)
        table[self.hoi_verb, self.hoi_object] = np.arange(self.num_hois)
        return table

    def hoi_name(self, i: int) -> str:
        return f"{self.verbs[self.hoi_verb[i]]} {self.objects[self.hoi_object[i]]}"

    @property
    def rare_indices(self) -> np.ndarray:
        return np.flatnonzero(self.rare)

    @property
    def non_rare_indices(self) -> np.ndarray:
        return np.flatnonzero(~self.rare)

    def prompts(self, template: str = DEFAULT_TEMPLATE,
                no_interaction_template: str = NO_INTERACTION_TEMPLATE,
                role_templates: Mapping[str, str] | None = None) -> list[str]:
        """One prompt per HOI class. Placeholders: {verb} (name, '_' -> ' '), {verb_phrase}
        (gerund phrase), {object}, {article}. Vocabularies with ``hoi_roles`` (V-COCO) take the
        template of each class's role from ``role_templates`` ({'obj': ..., 'instr': ...};
        default :data:`VCOCO_ROLE_TEMPLATES`); the others ignore it."""
        if role_templates is None:
            role_templates = VCOCO_ROLE_TEMPLATES
        out = []
        for i, (v, o) in enumerate(zip(self.hoi_verb.tolist(), self.hoi_object.tolist())):
            obj = self.objects[o].replace("_", " ")
            if self.hoi_roles is not None:
                role = self.hoi_roles[i]
                if role not in role_templates:
                    raise DataError(f"vocabulary {self.name}: HOI class {i} has role {role!r}, "
                                    f"no template for it (have {sorted(role_templates)})")
                t = role_templates[role]
            else:
                t = no_interaction_template if v == self.no_interaction else template
            out.append(t.format(verb=self.verbs[v].replace("_", " "), verb_phrase=self.verb_phrases[v],
                                object=obj, article=article(obj)))
        return out

    def with_rare_from_counts(self, counts: Sequence[int], threshold: int = 10) -> "Vocabulary":
        """Copy with the rare split recomputed: class is rare when it has < threshold training
        instances (HICO-DET: 138 rare / 462 non-rare with the official train set)."""
        counts = np.asarray(counts)
        if counts.shape != (self.num_hois,):
            raise DataError(f"vocabulary {self.name}: expected {self.num_hois} counts, got {counts.shape}")
        return Vocabulary(self.name, self.objects, self.verbs, self.hoi_verb, self.hoi_object,
                          counts < threshold, self.verb_phrases, self.person, self.no_interaction,
                          self.hoi_roles)

    # construction -----------------------------------------------------------------------
    @classmethod
    def build(cls, name: str, objects: Sequence[str], verbs: Sequence[str],
              hois: Iterable[tuple[int, int]], rare: Sequence[int] | np.ndarray = (),
              verb_phrases: Sequence[str] | None = None, hoi_roles: Sequence[str] | None = None
              ) -> "Vocabulary":
        """``hois``: (verb index, object index) per class, in class order; ``rare``: indices."""
        pairs = np.asarray(list(hois), dtype=np.int64).reshape(-1, 2)
        rare_mask = np.zeros(len(pairs), dtype=bool)
        rare_mask[np.asarray(list(rare), dtype=np.int64)] = True
        objects, verbs = tuple(objects), tuple(verbs)
        if "person" not in objects:
            raise DataError(f"vocabulary {name}: no 'person' object class")
        phrases = tuple(verb_phrases) if verb_phrases is not None else tuple(gerund(v) for v in verbs)
        return cls(name, objects, verbs, pairs[:, 0].copy(), pairs[:, 1].copy(), rare_mask, phrases,
                   objects.index("person"),
                   verbs.index("no_interaction") if "no_interaction" in verbs else None,
                   tuple(hoi_roles) if hoi_roles is not None else None)

    @classmethod
    def from_hicodet_json_dict(cls, d: Mapping, name: str, source: str = "<dict>") -> "Vocabulary":
        """Vocabulary stored in a HICO-DET-layout JSON (keys objects, verbs, correspondence,
        rare; optional verb_phrases)."""
        try:
            corr = sorted(d["correspondence"], key=lambda c: c[0])
            if [c[0] for c in corr] != list(range(len(corr))):
                raise DataError(f"{source}: 'correspondence' HOI ids are not 0..N-1")
            return cls.build(name, d["objects"], d["verbs"], [(c[2], c[1]) for c in corr],
                             d.get("rare", ()), d.get("verb_phrases"))
        except KeyError as e:
            raise DataError(f"{source}: missing key {e.args[0]!r} needed for the vocabulary") from None

    def to_hicodet_json_dict(self) -> dict:
        """The keys :meth:`from_hicodet_json_dict` reads."""
        return {
            "objects": list(self.objects), "verbs": list(self.verbs),
            "correspondence": [[i, int(o), int(v)] for i, (v, o) in
                               enumerate(zip(self.hoi_verb.tolist(), self.hoi_object.tolist()))],
            "rare": self.rare_indices.tolist(), "non_rare": self.non_rare_indices.tolist(),
            "verb_phrases": list(self.verb_phrases),
        }


def _read_tsv(name: str) -> list[dict[str, str]]:
    with resources.files("weakhoi").joinpath("vocab_data", name).open("r", encoding="utf-8") as f:
        return list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))


@lru_cache(maxsize=None)
def hicodet_vocabulary() -> Vocabulary:
    """The HICO-DET vocabulary: 80 objects (alphabetical, person = 49), 117 verbs
    (no_interaction = 57), 600 HOI classes in the official order, 138 default rare classes."""
    rows = _read_tsv("hicodet.tsv")
    objects = sorted({r["object"] for r in rows})
    verbs = sorted({r["verb"] for r in rows})
    phrases = {r["verb"]: r["verb_phrase"] for r in rows}
    hois = [(verbs.index(r["verb"]), objects.index(r["object"])) for r in rows]
    rare = [i for i, r in enumerate(rows) if r["rare"] == "1"]
    return Vocabulary.build("hicodet", objects, verbs, hois, rare, [phrases[v] for v in verbs])


@lru_cache(maxsize=None)
def coco_categories() -> tuple[tuple[int, str], ...]:
    """The 80 COCO categories as (COCO-91 id, name), in COCO-80 contiguous order."""
    rows = _read_tsv("coco.tsv")
    return tuple((int(r["coco91_id"]), r["name"]) for r in rows)


def coco80_to_object(vocab: Vocabulary) -> np.ndarray:
    """[80] int64: contiguous COCO-80 index (0-based) -> object index of ``vocab`` (-1: none)."""
    names = {n: i for i, n in enumerate(vocab.objects)}
    return np.array([names.get(n.replace(" ", "_"), -1) for _, n in coco_categories()], dtype=np.int64)


def coco91_to_object(vocab: Vocabulary) -> np.ndarray:
    """[91] int64: COCO-91 category id (index = id, 0 unused) -> object index (-1: none)."""
    table = np.full(91, -1, dtype=np.int64)
    table[[cid for cid, _ in coco_categories()]] = coco80_to_object(vocab)
    return table

