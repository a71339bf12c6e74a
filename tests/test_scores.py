"""The `hoi_scores` artifact: round trip (HDF5 and Zarr, with and without CLIP scores, empty
images and splits) and validation on write and on read."""
from __future__ import annotations

import numpy as np
import pytest

from weakhoi.artifacts import ArtifactWriter, open_artifact
from weakhoi.errors import ArtifactError, DataError
from weakhoi.scores import HOIScoresWriter, ImageScores, read_hoi_scores
from weakhoi.vocab import Vocabulary

# 3 objects (person = 0), 2 verbs; classes (v0, person) 0, (v0, o1) 1, (v1, o1) 2, (v1, o2) 3
VOCAB = Vocabulary.build("toy", ["person", "cup", "ball"], ["hold", "kick"], [(0, 0), (0, 1), (1, 1), (1, 2)])


def image(rng, R: int, P: int, clip: bool = False) -> ImageScores:
    xy = rng.uniform(0, 50, (R, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 30, (R, 2))], 1).astype(np.float32)
    labels = np.r_[np.zeros(min(R, 1), np.int64), rng.integers(0, 3, max(R - 1, 0))]
    human = np.zeros(P, np.int64)
    obj = (np.arange(P) % max(R - 1, 1) + 1).astype(np.int64) if R > 1 else np.zeros(P, np.int64)
    return ImageScores(rng.normal(size=4).astype(np.float32), boxes, rng.uniform(0.2, 1, R).astype(np.float32),
                       labels, human, obj, rng.normal(size=(P, 2)).astype(np.float32),
                       rng.normal(size=P).astype(np.float32),
                       rng.normal(size=(P, 2)).astype(np.float32) if clip else None)


def write(path, images, clip=False, names=None):
    with HOIScoresWriter(path, {"k": 1}, VOCAB, "synhoi", has_clip=clip, extra={"model": "m"}) as w:
        for i, im in enumerate(images):
            w.append(names[i] if names else f"img{i}.png", (64 + i, 48), im)
    return path


@pytest.mark.parametrize("suffix", [".h5", ".zarr"])
@pytest.mark.parametrize("clip", [False, True])
def test_round_trip(tmp_path, suffix, clip):
    rng = np.random.default_rng(0)
    images = [image(rng, 4, 3, clip), image(rng, 0, 0, clip), image(rng, 3, 2, clip)]
    path = write(tmp_path / f"scores{suffix}", images, clip)
    s = read_hoi_scores(path)
    assert len(s) == 3 and s.file_names == ["img0.png", "img1.png", "img2.png"]
    assert s.image_sizes.tolist() == [[64, 48], [65, 48], [66, 48]]
    assert (s.num_hois, s.num_verbs, s.num_objects, s.has_clip) == (4, 2, 3, clip)
    assert s.attrs["dataset"] == "synhoi" and s.attrs["vocabulary"] == "toy" and s.attrs["model"] == "m"
    assert s.attrs["artifact_type"] == "hoi_scores" and s.attrs["has_clip_scores"] is clip
    assert np.array_equal(s.verb_object_to_hoi(), VOCAB.verb_object_to_hoi())
    for i, want in enumerate(images):
        got = s.image(i)
        for key in ("s_g", "boxes", "det_scores", "labels", "human", "object", "s_p", "s_b"):
            assert np.array_equal(getattr(got, key), getattr(want, key)), key
        if clip:
            # stored where (verb, object class of the pair) is a class, NaN elsewhere
            valid = VOCAB.verb_object_to_hoi()[:, want.labels[want.object]].T >= 0
            assert np.array_equal(got.s_clip[valid], want.s_clip[valid])
            assert np.isnan(got.s_clip[~valid]).all()
        else:
            assert got.s_clip is None
    assert s.image(-1).num_pairs == 2 and s.image(1).s_p.shape == (0, 2)
    gh, go = s.pair_detections()
    assert gh.tolist() == [0, 0, 0, 4, 4] and s.pair_image().tolist() == [0, 0, 0, 2, 2]
    with pytest.raises(IndexError):
        s.image(3)


def test_empty_split(tmp_path):
    s = read_hoi_scores(write(tmp_path / "empty.h5", []))
    assert len(s) == 0 and s.s_g.shape == (0, 4) and s.num_pairs == 0


@pytest.mark.parametrize("change, error, match", [
    (lambda im: {"s_g": im.s_g[:3]}, ValueError, r"s_g has shape \[3\], expected \[4\]"),
    (lambda im: {"s_p": im.s_p[:, :1]}, ValueError, r"s_p has shape \[3, 1\], expected \[3, 2\]"),
    (lambda im: {"object": im.object + 10}, ValueError, "pair object index outside the image's 4 detections"),
    (lambda im: {"labels": im.labels + 3}, ValueError, r"detection label outside 0..2"),
    (lambda im: {"s_p": np.where(np.arange(2) == 1, np.nan, im.s_p).astype(np.float32)}, DataError, "s_p is not finite"),
    (lambda im: {"s_b": np.full(3, np.inf, np.float32)}, DataError, "s_b is not finite"),
    (lambda im: {"s_g": np.full(4, np.nan, np.float32)}, DataError, "s_g is not finite"),
    (lambda im: {"s_g": np.full(4, 1e39)}, DataError, "s_g is not finite"),       # inf once stored as float32
    (lambda im: {"det_scores": im.det_scores + 1.0}, DataError, r"detector score outside \[0, 1\]"),
    (lambda im: {"boxes": im.boxes[:, [2, 1, 0, 3]]}, DataError, "x2 < x1"),
    (lambda im: {"human": im.human.astype(np.float32)}, ValueError, "human must be integers"),
])
def test_writer_validation_names_the_image(tmp_path, change, error, match):
    rng = np.random.default_rng(1)
    good = image(rng, 4, 3)
    bad = ImageScores(**{**good.__dict__, **change(good)})
    path = tmp_path / "s.h5"
    with pytest.raises(error, match=match) as e:
        with HOIScoresWriter(path, {}, VOCAB, "synhoi") as w:
            w.append("a.png", (64, 48), good)
            w.append("b.png", (64, 48), bad)
    assert "image 1 (b.png)" in str(e.value) and str(path) in str(e.value)
    assert not path.exists() and not list(tmp_path.iterdir())     # nothing left behind


