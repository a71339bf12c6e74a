"""SynHOI generator: layout, determinism, statistics, atomicity, the CLI stage, and that the
interaction cues are local (proximity alone does not solve the pairing)."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import typer
import yaml
from PIL import Image
from typer.testing import CliRunner

from weakhoi.boxes import hico_to_continuous, invalid_box_mask
from weakhoi.data import synhoi
from weakhoi.data.records import HOIDataset, ImageAnnotation
from weakhoi.data.synhoi import Body, PersonStyle, SynHOIConfig, generate, interaction_group, synhoi_vocabulary
from weakhoi.errors import ConfigError
from weakhoi.vocab import Vocabulary

SMALL = dict(num_train=12, num_test=4, min_size=128, max_size=160)


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _load(root: Path, split: str) -> dict:
    return json.loads((root / f"instances_{split}.json").read_text())


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> tuple[Path, dict]:
    """300 train / 200 test images with the default generator parameters."""
    out = tmp_path_factory.mktemp("synhoi") / "ds"
    summary = generate(SynHOIConfig(seed=3, num_train=300, num_test=200), out)
    return out, summary


# -- vocabulary ---------------------------------------------------------------------------

def test_vocabulary_shape():
    v = synhoi_vocabulary()
    assert len(v.objects) == 9 and "person" in v.objects
    assert "no_interaction" in v.verbs and 5 <= v.num_verbs <= 7
    assert 20 <= v.num_hois <= 30
    ride, bike, cup = v.verbs.index("ride"), v.objects.index("bicycle"), v.objects.index("cup")
    assert v.hoi_index(ride, bike) >= 0
    assert v.hoi_index(ride, cup) == -1            # not a class
    ni = v.verbs.index("no_interaction")
    for o, name in enumerate(v.objects):           # every object but person has no_interaction
        assert (v.hoi_index(ni, o) >= 0) == (name != "person")
    pairs = list(zip(v.hoi_verb.tolist(), v.hoi_object.tolist()))
    assert len(set(pairs)) == len(pairs)
    assert v.verb_phrases[v.verbs.index("sit_on")] == "sitting on"


# -- layout -------------------------------------------------------------------------------

def test_json_layout_and_vocabulary_round_trip(big):
    root, _ = big
    train, test = _load(root, "train"), _load(root, "test")
    for d, n in ((train, 300), (test, 200)):
        for key in ("filenames", "size", "annotation", "empty", "objects", "verbs", "correspondence",
                    "rare", "non_rare", "verb_phrases", "instances", "generator"):
            assert key in d, key
        assert len(d["filenames"]) == len(d["size"]) == len(d["annotation"]) == len(d["instances"]) == n
        for a in d["annotation"]:
            assert set(a) == {"boxes_h", "boxes_o", "hoi", "object", "verb"}
            assert len(a["boxes_h"]) == len(a["boxes_o"]) == len(a["hoi"]) == len(a["object"]) == len(a["verb"])
        assert d["empty"] == [i for i, a in enumerate(d["annotation"]) if not a["hoi"]]
        assert d["generator"]["seed"] == 3 and d["generator"]["params"]["num_train"] == 300
        assert all(128 <= w <= 160 and 128 <= h <= 160 for w, h in d["size"])
    # vocabulary as the HICO JSON reader sees it; the rare split comes from the train counts
    v = Vocabulary.from_hicodet_json_dict(train, "synhoi", "instances_train.json")
    counts = np.zeros(v.num_hois, dtype=int)
    for a in train["annotation"]:
        for h in a["hoi"]:
            counts[h] += 1
    assert sorted(train["rare"]) == [i for i in range(v.num_hois) if counts[i] < 10]
    assert sorted(train["rare"] + train["non_rare"]) == list(range(v.num_hois))
    assert test["rare"] == train["rare"] and test["correspondence"] == train["correspondence"]
    assert v.objects == synhoi_vocabulary().objects
    # pair classes agree with the correspondence table
    for d in (train, test):
        for a in d["annotation"]:
            for h, o, vb in zip(a["hoi"], a["object"], a["verb"]):
                assert d["correspondence"][h] == [h, o, vb]


def test_boxes_valid_and_inside_image(big):
    root, _ = big
    for split in ("train", "test"):
        d = _load(root, split)
        person = d["objects"].index("person")
        for (w, h), a, inst in zip(d["size"], d["annotation"], d["instances"]):
            all_boxes = np.array(inst["boxes"])
            for key in ("boxes_h", "boxes_o"):
                b = np.array(a[key]).reshape(-1, 4)
                assert np.all(b == np.round(b))                       # whole pixel indices
                assert np.all(b[:, :2] >= 1) and np.all(b[:, 2] <= w) and np.all(b[:, 3] <= h)
                assert np.all(b[:, 2] >= b[:, 0]) and np.all(b[:, 3] >= b[:, 1])
                assert not invalid_box_mask(hico_to_continuous(b), w, h, tol=0).any()
                for row in b:                                         # every pair box is a drawn entity
                    assert (np.abs(all_boxes - row).sum(axis=1) == 0).any()
            labels = np.array(inst["object"])
            for bh in a["boxes_h"]:
                assert person in labels[(np.abs(all_boxes - np.array(bh)).sum(axis=1) == 0)]


def test_images_match_sizes(big):
    root, _ = big
    d = _load(root, "test")
    for name, (w, h) in list(zip(d["filenames"], d["size"]))[:20]:
        with Image.open(root / "images" / "test" / name) as im:
            assert im.size == (w, h) and im.mode == "RGB"
    assert len(list((root / "images" / "train").glob("*.png"))) == 300


def test_hoidataset_from_json(big):
    """The JSON converts into the in-memory records (what the HICO JSON reader produces)."""
    root, _ = big
    d = _load(root, "train")
    vocab = Vocabulary.from_hicodet_json_dict(d, "synhoi")
    recs = [ImageAnnotation(n, w, h, hico_to_continuous(a["boxes_h"]), hico_to_continuous(a["boxes_o"]),
                            np.array(a["hoi"], dtype=np.int64), np.array(a["verb"], dtype=np.int64),
                            np.array(a["object"], dtype=np.int64))
            for n, (w, h), a in zip(d["filenames"], d["size"], d["annotation"])]
    ds = HOIDataset("synhoi", "train", vocab, recs, root / "images" / "train")
    counts = ds.hoi_counts()
    assert counts.sum() == sum(len(a["hoi"]) for a in d["annotation"])
    assert set(np.flatnonzero(counts < 10).tolist()) == set(vocab.rare_indices.tolist())
    weak = ds.weak_view()
    assert weak.hoi_matrix().sum() == sum(len(set(a["hoi"])) for a in d["annotation"])
    assert ds.image_path(0).is_file()


# -- statistics -----------------------------------------------------------------------------

def test_statistics(big):
    root, summary = big
    d = _load(root, "train")
    person = d["objects"].index("person")
    ni = d["verbs"].index("no_interaction")
    counts = np.zeros(len(d["correspondence"]), dtype=int)
    for a in d["annotation"]:
        np.add.at(counts, a["hoi"], 1)
    # long tail: rare classes with 1..9 training pairs exist, and every class is present
    assert ((counts >= 1) & (counts <= 9)).sum() >= 3
    assert (counts >= 1).all()
    assert counts.max() >= 10 * max(1, counts.min())
    assert summary["num_rare"] == int((counts < 10).sum())
    for split in ("train", "test"):
        d = _load(root, split)
        n_people = [sum(1 for o in inst["object"] if o == person) for inst in d["instances"]]
        n_objects = [sum(1 for o in inst["object"] if o != person) for inst in d["instances"]]
        assert min(n_people) >= 1 and max(n_people) <= 3 and max(n_people) == 3
        assert min(n_objects) >= 1 and max(n_objects) <= 4 and max(n_objects) >= 3
        # every image has at least one real interaction
        assert all(any(v != ni for v in a["verb"]) for a in d["annotation"])
        # distractors: people/objects in no interaction, in at least a third of the images
        with_distractor = [0 in inst["interacting"] for inst in d["instances"]]
        assert np.mean(with_distractor) >= 1 / 3
        assert summary[split]["distractor_share"] == pytest.approx(np.mean(with_distractor))
        # no_interaction pairs are annotated, but only for people who interact with nothing
        assert any(ni in a["verb"] for a in d["annotation"])


def test_proximity_alone_does_not_solve_pairing(big):
    """Over the test set, pairing each acting person with its nearest object (box centres)
    gets a substantial share of the interacting pairs wrong."""
    root, summary = big
    d = _load(root, "test")
    person = d["objects"].index("person")
    ni = d["verbs"].index("no_interaction")
    wrong = total = 0
    for a, inst in zip(d["annotation"], d["instances"]):
        objs = [b for b, o in zip(inst["boxes"], inst["object"]) if o != person]
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in objs]
        for bh, bo, v in zip(a["boxes_h"], a["boxes_o"], a["verb"]):
            if v == ni:
                continue
            ch = ((bh[0] + bh[2]) / 2, (bh[1] + bh[3]) / 2)
            k = min(range(len(objs)), key=lambda j: math.dist(centres[j], ch))
            total += 1
            wrong += objs[k] != bo
    assert total > 150
    assert wrong / total >= 0.20
    assert summary["test"]["nearest_object_mispair_rate"] == pytest.approx(wrong / total)


@pytest.mark.parametrize("verb,obj", synhoi.INTERACTION_RANKING)
def test_interaction_cue_is_a_local_contact(verb, obj):
    """Each interaction is drawn with its contact: a hand on the object (hold/lift), the
    kicking foot at it, the hip on its seat (ride/sit_on); a held kite is away from the hand."""
    rng = np.random.default_rng(0)
    hp = 70.0
    for d in (1, -1):
        p, o = interaction_group(verb, obj, hp, d, rng, PersonStyle.sample(rng))
        b = o.bbox()
        tol = Body(hp).lw + 1.0

        def dist(pt):
            return math.hypot(max(b[0] - pt[0], 0, pt[0] - b[2]), max(b[1] - pt[1], 0, pt[1] - b[3]))

        if verb == "hold" and obj == "kite":
            assert dist(p.points["hand0"]) > 0.2 * hp       # the string is the only link
        elif verb == "hold":
            assert dist(p.points["hand0"]) <= tol
        elif verb == "lift":
            assert dist(p.points["hand0"]) <= tol and dist(p.points["hand1"]) <= tol
            assert b[3] <= p.points["shoulder"][1]           # above the shoulders
        elif verb == "kick":
            assert dist(p.points["foot0"]) <= tol
            assert p.points["foot0"][1] < -0.05 * hp          # kicking foot off the ground
        else:  # ride / sit_on
            assert dist(p.points["hip"]) <= tol


# -- determinism and atomicity ---------------------------------------------------------------

def test_deterministic_bytes(tmp_path):
    generate(SynHOIConfig(seed=7, **SMALL), tmp_path / "a")
    generate(SynHOIConfig(seed=7, **SMALL), tmp_path / "b")
    generate(SynHOIConfig(seed=8, **SMALL), tmp_path / "c")
    a, b, c = (_tree_digest(tmp_path / k) for k in "abc")
    assert len(a) == 2 + 12 + 4 + 1                      # + the weakhoi output marker
    assert ".weakhoi-output.json" in a
    assert a == b
    assert a["instances_train.json"] != c["instances_train.json"]
    assert a["images/train/synhoi_train_000000.png"] != c["images/train/synhoi_train_000000.png"]
    assert a["images/test/synhoi_test_000000.png"] != c["images/test/synhoi_test_000000.png"]
    # train and test are drawn from different streams: their first images differ
    with Image.open(tmp_path / "a/images/train/synhoi_train_000000.png") as t0, \
            Image.open(tmp_path / "a/images/test/synhoi_test_000000.png") as s0:
        assert t0.size != s0.size or np.any(np.asarray(t0) != np.asarray(s0))
    text = (tmp_path / "a" / "instances_test.json").read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")) + "\n"


def test_generate_replaces_existing_and_is_atomic_on_error(tmp_path, monkeypatch):
    out = tmp_path / "ds"
    generate(SynHOIConfig(seed=2, **SMALL), out)            # a previous SynHOI output
    (out / "old.txt").write_text("old")
    calls = {"n": 0}
    real = synhoi.generate_image

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(synhoi, "generate_image", failing)
    with pytest.raises(RuntimeError, match="boom"):
        generate(SynHOIConfig(seed=1, **SMALL), out)
    assert (out / "old.txt").read_text() == "old"           # previous dataset untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]   # no temp directory left
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        calls["n"] = 0
        generate(SynHOIConfig(seed=1, **SMALL), fresh)
    assert not fresh.exists()
    monkeypatch.setattr(synhoi, "generate_image", real)
    generate(SynHOIConfig(seed=1, **SMALL), out)
    assert not (out / "old.txt").exists() and (out / "instances_test.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_config_validation():
    with pytest.raises(ConfigError, match="synhoi.max_size"):
        SynHOIConfig(min_size=150, max_size=140)
    with pytest.raises(ConfigError, match="synhoi.decoy_rate"):
        SynHOIConfig(decoy_rate=1.5)
    with pytest.raises(ConfigError, match="synhoi.colour"):
        SynHOIConfig.from_mapping({"seed": 1, "colour": "red"})


# -- CLI --------------------------------------------------------------------------------------

def _app() -> typer.Typer:
    from pipeline.data import command
    app = typer.Typer()
    app.command()(command)
    return app


def test_cli_generates_and_reports(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"synhoi": {"seed": 5, "num_train": 10, "num_test": 3,
                                                 "min_size": 128, "max_size": 140}}))
    out = tmp_path / "data" / "synhoi"
    result = CliRunner().invoke(_app(), ["--out-dir", str(out), "--params", str(params)])
    assert result.exit_code == 0, result.output
    assert "10 images" in result.output and "3 images" in result.output and "rare" in result.output
    d = _load(out, "train")
    assert d["generator"]["seed"] == 5 and len(d["filenames"]) == 10
    assert all(128 <= w <= 140 for w, _ in d["size"])


def test_cli_missing_or_unknown_key(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"synhoi": {"seed": 5, "num_train": 10, "num_test": 3, "min_size": 128}}))
    result = CliRunner().invoke(_app(), ["--out-dir", str(tmp_path / "o"), "--params", str(params)])
    assert isinstance(result.exception, ConfigError) and "synhoi.max_size" in str(result.exception)
    params.write_text(yaml.safe_dump({"synhoi": {"seed": 5, "num_train": 10, "num_test": 3, "min_size": 128,
                                                 "max_size": 140, "num_val": 3}}))
    result = CliRunner().invoke(_app(), ["--out-dir", str(tmp_path / "o"), "--params", str(params)])
    assert isinstance(result.exception, ConfigError) and "synhoi.num_val" in str(result.exception)
    assert not (tmp_path / "o").exists()
