"""Detection stage: post-processing, the three backends, the artifact and the CLI."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from weakhoi.boxes import box_iou
from weakhoi.data.records import HOIDataset, ImageAnnotation
from weakhoi.detection import (ImageDetections, SimulationParams, build_detector,
                               detect_torchvision, ground_truth_boxes, hub_checkpoint_path,
                               import_precomputed, map_labels, open_proposals, postprocess, read_proposals,
                               resolve_weights, run_detection, simulate_detections, write_proposals)
from weakhoi.errors import AssetMissingError, ConfigError, DataError
from weakhoi.vocab import Vocabulary, coco91_to_object, hicodet_vocabulary

NAN4 = [np.nan] * 4


# fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    # objects: bicycle 0, person 1, cup 2 (COCO-91 ids 2, 1, 47)
    return Vocabulary.build("toy", ["bicycle", "person", "cup"], ["ride", "hold", "no_interaction"],
                            [(0, 0), (1, 2), (2, 0), (2, 1)])


def rec(name, w, h, boxes_h, boxes_o, objects, hoi=None) -> ImageAnnotation:
    n = len(boxes_h)
    hoi = np.zeros(n, np.int64) if hoi is None else np.asarray(hoi, np.int64)
    return ImageAnnotation(name, w, h, np.asarray(boxes_h, float).reshape(-1, 4),
                           np.asarray(boxes_o, float).reshape(-1, 4), hoi, np.zeros(n, np.int64),
                           np.asarray(objects, np.int64))


def toy_dataset(vocab, n=40, seed=1, image_root=None) -> HOIDataset:
    """Images 200x150 with 1-3 pairs, each a distinct person and a distinct object."""
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        k = int(rng.integers(1, 4))
        bh, bo, ob = [], [], []
        for j in range(k):
            x = 10 + 60 * j
            bh.append([x, 10, x + 40, 100])
            bo.append([x + 5, 105, x + 45, 145])
            ob.append([0, 2][j % 2])
        recs.append(rec(f"img_{i:03d}.png", 200, 150, bh, bo, ob))
    return HOIDataset("toy", "test", vocab, recs, image_root=image_root)


# common post-processing --------------------------------------------------------------------

def test_postprocess_threshold_classwise_nms_and_cap():
    det = ImageDetections.from_arrays(
        [[0, 0, 10, 10], [0, 0, 10, 9], [0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]],
        [0.9, 0.8, 0.7, 0.1, 0.6], [1, 1, 2, 1, 0])
    out = postprocess(det, score_threshold=0.2, nms_threshold=0.5, max_detections=100)
    # box 1 (IoU 0.9 with box 0, same class) suppressed; box 2 same place but other class kept;
    # box 3 below the threshold
    np.testing.assert_allclose(out.scores, [0.9, 0.7, 0.6])
    np.testing.assert_array_equal(out.labels, [1, 2, 0])
    assert out.boxes.dtype == np.float32 and out.labels.dtype == np.int64
    capped = postprocess(det, score_threshold=0.0, nms_threshold=1.0, max_detections=2)
    np.testing.assert_allclose(capped.scores, [0.9, 0.8])
    assert len(postprocess(det, 0.95, 0.5, 100)) == 0
    # a score exactly at the threshold is kept
    assert len(postprocess(det, 0.6, 1.0, 100)) == 4


def test_map_labels_coco(vocab):
    table = coco91_to_object(vocab)
    det = ImageDetections.from_arrays(np.tile([0, 0, 5, 5], (4, 1)), [0.9, 0.8, 0.7, 0.6], [1, 2, 5, 47])
    out = map_labels(det, table)
    np.testing.assert_array_equal(out.labels, [1, 0, 2])  # person, bicycle, (airplane dropped), cup
    np.testing.assert_allclose(out.scores, [0.9, 0.8, 0.6])
    with pytest.raises(DataError, match="class id 91"):
        map_labels(ImageDetections.from_arrays([[0, 0, 1, 1]], [0.5], [91]), table, source="x")


# torchvision backend ------------------------------------------------------------------------

def _write_images(root: Path, sizes) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(0)
    names = []
    for i, (w, h) in enumerate(sizes):
        name = f"im{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / name)
        names.append(name)
    return names


class FakeDetector(nn.Module):
    """Torchvision detection interface with fixed outputs in COCO-91 ids (file pixels)."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = outputs
        self.seen = []

    def forward(self, images):
        self.seen.append([tuple(im.shape) for im in images])
        return [self.outputs[len(sum(self.seen[:-1], [])) + k] for k in range(len(images))]


