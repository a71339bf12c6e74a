"""Visualisation: drawing functions (pixels of the drawn boxes), contact sheet geometry, and the
`viz dataset` / `viz proposals` commands end to end on a tiny SynHOI."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pipeline.viz import app, pick
from weakhoi.errors import ArtifactError, ConfigError, DataError
from weakhoi.viz import HUMAN_COLOUR, OBJECT_COLOUR, PALETTE, contact_sheet, draw_detections, draw_pairs

GREY = (100, 100, 100)
RED = (255, 0, 0)
GREEN = (0, 255, 0)


def grey(w: int = 64, h: int = 48) -> Image.Image:
    return Image.new("RGB", (w, h), GREY)


def px(im: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    return tuple(im.getpixel((x, y)))


# ---- draw_pairs ---------------------------------------------------------------------------------

def test_draw_pairs_outlines_follow_continuous_boxes():
    src = grey()
    bh = np.array([[4.0, 6.0, 20.0, 40.0]])   # covers pixel columns 4..19, rows 6..39
    bo = np.array([[40.0, 10.0, 56.0, 26.0]])  # columns 40..55, rows 10..25
    out = draw_pairs(src, bh, bo, [""], colours=[RED])
    assert out.size == src.size and out.mode == "RGB"
    assert px(src, 4, 39) == GREY                     # the input is not modified
    # human outline: first and last covered pixels; one pixel further out stays grey
    for x, y in [(4, 39), (19, 39), (19, 30), (4, 30), (12, 39)]:
        assert px(out, x, y) == RED, (x, y)
    for x, y in [(3, 39), (20, 30), (12, 40)]:
        assert px(out, x, y) == GREY, (x, y)
    # object outline
    for x, y in [(40, 25), (55, 25), (55, 12), (48, 25)]:
        assert px(out, x, y) == RED, (x, y)
    assert px(out, 56, 20) == GREY and px(out, 48, 26) == GREY
    # the line between the centres (11.5, 22.5) -> (47.5, 17.5) crosses x = 30 near y = 20
    assert RED in [px(out, 30, y) for y in range(18, 23)]
    assert px(out, 30, 30) == GREY


def test_draw_pairs_scale_and_label():
    bh, bo = np.array([[4.0, 20.0, 20.0, 40.0]]), np.array([[40.0, 20.0, 56.0, 36.0]])
    out = draw_pairs(grey(), bh, bo, [""], colours=[RED], scale=2)
    assert out.size == (128, 96)
    assert px(out, 8, 79) == RED and px(out, 39, 79) == RED     # box scaled by 2
    assert px(out, 7, 79) == GREY and px(out, 8, 81) == GREY
    plain = np.asarray(draw_pairs(grey(), bh, bo, [""], colours=[RED]))
    tagged = np.asarray(draw_pairs(grey(), bh, bo, ["ride bicycle 0.87"], colours=[RED]))
    # the tag sits above the human box (rows < 20) and is not drawn without text
    diff = (plain != tagged).any(axis=2)
    assert diff[:20].sum() > 20 and not diff[40:].any()


def test_draw_pairs_default_palette_and_missing_object():
    bh = np.array([[2.0, 2.0, 12.0, 30.0], [30.0, 2.0, 40.0, 30.0]])
    bo = np.array([[14.0, 34.0, 24.0, 44.0], [np.nan] * 4])
    out = draw_pairs(grey(), bh, bo, ["", ""])
    assert px(out, 2, 29) == PALETTE[0] and px(out, 30, 29) == PALETTE[1]
    assert px(out, 14, 43) == PALETTE[0]
    # no object box, no line for the NaN row: right half below the second human stays grey
    assert (np.asarray(out)[31:, 26:] == GREY).all()
    with pytest.raises(ValueError, match="labels"):
        draw_pairs(grey(), bh, bo, ["one label"])


# ---- draw_detections ----------------------------------------------------------------------------

def test_draw_detections_colours_and_threshold():
    boxes = np.array([[2.0, 20.0, 14.0, 46.0],     # person
                      [30.0, 30.0, 44.0, 46.0],    # object
                      [50.0, 30.0, 62.0, 46.0]])   # object below the threshold
    scores = np.array([0.9, 0.6, 0.1])
    labels = np.array([3, 1, 1])
    out = draw_detections(grey(), boxes, scores, labels, ["a", "b", "c", "person"], person_label=3,
                          score_threshold=0.5)
    assert out.size == (64, 48)
    assert px(out, 2, 45) == HUMAN_COLOUR and px(out, 13, 40) == HUMAN_COLOUR
    assert px(out, 30, 45) == OBJECT_COLOUR and px(out, 43, 40) == OBJECT_COLOUR
    assert (np.asarray(out)[36:, 48:] == GREY).all()            # the 0.1 box is not drawn (tags end above)
    every = draw_detections(grey(), boxes, scores, labels, None, person_label=3, show_text=False)
    assert px(every, 50, 45) == OBJECT_COLOUR
    assert px(every, 8, 33) == GREY                             # inside a box: untouched


# ---- contact_sheet ------------------------------------------------------------------------------

def test_contact_sheet_geometry_and_nearest_upscaling():
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (8, 10, 3), dtype=np.uint8) for _ in range(4)]
    arrays.append(rng.integers(0, 256, (6, 12, 3), dtype=np.uint8))     # wider, less tall
    ims = [Image.fromarray(a) for a in arrays]
    sheet = contact_sheet(ims, columns=3, scale=2, pad=4)
    # cells 24 x 16 (max width 12, max height 8, times 2); 3 columns, 2 rows, 4 px padding
    assert sheet.size == (3 * 24 + 4 * 4, 2 * 16 + 3 * 4)
    s = np.asarray(sheet)
    up = np.repeat(np.repeat(arrays[0], 2, axis=0), 2, axis=1)          # [16, 20, 3]
    assert (s[4:20, 4:24] == up).all()
    second_row_first = np.repeat(np.repeat(arrays[3], 2, axis=0), 2, axis=1)
    assert (s[4 + 16 + 4:4 + 32 + 4, 4:24] == second_row_first).all()
    assert (s[4:20, 24:28] == s[0, 0]).all()                           # background beside a narrow tile
    # fewer images than columns: the sheet is only as wide as the images
    assert contact_sheet(ims[:2], columns=6, scale=1, pad=0).size == (2 * 10, 8)


def test_contact_sheet_captions():
    ims = [grey(20, 10) for _ in range(3)]
    plain = contact_sheet(ims, columns=3, scale=3, pad=2)
    capt = contact_sheet(ims, columns=3, scale=3, pad=2, captions=["a", "b", "c"])
    assert plain.size == (3 * 60 + 4 * 2, 30 + 2 * 2)
    assert capt.width == plain.width and capt.height > plain.height
    band = np.asarray(capt)[2 + 30:capt.height - 2, 2:62]               # under the first tile
    assert (band != np.asarray(capt)[0, 0]).any()                       # text was drawn
    with pytest.raises(ValueError, match="captions"):
        contact_sheet(ims, columns=2, captions=["only one"])
    with pytest.raises(ValueError):
        contact_sheet([], columns=2)


def test_pick_is_seeded_and_bounded():
    a = pick(50, 8, seed=3)
    assert a == pick(50, 8, seed=3) and a == sorted(set(a)) and len(a) == 8
    assert all(0 <= i < 50 for i in a)
    assert pick(3, 10, seed=0) == [0, 1, 2]


# ---- CLI ----------------------------------------------------------------------------------------

def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A SynHOI of 6 train / 4 test images, simulated test proposals and their candidate pairs
    (all thresholds 0, NMS off, so every person is paired with every other detection)."""
    from pipeline.spatial import build_pair_features
    from weakhoi.data.loaders import load_dataset
    from weakhoi.data.synhoi import SynHOIConfig, generate
    from weakhoi.detection import simulate_detections, write_proposals

    tmp = tmp_path_factory.mktemp("viz")
    generate(SynHOIConfig(num_train=6, num_test=4), tmp / "synhoi")
    out = {"root": tmp, "data": tmp / "synhoi"}
    for split in ("train", "test"):
        ds = load_dataset("synhoi", tmp / "synhoi" / f"instances_{split}.json",
                          tmp / "synhoi" / "images" / split)
        out[f"ds_{split}"] = ds
        out[f"props_{split}"] = tmp / f"proposals_{split}.h5"
        write_proposals(out[f"props_{split}"], simulate_detections(ds), "synhoi", ds.vocab, {})
        out[f"pairs_{split}"] = tmp / f"pairs_{split}.zarr"
        build_pair_features(out[f"props_{split}"], out[f"pairs_{split}"],
                            {"human_score_threshold": 0.0, "object_score_threshold": 0.0,
                             "nms_threshold": 1.0, "max_humans": 15, "max_objects": 15,
                             "humans_as_objects": True, "eps": 1e-8}, progress=False)
    return out


