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

Package layout (imports only go downward in this list)::

    vocabulary.py   classes, HOI list, interaction ranking
    config.py       SynHOIConfig (+ validation), generator name/version
    primitives.py   Prim/Entity drawing primitives, vector helpers, inverse kinematics
    figures.py      person styles, body proportions, build_person
    objects.py      the 8 object shapes
    poses.py        interaction groups (person + object per verb) and idle people
    layout.py       Scene validity rules, random placement, bystanders and decoys
    scene.py        per-image random streams and generate_image
    writer.py       split JSON, deterministic JSON dump
    stats.py        summary statistics
    captions.py     the caption split (image-caption "web data" for pretraining the tiny CLIP)
    __init__.py     generate_split / generate (they call ``generate_image`` through this
                    namespace, so replacing ``synhoi.generate_image`` affects them)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...artifacts.atomic import atomic_output, directory_kind
from .captions import CaptionConfig, CaptionSplit, generate_captions
from .config import GENERATOR_NAME, GENERATOR_VERSION, SynHOIConfig
from .figures import SHIRT, SKIN, TROUSERS, Body, PersonStyle, build_person
from .layout import Placed, Scene
from .objects import OBJ_COLOURS, build_object
from .poses import IDLE_POSES, SMALL_OBJECTS, idle_person, interaction_group
from .primitives import Colour, Entity, Point, Prim
from .scene import SPLITS, ImageRecord, _image_rng, _Retry, _Sampler, generate_image
from .stats import nearest_object_mispair_rate, summarize
from .vocabulary import INTERACTION_RANKING, NO_INTERACTION_OBJECTS, OBJECTS, VERBS, synhoi_vocabulary
from .writer import dump_json, split_json

__all__ = [
    "Body", "build_object", "build_person", "CaptionConfig", "CaptionSplit", "Colour", "dump_json", "Entity", "generate",
    "generate_captions", "generate_image", "generate_split", "GENERATOR_NAME", "GENERATOR_VERSION", "idle_person",
    "IDLE_POSES", "ImageRecord", "interaction_group", "INTERACTION_RANKING",
    "nearest_object_mispair_rate", "NO_INTERACTION_OBJECTS", "OBJ_COLOURS", "OBJECTS",
    "PersonStyle", "Placed", "Point", "Prim", "Scene", "SHIRT", "SKIN", "SMALL_OBJECTS",
    "split_json", "SPLITS", "summarize", "synhoi_vocabulary", "SynHOIConfig", "TROUSERS", "VERBS",
]


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


def generate(config: SynHOIConfig, out_dir: Path | str,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write the dataset to ``out_dir`` atomically (:func:`weakhoi.artifacts.atomic_output`:
    built in a temporary sibling directory and renamed; an existing SynHOI ``out_dir`` is
    replaced, anything else there is refused with OutputError; on error an existing ``out_dir``
    is left untouched and no temporary directory remains).

    Returns summary statistics: per split (images, pairs, distractor share, ...) plus the
    vocabulary sizes and the rare classes (train count < ``rare_threshold``)."""
    with atomic_output(out_dir, directory_kind("synhoi")) as tmp:
        tmp.mkdir()
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
    return summary
