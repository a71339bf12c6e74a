"""Training: the data path (weak labels only, flip), the deterministic sampler, exact resume,
DataLoader workers, DDP, mixed precision and the `train` stage."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline_helpers import ROOT, run_cli, small_synhoi, train_args, write_params
from weakhoi.data.pairs import PairImages, hflip_boxes, load_image_pairs
from weakhoi.data.training import WeakTrainingSet
from weakhoi.engine.run import DataConfig, TrainInputs, build_training_set, problem_sizes
from weakhoi.engine.sampler import IterationBatchSampler, batch_keys
from weakhoi.engine.trainer import EngineConfig, Trainer
from weakhoi.errors import DataError
from weakhoi.losses import WeakHOICriterion
from weakhoi.model.config import BackboneConfig, LossConfig, ModelConfig
from weakhoi.spatial import spatial_encoding

IMAGE_SIZE = 64


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    return small_synhoi(tmp_path_factory.mktemp("train"), num_train=12, num_test=4)


def inputs_of(art) -> TrainInputs:
    return TrainInputs("synhoi", art["annotations_train"], art["images_train"],
                       art["proposals_train"], art["pairs_train"], art["bank"])


def make_parts(art, batchnorm: str = "frozen_stats", **engine):
    from weakhoi.clip import read_knowledge_bank
    from weakhoi.model.network import build_model

    inputs = inputs_of(art)
    ds, _, _ = build_training_set(inputs, DataConfig(IMAGE_SIZE, max_pairs=20, flip=True), seed=0)
    cfg = ModelConfig(**problem_sizes(inputs), backbone=BackboneConfig(batchnorm=batchnorm))
    kb = read_knowledge_bank(inputs.bank)
    net = build_model(cfg, kb.bank, torch.from_numpy(kb.hoi_verb), torch.from_numpy(kb.hoi_object))
    eng = EngineConfig(**{"iterations": 6, "batch_size": 2, "lr_backbone": 1e-4, "lr_head": 1e-3,
                          "milestones": (4,), "log_every": 2, "clip_grad_norm": 5.0, **engine})
    return net, WeakHOICriterion(LossConfig(src_warmup=2)), ds, eng


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- data path

def test_flip_mirrors_image_and_boxes_and_recomputes_the_encoding(art):
    pairs, info = load_image_pairs(art["proposals_train"], art["pairs_train"])
    images = PairImages(art["images_train"], pairs, IMAGE_SIZE, info["eps"])
    i = next(k for k, p in enumerate(pairs) if p.num_pairs >= 2)
    p = pairs[i]
    plain, flipped = images.sample(i, flip=False), images.sample(i, flip=True)
    mirrored = hflip_boxes(p.boxes, p.width)                                   # image frame
    expect = spatial_encoding(mirrored[p.human], mirrored[p.object], p.width, p.height, info["eps"])
    np.testing.assert_array_equal(flipped["spatial"].numpy(), expect)
    np.testing.assert_array_equal(plain["spatial"].numpy(), p.spatial)
    assert not np.array_equal(expect, p.spatial)                               # x-features moved
    sx, sy = flipped["scale"]
    np.testing.assert_allclose(flipped["boxes"].numpy(), mirrored * [sx, sy, sx, sy], rtol=1e-6)
    nw, nh = round(p.width * sx), round(p.height * sy)
    a = plain["image"][:, :nh, :nw].float()
    b = flipped["image"][:, :nh, :nw].flip(-1).float()
    assert (a - b).abs().mean() < 2.0                                          # same picture, mirrored
    assert max(nw, nh) == IMAGE_SIZE


def test_training_path_holds_no_box_annotation(art):
    """By structure: the training set is built from the weak view only, and nothing reachable
    from it is an annotation record or dataset."""
    from weakhoi.data.loaders import load_dataset
    from weakhoi.data.records import HOIDataset, ImageAnnotation

    ds, _, _ = build_training_set(inputs_of(art), DataConfig(IMAGE_SIZE), seed=0)
    seen, stack = set(), [ds]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, np.ndarray, torch.Tensor, Path)):
            continue
        seen.add(id(obj))
        assert not isinstance(obj, (HOIDataset, ImageAnnotation)), type(obj)
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set)):
            stack.extend(obj)
        elif dataclasses.is_dataclass(obj) or hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
    full = load_dataset("synhoi", art["annotations_train"], art["images_train"])
    with pytest.raises(TypeError, match="WeakLabelView"):
        WeakTrainingSet(full, ds.images)
    # what a sample carries as boxes are the detector's proposals, not the annotations
    sample = ds[(0, 0)]
    assert set(sample) >= {"hoi", "verb", "object_labels", "boxes"}
    assert sample["boxes"].shape[0] == len(ds.images.pairs[0].boxes)


def test_corrupt_and_missing_images_are_named(art, tmp_path):
    import shutil

    pairs, info = load_image_pairs(art["proposals_train"], art["pairs_train"])
    root = tmp_path / "images"
    shutil.copytree(art["images_train"], root)
    (root / pairs[0].file_name).write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / pairs[1].file_name).unlink()
    images = PairImages(root, pairs, IMAGE_SIZE, info["eps"])
    with pytest.raises(DataError, match=pairs[0].file_name):
        images.sample(0)
    with pytest.raises(DataError, match=f"missing image .*{pairs[1].file_name}"):
        images.sample(1)
    images.sample(2)                                                           # the rest still load


def test_pair_cap_keeps_the_highest_detection_products(art):
    full, _ = load_image_pairs(art["proposals_train"], art["pairs_train"])
    capped, _ = load_image_pairs(art["proposals_train"], art["pairs_train"], max_pairs=2)
    for f, c in zip(full, capped):
        assert c.num_pairs == min(2, f.num_pairs)
        if f.num_pairs > 2:
            prod = f.scores[f.human] * f.scores[f.object]
            kept = c.scores[c.human] * c.scores[c.object]
            assert kept.min() >= np.sort(prod)[-2] - 1e-7


# --------------------------------------------------------------------------- sampler

def test_sampler_is_a_function_of_seed_and_iteration_and_splits_across_ranks():
    a = list(IterationBatchSampler(10, 4, seed=3, start=0, stop=6))
    b = list(IterationBatchSampler(10, 4, seed=3, start=4, stop=6))
    assert a[4:] == b                                                          # resume mid-run
    assert sorted(i for _, i in sum(a[:3], [])[:10]) == list(range(10))         # epoch 0 is a permutation
    assert a != list(IterationBatchSampler(10, 4, seed=4, start=0, stop=6))
    for it in range(6):
        r0, r1 = batch_keys(3, it, 10, 4, 0, 2), batch_keys(3, it, 10, 4, 1, 2)
        assert r0 + r1 == a[it]


# --------------------------------------------------------------------------- engine

class CrashAt:
    """Dataset wrapper that dies the first time it is asked for iteration ``it``'s samples."""

    def __init__(self, ds, keys):
        self.ds, self.keys, self.armed = ds, set(keys), True

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, key):
        if self.armed and tuple(key) in self.keys:
            raise KeyboardInterrupt("simulated kill")
        return self.ds[key]