def test_cli_dataset_sheet(tiny, tmp_path):
    d, ds = tiny["data"], tiny["ds_train"]
    out = tmp_path / "sheet.png"
    r = invoke("dataset", "--dataset", "synhoi", "--annotations", d / "instances_train.json",
               "--images", d / "images" / "train", "--out", out, "--num", 10, "--columns", 1,
               "--scale", 3)
    assert r.exit_code == 0, r.output
    sheet = Image.open(out)
    assert sheet.format == "PNG"
    max_w = max(rec.width for rec in ds)
    max_h = max(rec.height for rec in ds)
    # --num 10 > 6 images: all of them, one column, 3x, 4 px padding, plus caption bands
    assert sheet.width == max_w * 3 + 2 * 4
    assert sheet.height > 6 * max_h * 3 + 7 * 4
    # the first image's first pair: its human box bottom-left pixel is drawn in a palette colour
    rec = ds[0]
    x1, y2 = int(round(rec.boxes_h[0, 0] * 3)), int(round(rec.boxes_h[0, 3] * 3)) - 1
    assert tuple(sheet.convert("RGB").getpixel((4 + x1, 4 + y2))) in PALETTE
    # same seed, same bytes
    out2 = tmp_path / "again.png"
    invoke("dataset", "--annotations", d / "instances_train.json", "--images", d / "images" / "train",
           "--out", out2, "--num", 10, "--columns", 1, "--scale", 3)
    assert out2.read_bytes() == out.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no temp left