def test_torchvision_label_mapping_and_empty_images(tmp_path, vocab):
    names = _write_images(tmp_path, [(64, 64), (32, 48), (40, 40)])
    recs = [rec(n, w, h, [], [], []) for n, (w, h) in zip(names, [(64, 64), (32, 48), (80, 80)])]
    ds = HOIDataset("toy", "test", vocab, recs, image_root=tmp_path)
    t = lambda *a: torch.tensor(a)  # noqa: E731
    outs = [
        {"boxes": t([0., 0, 10, 10], [5., 5, 20, 20], [1., 1, 8, 8]), "scores": t(.9, .8, .7),
         "labels": t(47, 5, 1)},
        {"boxes": t([0., 0, 10, 10]), "scores": t(.9), "labels": t(3)},   # car: not in vocab
        {"boxes": t([0., 0, 20, 10]), "scores": t(.5), "labels": t(2)},   # file 40x40, annot 80x80
    ]
    model = FakeDetector(outs)
    with pytest.warns(UserWarning, match="rescaling"):
        props = detect_torchvision(ds, batch_size=2, model=model, progress=False)
    assert [len(b) for b in model.seen] == [2, 1]           # batched
    assert model.seen[0][1] == (3, 48, 32)                  # PIL -> [3, H, W]
    assert props.file_names == names and len(props) == 3
    np.testing.assert_array_equal(props.image_sizes, [[64, 64], [32, 48], [80, 80]])
    np.testing.assert_array_equal(props.detections[0].labels, [2, 1])  # cup, person
    np.testing.assert_allclose(props.detections[0].scores, [0.9, 0.7])
    assert len(props.detections[1]) == 0 and props.detections[1].boxes.shape == (0, 4)
    np.testing.assert_allclose(props.detections[2].boxes, [[0, 0, 40, 20]])  # scaled x2
    np.testing.assert_array_equal(props.detections[2].labels, [0])


def test_torchvision_random_model_structure_and_cap(tmp_path):
    torch.manual_seed(0)
    vocab = hicodet_vocabulary()  # all 80 COCO classes map
    names = _write_images(tmp_path, [(64, 64), (48, 64)])
    ds = HOIDataset("hico", "test", vocab, [rec(n, 64, 64, [], [], []) if i == 0 else
                                            rec(n, 48, 64, [], [], []) for i, n in enumerate(names)],
                    image_root=tmp_path)
    model = build_detector("none", box_score_thresh=0.0, box_nms_thresh=0.5, detections_per_img=5,
                           min_size=64, max_size=64)
    from weakhoi.detection.torchvision_backend import _load_image
    with torch.no_grad():  # the same batch as below (padding makes batches differ numerically)
        raw = model([_load_image(ds.image_path(i)) for i in range(2)])
    props = detect_torchvision(ds, batch_size=2, model=model, progress=False)
    table = coco91_to_object(vocab)
    for i, (d, r) in enumerate(zip(props.detections, raw)):
        assert 0 < len(r["scores"]) <= 5                    # the cap
        mapped = table[r["labels"].numpy()]                 # -1 only for the 10 unused COCO-91 ids
        np.testing.assert_array_equal(d.labels, mapped[mapped >= 0])
        np.testing.assert_allclose(d.scores, r["scores"].numpy()[mapped >= 0])
        w, h = props.image_sizes[i]
        assert (d.boxes[:, 0] >= 0).all() and (d.boxes[:, 2] <= w + 1e-4).all()
        assert (d.boxes[:, 3] <= h + 1e-4).all()
        assert d.boxes.dtype == np.float32 and d.labels.dtype == np.int64
    # run_detection applies the common post-processing on top
    props = run_detection(ds, "torchvision", {"weights": "none", "min_size": 64, "max_size": 64},
                          score_threshold=0.0, nms_threshold=0.5, max_detections=3, progress=False)
    assert all(len(d) <= 3 for d in props.detections) and props.num_detections > 0
    assert all((np.diff(d.scores) <= 0).all() for d in props.detections)