def test_kill_and_resume_gives_the_uninterrupted_weights_bit_for_bit(art, tmp_path):
    from weakhoi.engine.checkpoint import CheckpointDir

    net, crit, ds, eng = make_parts(art, checkpoint_every=2)
    full = Trainer(net, crit, ds, eng, checkpoints=CheckpointDir(tmp_path / "a", "k"), progress=False)
    result = full.fit()
    reference, history = net.state_dict(), result.history

    net2, crit2, ds2, _ = make_parts(art)
    ckpt = CheckpointDir(tmp_path / "b", "k")
    crash = CrashAt(ds2, batch_keys(eng.seed, 3, len(ds2), eng.batch_size))
    with pytest.raises(KeyboardInterrupt):
        Trainer(net2, crit2, crash, eng, checkpoints=ckpt, progress=False).fit()
    assert ckpt.latest()[0] == 2                                               # killed during it 3
    net3, crit3, ds3, _ = make_parts(art)                                      # a fresh process
    resumed = Trainer(net3, crit3, ds3, eng, checkpoints=ckpt, progress=False).fit()
    assert resumed.resumed_from == 2
    assert states_equal(net3.state_dict(), reference)
    assert resumed.history == history
    assert [r["step"] for r in history] == [2, 4, 6]
    assert history[-1]["lr_heads"] == pytest.approx(1e-4)                      # decayed at 4


def test_loader_workers_do_not_change_the_weights(art):
    net0, crit, ds, eng = make_parts(art, iterations=3)
    Trainer(net0, crit, ds, eng, progress=False).fit()
    net2, crit, ds, eng = make_parts(art, iterations=3, num_workers=2)
    Trainer(net2, crit, ds, eng, progress=False).fit()
    assert states_equal(net0.state_dict(), net2.state_dict())


def test_bf16_autocast_training_step_on_cpu(art):
    net, crit, ds, eng = make_parts(art, iterations=1, amp="bf16")
    trainer = Trainer(net, crit, ds, eng, progress=False)
    before = net.pair_embed.layers[0].weight.detach().clone()
    result = trainer.fit()
    assert np.isfinite(result.history[-1]["loss"])
    assert not torch.equal(before, net.pair_embed.layers[0].weight)
    assert net.pair_embed.layers[0].weight.dtype == torch.float32


