"""Byte-reproducible artifacts: running a stage twice on the same inputs writes the same bytes
(HDF5 and Zarr), whatever the time; run-dependent facts go to the run record instead."""
from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from weakhoi.artifacts import ArtifactWriter

ROOT = Path(__file__).resolve().parents[1]


def digest(path: Path) -> dict[str, str]:
    """sha256 of a file, or of every file below a directory."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {p.relative_to(path).as_posix() if p != path else "": hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files}


def run(*args) -> None:
    res = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output


def next_second() -> None:
    """Sleep past the next whole second: HDF5 object times have a resolution of one second."""
    time.sleep(1.05 - (time.time() % 1.0))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("repro")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synhoi"].update(num_train=12, num_test=4)
    params["train"].update(iterations=3, batch_size=2, image_size=64, log_every=1, checkpoint_every=0)
    params["train"]["model"]["backbone"]["batchnorm"] = "frozen_stats"
    params["encode"]["pretrained"] = "none"          # the workspace's CLIP prior is not an input here
    params["train"]["model"]["backbone"]["pretrained"] = "none"
    p = tmp / "params.yaml"
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    return tmp, p


STAGES = {
    # name: (output, arguments given the project dir and the output)
    "data": ("synhoi", lambda d, o: ["data", "--out-dir", o]),
    "detect.h5": ("proposals.h5", lambda d, o: [
        "detect", "--dataset", "synhoi", "--annotations", d / "synhoi" / "instances_train.json",
        "--images", d / "synhoi" / "images" / "train", "--out", o]),
    "detect.zarr": ("proposals.zarr", lambda d, o: [
        "detect", "--dataset", "synhoi", "--annotations", d / "synhoi" / "instances_train.json",
        "--images", d / "synhoi" / "images" / "train", "--out", o]),
    "encode.h5": ("knowledge_bank.h5", lambda d, o: [
        "encode", "--dataset", "synhoi", "--annotations", d / "synhoi" / "instances_train.json",
        "--out", o]),
    "encode.zarr": ("knowledge_bank.zarr", lambda d, o: [
        "encode", "--dataset", "synhoi", "--annotations", d / "synhoi" / "instances_train.json",
        "--out", o]),
    "spatial.zarr": ("pairs.zarr", lambda d, o: ["spatial", "--proposals", d / "proposals.h5", "--out", o]),
    "spatial.h5": ("pairs.h5", lambda d, o: ["spatial", "--proposals", d / "proposals.zarr", "--out", o]),
    # a fresh checkpoint root per call: the second run trains again instead of resuming
    "train": ("model.h5", lambda d, o: [
        "train", "--dataset", "synhoi", "--annotations", d / "synhoi" / "instances_train.json",
        "--images", d / "synhoi" / "images" / "train", "--proposals", d / "proposals.h5",
        "--pairs", d / "pairs.zarr", "--bank", d / "knowledge_bank.h5", "--out", o,
        "--curves", d / "curves", "--checkpoint-root", d / f"ckpt-{time.time_ns()}"]),
    "train.curves": ("curves", None),                               # written by `train` above
    "infer": ("scores.h5", lambda d, o: [
        "infer", "--dataset", "synhoi", "--annotations", d / "synhoi" / "instances_train.json",
        "--images", d / "synhoi" / "images" / "train", "--model", d / "model.h5",
        "--proposals", d / "proposals.h5", "--pairs", d / "pairs.zarr", "--out", o]),
    "evaluate": ("eval", lambda d, o: [
        "evaluate", "scores", "--scores", d / "scores.h5", "--dataset", "synhoi",
        "--annotations", d / "synhoi" / "instances_train.json",
        "--train-annotations", d / "synhoi" / "instances_train.json",
        "--metrics", o / "metrics.json", "--per-class", o / "per_class.json",
        "--plots-dir", o / "plots"]),
}


@pytest.fixture(scope="module")
def first_run(project) -> dict[str, dict[str, str]]:
    """Every stage run once (in pipeline order: later stages read earlier outputs): digests."""
    d, params = project
    first = {}
    for name, (out, argv) in STAGES.items():
        if argv is not None:
            run(*argv(d, d / out), "--params", params)
        first[name] = digest(d / out)
    return first


def test_each_stage_twice_writes_identical_bytes(project, first_run):
    """Issue 7 item 2: every stage (data, detect, encode, spatial, train with its curves, infer,
    evaluate), HDF5 and Zarr, run twice on
    the same inputs at different times: the same bytes, so the same dvc.lock hash."""
    d, params = project
    first = first_run
    next_second()
    for name, (out, argv) in STAGES.items():
        if argv is not None:                        # the same path: replaces its own output
            run(*argv(d, d / out), "--params", params)
        assert digest(d / out) == first[name], f"{name}: re-run changed the bytes"
    assert not [p.name for p in d.iterdir() if p.name.startswith(".")], "temp siblings left"


def test_hdf5_objects_carry_no_times(tmp_path):
    path = tmp_path / "a.h5"
    with ArtifactWriter(path, "pair_features", params={}) as w:
        w.write_strings("file_names", ["a"])
        w.write_array("deep/nested/x", np.arange(4))
        w.write_array("scalar", np.float64(1.0))
        w.write_ragged("det", [1], boxes=np.ones((1, 4), np.float32))
        w.ragged_appender("pairs", spatial=(np.float32, (36,))).append(spatial=np.ones((2, 36)))
    seen = []
    with h5py.File(path, "r") as f:
        def visit(name: str, _obj) -> None:
            oid = h5py.h5o.open(f.id, name.encode())
            info = h5py.h5o.get_info(oid)
            seen.append(name)
            # no time stored (a reopened object reports the default creation plist, so the
            # stored times are what tells)
            assert (info.ctime, info.mtime, info.atime, info.btime) == (0, 0, 0, 0), name
        f.visititems(visit)
        root = h5py.h5o.get_info(h5py.h5o.open(f.id, b"/"))
        assert (root.ctime, root.mtime) == (0, 0)
    assert {"deep", "deep/nested", "deep/nested/x", "det", "det/boxes", "pairs", "pairs/spatial"} <= set(seen)


def test_zarr_metadata_holds_nothing_run_dependent(tmp_path):
    path = tmp_path / "a.zarr"
    with ArtifactWriter(path, "pair_features", params={"eps": 1e-8}, extra={"person_label": 0}) as w:
        w.write_strings("file_names", ["a"])
        w.ragged_appender("pairs", spatial=(np.float32, (36,))).append(spatial=np.ones((2, 36)))
    text = " ".join(p.read_text() for p in path.rglob("zarr.json")).lower()
    for word in ("created", "utc", "time", "date", "commit", "host", "user", str(tmp_path).lower()):
        assert word not in text, word


def test_run_record_holds_the_run_facts(tmp_path, monkeypatch):
    from pipeline import runlog

    monkeypatch.delenv(runlog.RUN_LOG_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    out = Path("artifacts") / "x.h5"
    out.parent.mkdir()
    out.write_bytes(b"")
    runlog.mark_start()
    rec_path = runlog.record_run(out, "detect", {"images": 3})
    assert rec_path == Path("logs/runs/artifacts/x.h5.json")          # next to, not in, the output
    rec = json.loads(rec_path.read_text())
    assert rec["stage"] == "detect" and rec["output"] == str(out) and rec["images"] == 3
    assert rec["duration_s"] >= 0 and rec["finished_utc"] >= rec["started_utc"]
    for key in ("host", "pid", "command", "cwd", "weakhoi_version", "git_dirty"):
        assert key in rec
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0 and (ROOT / ".git").exists():
        assert rec["git_commit"] == head.stdout.strip()
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "logs/runs/x.json"])
    assert ignored.returncode == 0, "logs/ must be git-ignored"


def test_every_stage_writes_a_run_record(project, first_run, run_log_dir):
    d, _ = project
    for name, (out, argv) in STAGES.items():
        if argv is None:
            continue
        target = d / out / "metrics.json" if name == "evaluate" else d / out  # its main output
        rel = target.relative_to(target.anchor)
        rec = run_log_dir.joinpath(*rel.parts[:-1], rel.name + ".json")
        assert rec.is_file(), f"{name}: no run record at {rec}"
        assert json.loads(rec.read_text())["stage"] == name.split(".")[0]