def test_missing_weights_fail_fast_with_expected_path(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
    assert hub_checkpoint_path() == expected
    t0 = time.monotonic()
    with pytest.raises(AssetMissingError) as e:
        build_detector("DEFAULT")
    assert time.monotonic() - t0 < 5.0
    assert str(expected) in str(e.value) and "local copy" in str(e.value)
    with pytest.raises(AssetMissingError, match="nowhere.pth"):
        resolve_weights(tmp_path / "nowhere.pth")


def test_checkpoint_from_hub_cache_and_bad_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    torch.manual_seed(1)
    src = build_detector("none", min_size=64, max_size=64)
    # the released file has no BatchNorm counters (frozen batch norm)
    state = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = hub_checkpoint_path("COCO_V1")
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    model = build_detector("COCO_V1", min_size=64, max_size=64)
    key = "backbone.body.layer1.0.conv1.weight"
    assert torch.equal(model.state_dict()[key], state[key])
    assert model.backbone.body.bn1.eps == 0.0 and not model.training
    bad = tmp_path / "bad.pth"
    torch.save({"foo": torch.zeros(1)}, bad)
    with pytest.raises(DataError, match="bad.pth"):
        build_detector(bad)


# precomputed backend -------------------------------------------------------------------------

def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)


def test_precomputed_label_spaces_box_format_missing(tmp_path, vocab):
    d = tmp_path / "dets"
    d.mkdir()
    _dump(d / "a.json", {"boxes": [[1, 1, 10, 20], [2, 2, 5, 5], [3, 3, 9, 9]],
                         "scores": [0.9, 0.5, 0.4], "labels": [47, 1, 5]})
    _dump(d / "b.json", {"boxes": [], "scores": [], "labels": []})
    names, sizes = ["a.jpg", "b.jpg", "c.jpg"], [(30, 30)] * 3
    p = import_precomputed(d, names, sizes, vocab, label_space="coco")
    np.testing.assert_array_equal(p.detections[0].labels, [2, 1])      # cup, person; airplane dropped
    np.testing.assert_allclose(p.detections[0].boxes, [[1, 1, 10, 20], [2, 2, 5, 5]])
    assert [len(x) for x in p.detections] == [2, 0, 0] and p.meta["num_missing_files"] == 1
    h = import_precomputed(d, names, sizes, vocab, label_space="coco", box_format="hico")
    np.testing.assert_allclose(h.detections[0].boxes, [[0, 0, 10, 20], [1, 1, 5, 5]])
    with pytest.raises(DataError, match="c.jpg"):
        import_precomputed(d, names, sizes, vocab, missing="error")
    # dataset label space: indices used as is; 47 is out of range
    with pytest.raises(DataError, match="a.json"):
        import_precomputed(d, names, sizes, vocab, label_space="dataset")
    _dump(d / "a.json", {"boxes": [[1, 1, 10, 20]], "scores": [0.9], "labels": [2]})
    q = import_precomputed(d, names, sizes, vocab, label_space="dataset")
    np.testing.assert_array_equal(q.detections[0].labels, [2])
    with pytest.raises(ConfigError, match="label_space"):
        import_precomputed(d, names, sizes, vocab, label_space="coco80")


@pytest.mark.parametrize("content, match", [
    ("{not json", "not a readable JSON"),
    ({"boxes": [[0, 0, 1, 1]], "scores": [0.5]}, "labels"),
    ({"boxes": [[0, 0, 1]], "scores": [0.5], "labels": [1]}, "boxes"),
    ({"boxes": [[0, 0, 1, 1]], "scores": [0.5, 0.1], "labels": [1]}, "scores"),
    ({"boxes": [[0, 0, 1, 1]], "scores": [0.5], "labels": [1.5]}, "integers"),
    ([1, 2], "expected an object"),
])
def test_precomputed_malformed_file(tmp_path, vocab, content, match):
    _dump(tmp_path / "a.json", content)
    with pytest.raises(DataError, match=match) as e:
        import_precomputed(tmp_path, ["a.jpg"], [(10, 10)], vocab)
    assert "a.json" in str(e.value)