def _ddp_worker(rank: int, world: int, port: int, art: dict, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from weakhoi.engine.dist import cleanup, init_distributed

    info = init_distributed("cpu")
    net, crit, ds, eng = make_parts(art, iterations=3)
    model = torch.nn.parallel.DistributedDataParallel(net, find_unused_parameters=True)
    Trainer(model, crit, ds, eng, dist=info, progress=False).fit()
    if rank == 0:
        torch.save(net.state_dict(), out)
    cleanup(info)


def test_two_process_ddp_equals_one_process_with_the_same_global_batch(art, tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(2, port, art, str(out)), nprocs=2, join=True)
    net, crit, ds, eng = make_parts(art, iterations=3)
    Trainer(net, crit, ds, eng, progress=False).fit()
    ddp = torch.load(out, weights_only=True)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(ddp[k], v, atol=2e-5, rtol=1e-4, msg=k)


# --------------------------------------------------------------------------- the stage

def _stage_params(tmp_path: Path, **train) -> Path:
    return write_params(tmp_path / "params.yaml", train={
        "iterations": 6, "batch_size": 2, "image_size": IMAGE_SIZE, "checkpoint_every": 2,
        "log_every": 2, "max_pairs": 16, "model": {"backbone": {"batchnorm": "frozen_stats"}},
        **train})


def test_train_stage_writes_model_and_curves_and_resumes_only_its_own_run(art, tmp_path):
    from weakhoi.artifacts import open_artifact
    from weakhoi.model.io import read_model_state

    params = _stage_params(tmp_path)
    out = tmp_path / "run"
    log = run_cli(*train_args(art, out, params))
    assert "wrote" in log and "resumed" not in log
    cfg, state, attrs = read_model_state(out / "model.h5")
    assert cfg.num_hois == 28 and cfg.backbone.batchnorm == "frozen_stats"
    with open_artifact(out / "model.h5", "model") as a:
        assert set(a.attrs["input_hashes"]) >= {Path(art["bank"]).as_posix(),
                                               Path(art["pairs_train"]).as_posix()}
        assert a.attrs["params"]["iterations"] == 6 and "gamma" not in a.attrs["params"]
    tsv = (out / "curves" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()
    assert tsv[0] == "step\tloss" and [r.split("\t")[0] for r in tsv[1:]] == ["2", "4", "6"]
    # same params again: the finished run's last checkpoint is resumed (no new iterations)
    again = run_cli(*train_args(art, tmp_path / "again", params, out / "ckpt"))
    assert "resumed at 6" in again
    _, state2, _ = read_model_state(tmp_path / "again" / "model.h5")
    assert states_equal(state, state2)
    # another learning rate: another run key, trained from scratch beside the first
    (tmp_path / "o").mkdir()
    other = _stage_params(tmp_path / "o", lr_head=3e-4)
    log = run_cli(*train_args(art, tmp_path / "other", other, out / "ckpt"))
    assert "resumed" not in log
    assert len([d for d in (out / "ckpt").iterdir() if d.is_dir()]) == 2


def test_train_stage_survives_sigkill(art, tmp_path):
    """A real SIGKILL of `weakhoi train` mid-run, then a re-run: same weights and curves as an
    uninterrupted run."""
    from weakhoi.model.io import read_model_state

    params = _stage_params(tmp_path, iterations=10)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "pipeline.cli", *[str(a) for a in train_args(art, tmp_path / "k", params)]]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt_root = tmp_path / "k" / "ckpt"
    deadline = time.time() + 240
    while time.time() < deadline and not list(ckpt_root.glob("*/ckpt-0000000[2-8].pt")):
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(ckpt_root.glob("*/ckpt-*.pt"))
    assert done and not done[-1].name.endswith("00000010.pt"), "the run finished before the kill"
    assert not (tmp_path / "k" / "model.h5").exists()
    log = run_cli(*train_args(art, tmp_path / "k", params))
    assert "resumed at" in log
    run_cli(*train_args(art, tmp_path / "ref", params))
    _, a, _ = read_model_state(tmp_path / "k" / "model.h5")
    _, b, _ = read_model_state(tmp_path / "ref" / "model.h5")
    assert states_equal(a, b)
    for f in (tmp_path / "ref" / "curves").rglob("*.tsv"):
        assert (tmp_path / "k" / "curves" / f.relative_to(tmp_path / "ref" / "curves")).read_bytes() == f.read_bytes()