def test_cli_proposals_sheet_with_pairs(tiny, tmp_path):
    from weakhoi.detection import read_proposals

    out = tmp_path / "props.png"
    r = invoke("proposals", "--proposals", tiny["props_test"], "--images", tiny["data"] / "images" / "test",
               "--out", out, "--pairs", tiny["pairs_test"], "--annotations",
               tiny["data"] / "instances_test.json", "--num", 4, "--colours", 64)
    assert r.exit_code == 0, r.output
    assert Image.open(out).mode == "P"                          # palette PNG with --colours
    props = read_proposals(tiny["props_test"])
    person = int(props.meta["person_label"])
    lines = [l for l in r.output.splitlines() if l.startswith("synhoi_test_")]
    assert len(lines) == 4
    for i, line in enumerate(lines):
        labels = props.detections[i].labels
        h, o = int((labels == person).sum()), int((labels != person).sum())
        # humans x (humans + objects) minus the self-pairs
        assert line == f"{props.file_names[i]}: {h} person, {o} object, {h * (h + o - 1)} pairs"


def test_cli_missing_image_leaves_no_output(tiny, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(tiny["data"] / "images" / "test", images)
    victim = tiny["ds_test"][2].file_name
    (images / victim).unlink()
    out = tmp_path / "sheet.png"
    with pytest.raises(DataError, match=re.escape(victim)):
        invoke("proposals", "--proposals", tiny["props_test"], "--images", images, "--out", out)
    assert not out.exists()
    Image.new("RGB", (4, 4)).save(out)                        # an existing sheet is left untouched
    old = out.read_bytes()
    with pytest.raises(DataError, match=re.escape(victim)):
        invoke("dataset", "--annotations", tiny["data"] / "instances_test.json", "--images", images,
               "--out", out)
    assert out.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "sheet.png"]


def test_cli_artifact_errors(tiny, tmp_path):
    images = tiny["data"] / "images" / "test"
    missing = tmp_path / "nope.h5"
    with pytest.raises(ArtifactError, match=re.escape(str(missing))):
        invoke("proposals", "--proposals", missing, "--images", images, "--out", tmp_path / "a.png")
    with pytest.raises(ArtifactError, match="file_names differ"):       # pairs of another split
        invoke("proposals", "--proposals", tiny["props_test"], "--images", images,
               "--pairs", tiny["pairs_train"], "--out", tmp_path / "b.png")
    with pytest.raises(ArtifactError):                                   # wrong artifact type
        invoke("proposals", "--proposals", tiny["pairs_test"], "--images", images, "--out", tmp_path / "c.png")
    with pytest.raises(ConfigError, match=".png"):
        invoke("proposals", "--proposals", tiny["props_test"], "--images", images, "--out", tmp_path / "d.jpg")
    assert list(tmp_path.iterdir()) == []


def test_object_names_from_layouts_without_image_sizes(tmp_path):
    """--annotations only supplies object names: a QPIC test_hico.json (no image sizes, no
    images given) must work (regression: it raised 'stores no image sizes')."""
    import json

    from pipeline.viz import _object_names
    from weakhoi.vocab import hicodet_vocabulary

    ann = tmp_path / "test_hico.json"
    ann.write_text(json.dumps([{"file_name": "a.jpg", "annotations": [], "hoi_annotation": []}]))
    names = _object_names(ann, "hicodet", {"num_objects": 80}, tmp_path / "p.h5")
    assert tuple(names) == hicodet_vocabulary().objects and names[49] == "person"
    with pytest.raises(DataError, match="81"):      # still checked against the artifact
        _object_names(ann, "hicodet", {"num_objects": 81}, tmp_path / "p.h5")