# simulated backend ---------------------------------------------------------------------------

def test_ground_truth_boxes_dedup(vocab):
    r = rec("x.png", 100, 100,
            [[0, 0, 50, 50], [0, 0, 50, 50], [1, 0, 50, 50], [60, 60, 90, 90]],
            [[10, 10, 20, 20], [10, 10, 20, 20], NAN4, [0, 0, 50, 50]], [2, 0, -1, 1])
    boxes, labels = ground_truth_boxes(r, vocab.person)
    # humans: box 0 (+ exact and near duplicates), box 3; objects: cup, bicycle at the same
    # place (other class: kept), a person object equal to human 0 (same class: merged)
    np.testing.assert_array_equal(labels, [1, 1, 2, 0])
    np.testing.assert_allclose(boxes, [[0, 0, 50, 50], [60, 60, 90, 90], [10, 10, 20, 20], [10, 10, 20, 20]])


def test_ground_truth_boxes_include_boxes_outside_pairs(vocab):
    """Distractors (SynHOI `instances`) are in no pair but a detector still sees them."""
    import dataclasses

    r = rec("x.png", 100, 100, [[0, 0, 50, 50]], [[10, 10, 20, 20]], [2])
    r = dataclasses.replace(r, instance_boxes=np.array([[0, 0, 50, 50], [70, 70, 90, 95], [60, 5, 99, 40]]),
                            instance_labels=np.array([vocab.person, 1, vocab.person]))
    boxes, labels = ground_truth_boxes(r, vocab.person)
    assert sorted(labels.tolist()) == sorted([vocab.person, 2, 1, vocab.person])
    assert any(np.allclose(b, [70, 70, 90, 95]) for b in boxes)      # distractor object
    assert any(np.allclose(b, [60, 5, 99, 40]) for b in boxes)       # idle person


def test_simulated_without_noise_reproduces_ground_truth(vocab):
    ds = toy_dataset(vocab, n=3)
    p = SimulationParams(jitter=0, miss_rate=0, fp_rate=0, dup_rate=0)
    props = simulate_detections(ds, p)
    for r, d in zip(ds, props.detections):
        gt, gl = ground_truth_boxes(r, vocab.person)
        np.testing.assert_allclose(d.boxes, gt)
        np.testing.assert_array_equal(d.labels, gl)
    empty = simulate_detections(ds, SimulationParams(miss_rate=1.0, fp_rate=0))
    assert len(empty) == 3 and empty.num_detections == 0


def test_simulated_determinism_and_order_independence(vocab):
    ds = toy_dataset(vocab, n=12)
    a = simulate_detections(ds, SimulationParams(seed=3))
    b = simulate_detections(ds, SimulationParams(seed=3))
    c = simulate_detections(ds, SimulationParams(seed=4))
    sub = simulate_detections(ds, SimulationParams(seed=3), indices=[7, 2, 11])
    for x, y in zip(a.detections, b.detections):
        np.testing.assert_array_equal(x.boxes, y.boxes)
        np.testing.assert_array_equal(x.scores, y.scores)
        np.testing.assert_array_equal(x.labels, y.labels)
    assert any(len(x) != len(y) or not np.array_equal(x.scores, y.scores)
               for x, y in zip(a.detections, c.detections))
    assert sub.file_names == [ds[7].file_name, ds[2].file_name, ds[11].file_name]
    for k, i in enumerate([7, 2, 11]):
        np.testing.assert_array_equal(sub.detections[k].boxes, a.detections[i].boxes)
        np.testing.assert_array_equal(sub.detections[k].scores, a.detections[i].scores)