def test_writer_checks_names_sizes_and_clip_presence(tmp_path):
    rng = np.random.default_rng(2)
    im = image(rng, 3, 2)
    with HOIScoresWriter(tmp_path / "s.h5", {}, VOCAB, "synhoi") as w:
        w.append("a.png", (10, 10), im)
        with pytest.raises(ValueError, match="appended twice"):
            w.append("a.png", (10, 10), im)
        with pytest.raises(ValueError, match="image_size"):
            w.append("b.png", (0, 10), im)
        with pytest.raises(ValueError, match="s_clip given"):
            w.append("c.png", (10, 10), image(rng, 3, 2, clip=True))
    with pytest.raises(ValueError, match="s_clip missing"):
        with HOIScoresWriter(tmp_path / "t.h5", {}, VOCAB, "synhoi", has_clip=True) as w:
            w.append("a.png", (10, 10), im)
    # a non-finite CLIP logit on a valid class is an error; on an invalid class it is stored as NaN
    clip_im = image(rng, 3, 2, clip=True)
    valid = VOCAB.verb_object_to_hoi()[:, clip_im.labels[clip_im.object]].T >= 0
    bad = ImageScores(**{**clip_im.__dict__, "s_clip": np.where(valid, np.inf, 0).astype(np.float32)})
    with pytest.raises(DataError, match="s_clip is not finite"):
        with HOIScoresWriter(tmp_path / "u.h5", {}, VOCAB, "synhoi", has_clip=True) as w:
            w.append("a.png", (10, 10), bad)
    with pytest.raises(ValueError, match="set by the writer"):
        HOIScoresWriter(tmp_path / "v.h5", {}, VOCAB, "synhoi", extra={"num_hois": 3})


def forged(path, human=(0,), s_g_value=0.0, columns=("human", "object", "s_p", "s_b"), n_det=2):
    """A hoi_scores artifact written with the generic writer (bypassing HOIScoresWriter)."""
    extra = {"num_hois": 4, "num_verbs": 2, "num_objects": 3, "dataset": "synhoi", "vocabulary": "toy",
             "person_label": 0, "has_clip_scores": False}
    with ArtifactWriter(path, "hoi_scores", {}, extra=extra) as w:
        w.write_strings("file_names", ["a.png", "b.png"])
        w.write_array("image_sizes", np.array([[10, 10], [10, 10]], np.int64))
        w.write_array("s_g", np.array([[0, 0, 0, 0], [0, s_g_value, 0, 0]], np.float32))
        w.write_array("hoi_verb", VOCAB.hoi_verb)
        w.write_array("hoi_object", VOCAB.hoi_object)
        w.write_ragged("detections", [0, n_det], boxes=np.array([[0, 0, 5, 5], [1, 1, 6, 6]], np.float32)[:n_det],
                       scores=np.array([0.9, 0.8], np.float32)[:n_det], labels=np.array([0, 1])[:n_det])
        cols = {"human": np.array(human), "object": np.ones(len(human), np.int64),
                "s_p": np.zeros((len(human), 2), np.float32), "s_b": np.zeros(len(human), np.float32)}
        w.write_ragged("pairs", [0, len(human)], **{c: cols[c] for c in columns})
    return path


def test_reader_validation_names_file_and_image(tmp_path):
    assert read_hoi_scores(forged(tmp_path / "ok.h5")).num_pairs == 1
    with pytest.raises(ArtifactError, match=r"bad1.h5: image 1 \(b.png\): pair human index outside"):
        read_hoi_scores(forged(tmp_path / "bad1.h5", human=(5,)))
    with pytest.raises(ArtifactError, match=r"bad2.h5: image 1 \(b.png\): s_g is not finite"):
        read_hoi_scores(forged(tmp_path / "bad2.h5", s_g_value=np.nan))
    with pytest.raises(ArtifactError, match=r"bad3.h5: 'pairs' has columns"):
        read_hoi_scores(forged(tmp_path / "bad3.h5", columns=("human", "object", "s_p")))
    with ArtifactWriter(tmp_path / "other.h5", "proposals", {}) as w:
        w.write_strings("file_names", [])
    with pytest.raises(ArtifactError, match="expected a 'hoi_scores' artifact"):
        read_hoi_scores(tmp_path / "other.h5")
    with pytest.raises(ArtifactError, match="not found"):
        read_hoi_scores(tmp_path / "missing.h5")


def test_artifact_type_is_registered(tmp_path):
    rng = np.random.default_rng(3)
    images = [image(rng, 4, 3), image(rng, 2, 1)]
    a = write(tmp_path / "a.zarr", images)
    with open_artifact(a, "hoi_scores") as art:
        assert art.schema_version == 1
        assert art.ragged("pairs").lengths.tolist() == [3, 1]
