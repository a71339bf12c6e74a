"""Nothing is left behind by a kill (issue 7 item 4): a SIGKILLed stage leaves its PID-tagged
temp sibling, and the next run of the same output removes it; siblings of live writers and of
other outputs are never touched."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app

ROOT = Path(__file__).resolve().parents[1]
SIBLING = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-")


def siblings(directory: Path, name: str) -> list[Path]:
    """Hidden temp siblings of output ``name`` in ``directory`` (any naming scheme)."""
    return sorted(p for p in directory.iterdir() if (m := SIBLING.match(p.name)) and m["name"] == name)


def small_params(tmp: Path, **synhoi) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synhoi"].update(synhoi)
    params["encode"]["pretrained"] = "none"          # the workspace's CLIP prior may not exist
    params["train"]["model"]["backbone"]["pretrained"] = "none"
    p = tmp / f"params_{'_'.join(f'{k}{v}' for k, v in synhoi.items())}.yaml"
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    return p


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))


def kill_while_writing(proc: subprocess.Popen, directory: Path, name: str, ready, timeout=120) -> Path:
    """SIGKILL ``proc`` once its temp sibling for ``name`` satisfies ``ready``; return it."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        found = siblings(directory, name)
        if found and ready(found[0]):
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            return found[0]
        if proc.poll() is not None:
            pytest.fail(f"the stage finished before it could be killed: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no temp sibling of {name} appeared")


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_sigkill_data_then_rerun(tmp_path):
    """A real `weakhoi data` killed with SIGKILL while writing images: its temp directory (with
    the writer's PID) is left; the re-run removes it and writes the dataset."""
    out = tmp_path / "synhoi"
    proc = start("data", "--out-dir", out, "--params", small_params(tmp_path, num_train=600, num_test=10))
    left = kill_while_writing(proc, tmp_path, "synhoi",
                              lambda p: len(list((p / "images" / "train").glob("*.png"))) >= 5
                              if (p / "images" / "train").is_dir() else False)
    assert proc.returncode == -signal.SIGKILL
    assert left.is_dir() and not out.exists()                       # the litter a kill leaves
    tagged = f".tmp-{proc.pid}-" in left.name
    res = CliRunner().invoke(app, ["data", "--out-dir", str(out), "--params",
                                   str(small_params(tmp_path, num_train=4, num_test=2))])
    assert res.exit_code == 0, res.output
    assert siblings(tmp_path, "synhoi") == []
    assert (out / "instances_train.json").is_file()
    assert tagged, f"the temp {left.name} does not carry the writer's PID {proc.pid}"


@pytest.fixture(scope="module")
def big_proposals(tmp_path_factory) -> Path:
    """A `proposals` artifact large enough that `spatial` takes seconds (20k images)."""
    from weakhoi.data.synhoi import synhoi_vocabulary
    from weakhoi.detection import ImageDetections, Proposals, write_proposals

    vocab = synhoi_vocabulary()
    rng = np.random.default_rng(0)
    n, per = 20000, 16
    xy = rng.uniform(0, 100, (n, per, 2))
    wh = rng.uniform(5, 50, (n, per, 2))
    boxes = np.concatenate([xy, xy + wh], axis=2).astype(np.float32)
    labels = rng.integers(0, vocab.num_objects, (n, per))
    labels[:, :6] = vocab.person
    dets = [ImageDetections.from_arrays(boxes[i], rng.uniform(0.3, 1, per), labels[i]) for i in range(n)]
    props = Proposals([f"im{i}.png" for i in range(n)], np.full((n, 2), 160), dets, "simulated")
    path = tmp_path_factory.mktemp("big") / "proposals.h5"
    write_proposals(path, props, "synhoi", vocab, {"test": True})
    return path


def test_sigkill_spatial_then_rerun(tmp_path, big_proposals):
    """A real `weakhoi spatial` killed while it streams pairs into its Zarr temp: left behind,
    then removed by the next run of the same output."""
    out = tmp_path / "pairs.zarr"
    params = small_params(tmp_path, num_train=4)
    proc = start("spatial", "--proposals", big_proposals, "--out", out, "--params", params)
    left = kill_while_writing(proc, tmp_path, "pairs.zarr",
                              lambda p: (p / "pairs" / "spatial").is_dir()
                              and len(list((p / "pairs" / "spatial").rglob("*"))) > 3)
    assert left.is_dir() and not out.exists()
    tagged = f".tmp-{proc.pid}-" in left.name
    small = tmp_path / "small.h5"
    from weakhoi.artifacts import ArtifactWriter  # a 2-image proposals artifact for the re-run
    with ArtifactWriter(small, "proposals", params={}, extra={"person_label": 0}) as w:
        w.write_strings("file_names", ["a.png", "b.png"])
        w.write_array("image_sizes", np.full((2, 2), 50, np.int64))
        w.write_ragged("detections", [2, 0], boxes=np.array([[0, 0, 9, 9], [5, 5, 20, 20]], np.float32),
                       scores=np.ones(2, np.float32), labels=np.array([0, 1]))
    res = CliRunner().invoke(app, ["spatial", "--proposals", str(small), "--out", str(out),
                                   "--params", str(params)])
    assert res.exit_code == 0, res.output
    assert siblings(tmp_path, "pairs.zarr") == [] and out.is_dir()
    assert tagged, f"the temp {left.name} does not carry the writer's PID {proc.pid}"