def test_simulated_recall_false_positives_and_scores(vocab):
    ds = toy_dataset(vocab, n=60)
    props = run_detection(ds, "simulated", {"seed": 0}, 0.2, 0.5, 100,  # defaults otherwise
                          check_images=False)                       # toy dataset: no images
    assert props.meta["jitter"] == SimulationParams().jitter and props.meta["score_threshold"] == 0.2
    found = total = fps = 0
    for r, d in zip(ds, props.detections):
        gt, gl = ground_truth_boxes(r, vocab.person)
        iou = box_iou(gt, d.boxes)                                  # [G, R]
        same = gl[:, None] == d.labels[None, :]
        found += int(((iou >= 0.5) & same).any(axis=1).sum())
        total += len(gt)
        fps += int((~((iou >= 0.5) & same).any(axis=0)).sum())
        assert ((d.scores >= 0.2) & (d.scores <= 1)).all()
        assert (d.boxes[:, :2] >= 0).all() and (d.boxes[:, 2] <= r.width).all()
        assert (d.boxes[:, 3] <= r.height).all()
        assert ((d.boxes[:, 2:] - d.boxes[:, :2]) > 0).all()
        assert ((d.labels >= 0) & (d.labels < vocab.num_objects)).all()
    assert found / total >= 0.85
    assert found < total            # some misses
    assert fps > 0                  # false positives (and surviving duplicates) exist


def test_simulation_params_validation():
    with pytest.raises(ConfigError, match="SimulationParams.miss_rate"):
        SimulationParams.from_mapping({"miss_rate": 1.5})
    with pytest.raises(ConfigError, match="detect.simulated.bogus"):
        SimulationParams.from_mapping({"bogus": 1}, "detect.simulated")
    assert SimulationParams.from_mapping({"tp_beta": [5, 1]}).tp_beta == (5.0, 1.0)


# artifact and CLI ----------------------------------------------------------------------------

def test_write_and_read_proposals(tmp_path, vocab):
    from weakhoi.artifacts import open_artifact

    ds = toy_dataset(vocab, n=5)
    props = simulate_detections(ds, SimulationParams(seed=2, miss_rate=0.0, fp_rate=0.0))
    props.detections[3] = ImageDetections.empty()
    out = tmp_path / "p.h5"
    write_proposals(out, props, "toy", vocab, {"backend": "simulated"}, inputs=())
    with open_artifact(out, "proposals") as art:
        assert art.strings("file_names") == ds.file_names
        sizes = art.array("image_sizes")
        assert sizes.dtype == np.int64 and sizes.tolist() == [[200, 150]] * 5
        g = art.ragged("detections")
        assert len(g) == 5 and g.lengths.tolist() == [len(d) for d in props.detections]
        assert g[3]["boxes"].shape == (0, 4)
        assert g.column("boxes").dtype == np.float32 and g.column("labels").dtype == np.int64
        assert g.column("scores").dtype == np.float32
        np.testing.assert_array_equal(g[1]["boxes"], props.detections[1].boxes)
        a = art.attrs
        assert a["backend"] == "simulated" and a["dataset"] == "toy"
        assert a["person_label"] == 1 and a["num_objects"] == 3 and a["simulated"] is True
        assert a["simulation"]["seed"] == 2 and a["params"] == {"backend": "simulated"}
    back = read_proposals(out)
    assert back.file_names == props.file_names and back.backend == "simulated"
    for x, y in zip(back.detections, props.detections):
        np.testing.assert_array_equal(x.labels, y.labels)


