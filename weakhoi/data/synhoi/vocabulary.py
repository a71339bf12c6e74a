"""SynHOI vocabulary: object and verb classes, the ranked interaction classes (long tail) and
the HOI class list in HICO-DET's order."""
from __future__ import annotations

from typing import Sequence

from ...vocab import Vocabulary


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