@pytest.fixture(scope="module")
def stage_inputs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("stages")
    params = small_params(tmp, num_train=4, num_test=2)
    data = tmp / "synhoi"
    assert CliRunner().invoke(app, ["data", "--out-dir", str(data), "--params", str(params)]).exit_code == 0
    props = tmp / "proposals.h5"
    res = CliRunner().invoke(app, ["detect", "--dataset", "synhoi", "--annotations",
                                   str(data / "instances_train.json"), "--images",
                                   str(data / "images" / "train"), "--out", str(props),
                                   "--params", str(params)])
    assert res.exit_code == 0, res.output
    pairs, bank = tmp / "pairs.zarr", tmp / "kb.h5"
    for args in (["spatial", "--proposals", str(props), "--out", str(pairs)],
                 ["encode", "--dataset", "synhoi", "--annotations", str(data / "instances_train.json"),
                  "--out", str(bank)]):
        res = CliRunner().invoke(app, [*args, "--params", str(params)])
        assert res.exit_code == 0, res.output
    return {"params": params, "data": data, "proposals": props, "pairs": pairs, "bank": bank}


@pytest.mark.parametrize("stage", ["data", "detect", "encode", "spatial"])
def test_every_stage_removes_stale_siblings_of_its_output_only(stage, stage_inputs, tmp_path):
    """The leftovers of a dead writer of the same output (a temp, a previous output moved
    aside) are removed when the stage writes that output again; a live writer's temp and a dead
    writer's temp of another output are kept."""
    s = stage_inputs
    out = {"data": tmp_path / "ds", "detect": tmp_path / "p.h5", "encode": tmp_path / "kb.h5",
           "spatial": tmp_path / "pairs.zarr"}[stage]
    args = {"data": ["data", "--out-dir", out],
            "detect": ["detect", "--dataset", "synhoi", "--annotations", s["data"] / "instances_train.json",
                       "--images", s["data"] / "images" / "train", "--out", out],
            "encode": ["encode", "--dataset", "synhoi", "--annotations", s["data"] / "instances_train.json",
                       "--out", out],
            "spatial": ["spatial", "--proposals", s["proposals"], "--out", out]}[stage]
    previous = {"data": s["data"], "detect": s["proposals"], "encode": s["bank"], "spatial": s["pairs"]}[stage]
    (shutil.copytree if previous.is_dir() else shutil.copy)(previous, out)   # an earlier output
    dead = dead_pid()
    stale_tmp = tmp_path / f".{out.name}.tmp-{dead}-0badc0de"
    stale_old = tmp_path / f".{out.name}.old-{dead}-0badc0df"
    stale_tmp.mkdir()
    (stale_tmp / "half.bin").write_bytes(b"\0" * 1000)
    stale_old.write_bytes(b"old")
    live = tmp_path / f".{out.name}.tmp-{os.getpid()}-1ive1ive"     # a live writer: this process
    live.write_bytes(b"being written")
    other = tmp_path / f".other.h5.tmp-{dead}-0badc0de"             # another output's leftover
    other.write_bytes(b"x")
    res = CliRunner().invoke(app, [*map(str, args), "--params", str(s["params"])])
    assert res.exit_code == 0, res.output
    assert not stale_tmp.exists() and not stale_old.exists()
    assert live.read_bytes() == b"being written" and other.exists()
    assert out.exists()


def test_old_sibling_is_restored_when_the_output_is_missing(tmp_path):
    """A kill between the two renames of a directory swap leaves the previous output only as
    `.old-`: the next writer puts it back before deciding what to replace."""
    from weakhoi.artifacts import atomic_output, directory_kind

    out = tmp_path / "d"
    old = tmp_path / f".d.old-{dead_pid()}-00000001"
    with atomic_output(old, directory_kind("x")) as tmp:           # a previous output of ours
        tmp.mkdir()
        (tmp / "f.txt").write_text("previous")
    seen = []
    with atomic_output(out, directory_kind("x")) as tmp:
        seen.append((out / "f.txt").read_text())
        tmp.mkdir()
        (tmp / "f.txt").write_text("new")
    assert seen == ["previous"] and (out / "f.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