def test_check_params_defaults_and_errors():
    from pipeline.detect import DEFAULTS, check_params

    cfg = check_params({}, "synhoi")
    assert cfg["backend"] == "simulated" and cfg["max_detections"] == 100
    assert check_params({}, "hicodet")["backend"] == "torchvision"
    cfg = check_params({"simulated": {"seed": 5}}, "synhoi")
    assert cfg["simulated"]["seed"] == 5 and cfg["simulated"]["jitter"] == DEFAULTS["simulated"]["jitter"]
    with pytest.raises(ConfigError, match="detect.score_threshold"):
        check_params({"score_threshold": 2}, "synhoi")
    with pytest.raises(ConfigError, match="foo"):
        check_params({"foo": 1}, "synhoi")
    with pytest.raises(ConfigError, match="detect.precomputed.dir"):
        check_params({"backend": "precomputed"}, "hicodet")
    with pytest.raises(ConfigError, match="params: detect.simulated.fp_rate"):
        check_params({"simulated": {"fp_rate": -1}}, "synhoi")
    with pytest.raises(ConfigError, match=r"params: unknown key\(s\) detect.simulated.bogus"):
        check_params({"simulated": {"bogus": 1}}, "synhoi")
    with pytest.raises(ConfigError, match="params: detect.precomputed.label_space"):
        check_params({"backend": "precomputed", "precomputed": {"dir": "d", "label_space": "coco80"}}, "hicodet")
    # simulated proposals on a real dataset would leak its pair boxes: opt-in only
    with pytest.raises(ConfigError, match="detect.simulated_on_real_data"):
        check_params({"backend": "simulated"}, "hicodet")
    assert check_params({"backend": "simulated", "simulated_on_real_data": True}, "hicodet")["backend"] == "simulated"


def test_cli_writes_artifact(tmp_path, vocab, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    import pipeline.detect as stage
    from pipeline.cli import app
    from weakhoi.artifacts import open_artifact

    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    ds = toy_dataset(vocab, n=4, image_root=images)
    for r in ds:
        Image.new("RGB", (r.width, r.height)).save(images / r.file_name)
    ann = tmp_path / "instances_test.json"
    ann.write_text("{}")
    seen = {}

    def fake_load(kind, annotations, images):
        seen.update(kind=kind, annotations=annotations, images=images)
        return ds

    monkeypatch.setattr(stage, "_load_dataset", fake_load)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"detect": {"backend": "auto", "max_detections": 2,
                                                 "simulated": {"seed": 7}}}))
    out = tmp_path / "proposals" / "test.h5"
    out.parent.mkdir()
    res = CliRunner().invoke(app, ["detect", "--dataset", "synhoi", "--annotations", str(ann),
                                   "--images", str(images), "--out", str(out), "--params", str(params)])
    assert res.exit_code == 0, res.output
    assert seen["kind"] == "synhoi" and seen["images"] == images
    with open_artifact(out, "proposals") as art:
        assert art.attrs["backend"] == "simulated" and art.attrs["simulation"]["seed"] == 7
        assert art.attrs["params"]["max_detections"] == 2
        assert str(ann) in json.dumps(art.attrs["input_hashes"])
        assert art.ragged("detections").lengths.max() <= 2


def test_run_detection_precomputed_applies_postprocessing(tmp_path, vocab):
    ds = HOIDataset("toy", "test", vocab, [rec("a.png", 30, 30, [], [], []), rec("b.png", 30, 30, [], [], [])])
    _dump(tmp_path / "a.json", {"boxes": [[0, 0, 10, 10], [1, 0, 10, 10], [0, 0, 10, 10], [5, 5, 9, 9]],
                                "scores": [0.9, 0.8, 0.7, 0.1], "labels": [1, 1, 2, 0]})
    props = run_detection(ds, "precomputed", {"dir": tmp_path, "label_space": "dataset"}, 0.2, 0.5, 100,
                          check_images=False)
    np.testing.assert_array_equal(props.detections[0].labels, [1, 2])  # NMS dropped 0.8, threshold 0.1
    assert len(props.detections[1]) == 0 and props.meta["max_detections"] == 100
    with pytest.raises(ConfigError, match=r"backend_params\['dir'\]"):
        run_detection(ds, "precomputed", {}, 0.2, 0.5, 100, check_images=False)
    with pytest.raises(ConfigError, match="backend"):
        run_detection(ds, "yolo", {}, 0.2, 0.5, 100, check_images=False)


