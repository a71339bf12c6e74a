"""The packaged HICO-DET vocabulary against the shared annotation files, COCO maps, prompts,
rare split recomputation and gerund rules."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from weakhoi.errors import DataError
from weakhoi.vocab import (Vocabulary, coco80_to_object, coco91_to_object, gerund,
                           hicodet_vocabulary)


@pytest.fixture(scope="module")
def hico_json(hicodet_test_json: Path) -> dict:
    with hicodet_test_json.open() as f:
        return json.load(f)


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return hicodet_vocabulary()


def test_sizes_and_special_indices(vocab):
    assert (vocab.num_objects, vocab.num_verbs, vocab.num_hois) == (80, 117, 600)
    assert vocab.objects[vocab.person] == "person" and vocab.person == 49
    assert vocab.verbs[vocab.no_interaction] == "no_interaction" and vocab.no_interaction == 57
    assert int(vocab.rare.sum()) == 138


def test_objects_verbs_match_shared_json(vocab, hico_json):
    assert list(vocab.objects) == hico_json["objects"]
    assert list(vocab.verbs) == hico_json["verbs"]


def test_correspondence_matches_shared_json(vocab, hico_json):
    corr = sorted(hico_json["correspondence"])
    assert len(corr) == 600
    assert [c[0] for c in corr] == list(range(600))
    np.testing.assert_array_equal(vocab.hoi_object, [c[1] for c in corr])
    np.testing.assert_array_equal(vocab.hoi_verb, [c[2] for c in corr])
    # the lookup goes back from (verb, object)
    for h, o, v in corr[::37]:
        assert vocab.hoi_index(v, o) == h
    table = vocab.verb_object_to_hoi()
    assert (table >= 0).sum() == 600


def test_rare_lists_match_shared_json(vocab, hico_json):
    assert vocab.rare_indices.tolist() == sorted(hico_json["rare"])
    assert vocab.non_rare_indices.tolist() == sorted(hico_json["non_rare"])
    assert len(hico_json["rare"]) == 138 and len(hico_json["non_rare"]) == 462


def test_hoi_name(vocab):
    i = vocab.hoi_index(vocab.verbs.index("ride"), vocab.objects.index("bicycle"))
    assert i >= 0 and vocab.hoi_name(i) == "ride bicycle"
    assert vocab.hoi_index(vocab.verbs.index("ride"), vocab.objects.index("toothbrush")) == -1


@pytest.mark.parametrize("name", ["coco80tohico80.json", "coco91tohico80.json"])
def test_coco_maps_match_shared_json(vocab, hicodet_test_json, name):
    with (hicodet_test_json.parent / name).open() as f:
        ref = {int(k): int(v) for k, v in json.load(f).items()}
    assert len(ref) == 80
    if name.startswith("coco80"):
        table = coco80_to_object(vocab)       # [80], 0-based COCO-80 index; the file is 1-based
        assert table.shape == (80,)
        assert {k + 1: int(v) for k, v in enumerate(table)} == ref
    else:
        table = coco91_to_object(vocab)       # [91], index = COCO-91 id
        assert table.shape == (91,)
        assert {k: int(v) for k, v in enumerate(table) if v >= 0} == ref
        # ids that are not COCO categories (0, 12, 26, ...) map to -1
        assert table[0] == -1 and table[12] == -1 and table[26] == -1
    # every HICO object is hit exactly once
    assert sorted(ref.values()) == list(range(80))


def _prompt(vocab, prompts, verb, obj):
    i = vocab.hoi_index(vocab.verbs.index(verb), vocab.objects.index(obj))
    assert i >= 0, f"({verb}, {obj}) is not a HICO-DET class"
    return prompts[i]


def test_prompts_spot_checks(vocab):
    p = vocab.prompts()
    assert len(p) == 600
    assert _prompt(vocab, p, "ride", "bicycle") == "a person riding a bicycle"
    assert _prompt(vocab, p, "sit_on", "chair") == "a person sitting on a chair"
    assert _prompt(vocab, p, "no_interaction", "bicycle") == "a person and a bicycle"
    assert _prompt(vocab, p, "no_interaction", "airplane") == "a person and an airplane"
    assert _prompt(vocab, p, "eat", "apple") == "a person eating an apple"
    assert _prompt(vocab, p, "talk_on", "cell_phone") == "a person talking on a cell phone"
    custom = vocab.prompts("{verb}|{object}")
    assert _prompt(vocab, custom, "sit_at", "dining_table") == "sit at|dining table"


def test_prompts_agree_with_shared_prompts(vocab, hicodet_test_json):
    """prompts.json ("A photo of a person ...") agrees except where it misspells a gerund
    (no consonant doubling: 'stiring', 'hiting', ...) or says 'waving at'."""
    with (hicodet_test_json.parent / "prompts.json").open() as f:
        ref = json.load(f)
    ours = vocab.prompts("A photo of a person {verb_phrase} {article} {object}",
                         "A photo of a person and {article} {object}")
    differ = {vocab.verbs[vocab.hoi_verb[i]] for i, (a, b) in enumerate(zip(ours, ref)) if a != b}
    assert differ <= {"wave", "stab", "tag", "stir", "flip", "hit", "drag", "zip"}
    assert sum(a == b for a, b in zip(ours, ref)) >= 585


def test_with_rare_from_counts_reproduces_split(vocab, hico_json):
    rare = np.zeros(600, dtype=bool)
    rare[hico_json["rare"]] = True
    rng = np.random.default_rng(0)
    counts = np.where(rare, rng.integers(0, 10, 600), rng.integers(10, 500, 600))  # [600]
    counts[np.flatnonzero(rare)[0]] = 9       # boundary: 9 is rare
    counts[np.flatnonzero(~rare)[0]] = 10     # boundary: 10 is not
    v2 = vocab.with_rare_from_counts(counts)
    np.testing.assert_array_equal(v2.rare, rare)
    assert (len(v2.rare_indices), len(v2.non_rare_indices)) == (138, 462)
    # other fields are kept
    assert v2.objects == vocab.objects and v2.verbs == vocab.verbs
    np.testing.assert_array_equal(v2.hoi_verb, vocab.hoi_verb)
    # another threshold changes the split
    assert vocab.with_rare_from_counts(np.full(600, 5), threshold=5).rare.sum() == 0
    with pytest.raises(DataError):
        vocab.with_rare_from_counts(np.zeros(599))


@pytest.mark.parametrize("verb, expected", [
    ("ride", "riding"), ("hold", "holding"), ("sit_on", "sitting on"),
    ("talk_on_phone", "talking on phone"), ("tie", "tying"), ("untie", "untying"),
    ("see", "seeing"), ("flee", "fleeing"), ("dye", "dyeing"), ("hoe", "hoeing"),
    ("make", "making"), ("jump", "jumping"), ("run", "running"), ("be", "being"),
    ("no_interaction", "and"), ("board", "boarding"), ("lie_on", "lying on"),
])
def test_gerund(verb, expected):
    assert gerund(verb) == expected


def test_json_dict_roundtrip(vocab):
    d = vocab.to_hicodet_json_dict()
    v2 = Vocabulary.from_hicodet_json_dict(d, "copy")
    np.testing.assert_array_equal(v2.hoi_verb, vocab.hoi_verb)
    np.testing.assert_array_equal(v2.hoi_object, vocab.hoi_object)
    np.testing.assert_array_equal(v2.rare, vocab.rare)
    assert v2.verb_phrases == vocab.verb_phrases
    with pytest.raises(DataError, match="src.json.*'verbs'"):
        Vocabulary.from_hicodet_json_dict({k: d[k] for k in d if k != "verbs"}, "x", "src.json")