def test_degenerate_and_outside_boxes_never_reach_the_artifact(tmp_path, vocab):
    """Imported detections are clipped to the image; boxes that are degenerate (x2 < x1), thinner
    than 1 px after clipping, or non-finite are dropped before the post-processing."""
    ds = HOIDataset("toy", "test", vocab, [rec("a.png", 30, 20, [], [], [])])
    _dump(tmp_path / "a.json", {"boxes": [[5, 5, 2, 9],          # x2 < x1
                                          [-10, -4, 12, 8],      # partly outside -> clipped
                                          [29.5, 3, 40, 9],      # 0.5 px wide after clipping
                                          [1, 1, 1e30, 5],       # huge -> clipped to the border
                                          [3, 3, 8, 8]],
                                "scores": [0.9, 0.8, 0.7, 0.6, 0.5], "labels": [1, 1, 2, 2, 0]})
    props = run_detection(ds, "precomputed", {"dir": tmp_path, "label_space": "dataset"}, 0.0, 1.0, 100,
                          check_images=False)
    d = props.detections[0]
    np.testing.assert_allclose(d.boxes, [[0, 0, 12, 8], [1, 1, 30, 5], [3, 3, 8, 8]])
    np.testing.assert_array_equal(d.labels, [1, 2, 0])
    assert props.meta["degenerate_dropped"] == 2


def test_open_proposals_validates_once_and_reads_lazily(tmp_path, vocab):
    from weakhoi.artifacts import ArtifactWriter
    from weakhoi.errors import ArtifactError

    def write(path, sizes, boxes, lengths, extra):
        with ArtifactWriter(path, "proposals", params={}, extra=extra) as w:
            w.write_strings("file_names", ["a.png", "b.png"])
            w.write_array("image_sizes", np.asarray(sizes, np.int64))
            w.write_ragged("detections", lengths, boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                           scores=np.full(sum(lengths), 0.5, np.float32),
                           labels=np.zeros(sum(lengths), np.int64))

    good = tmp_path / "good.h5"
    write(good, [[10, 20], [30, 40]], [[0, 0, 1, 1], [1, 1, 5, 5], [2, 2, 3, 3]], [1, 2],
          {"backend": "x", "person_label": 1})
    with open_proposals(good) as pf:
        assert len(pf) == 2 and pf.person_label == 1 and pf.backend == "x"
        np.testing.assert_array_equal(pf[1].boxes, [[1, 1, 5, 5], [2, 2, 3, 3]])
        assert len(pf[0]) == 1 and pf[0].labels.dtype == np.int64
    back = read_proposals(good)
    assert [len(d) for d in back.detections] == [1, 2] and back.image_sizes.tolist() == [[10, 20], [30, 40]]

    bad_size = tmp_path / "size.h5"
    write(bad_size, [[10, 20], [0, 40]], [[0, 0, 1, 1]], [1, 0], {"backend": "x"})
    with pytest.raises(DataError, match=r"size.h5: image 1 \(b.png\): size 0x40"):
        open_proposals(bad_size)
    no_person = tmp_path / "noperson.h5"
    write(no_person, [[10, 20], [30, 40]], [[0, 0, 1, 1]], [1, 0], {"backend": "x"})
    with open_proposals(no_person) as pf, pytest.raises(ArtifactError, match="person_label"):
        pf.person_label
    nan = tmp_path / "nan.h5"
    write(nan, [[10, 20], [30, 40]], [[0, 0, 1, 1], [0, 0, np.nan, 1]], [1, 1], {"backend": "x"})
    with open_proposals(nan) as pf:
        assert len(pf[0]) == 1                                  # image 0 is fine
        with pytest.raises(DataError, match=r"image 1 \(b.png\): non-finite"):
            pf[1]
    with pytest.raises(DataError, match=r"nan.h5: image 1 \(b.png\): non-finite"):
        read_proposals(nan)


def test_cli_missing_weights_names_the_params_key(tmp_path, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"detect": {"backend": "torchvision"}}))
    ann = tmp_path / "instances_test.json"
    ann.write_text("{}")
    out = tmp_path / "p.h5"
    res = CliRunner().invoke(app, ["detect", "--dataset", "hicodet", "--annotations", str(ann),
                                   "--images", str(tmp_path), "--out", str(out), "--params", str(params)])
    assert isinstance(res.exception, AssetMissingError)
    msg = str(res.exception)
    assert "hub/checkpoints/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth" in msg
    assert "detect.torchvision.weights" in msg and not out.exists()
