"""End-to-end: the stage commands chained on a small SynHOI, failure behaviour, and DVC.

The chain runs through the real `weakhoi` CLI (typer app); the DVC test runs `dvc repro` in a
temporary copy of the project's pipeline definition.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from weakhoi.artifacts import open_artifact
from weakhoi.errors import ArtifactError

ROOT = Path(__file__).resolve().parents[1]
PROVENANCE_KEYS = ("artifact_type", "schema_version", "params", "params_hash", "weakhoi_version",
                   "input_hashes", "library_versions")


def shrink_pretrain(params: dict) -> None:
    """Fast `pretrain` settings (a few steps on a few captions) for pipeline tests."""
    params["pretrain"].update(steps=2, batch_size=8, warmup_steps=1, bn_recalibrate_batches=1, workers=1)
    params["pretrain"]["captions"].update(num=16)


def shrink_train(params: dict) -> None:
    """Fast `train` settings (a few iterations of small batches at low resolution)."""
    params["train"].update(iterations=2, batch_size=2, image_size=64, log_every=1, num_workers=0,
                           checkpoint_every=100)
    params["train"]["loss"].update(src_warmup=0)


def small_params(tmp: Path, num_train: int = 16, num_test: int = 6) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synhoi"].update(num_train=num_train, num_test=num_test)
    shrink_pretrain(params)
    params["encode"]["pretrained"] = str(tmp / "clip_prior" / "open_clip_model.safetensors")
    p = tmp / "params.yaml"
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    return p


def run(*args: str) -> None:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """data -> detect (train, test) -> pretrain -> encode -> spatial (train, test) on 16 + 6 images."""
    tmp = tmp_path_factory.mktemp("chain")
    params = small_params(tmp)
    data = tmp / "synhoi"
    run("data", "--out-dir", data, "--params", params)
    run("pretrain", "--dataset", "synhoi", "--out", tmp / "clip_prior", "--curves", tmp / "live", "--params", params)
    out = {}
    for split in ("train", "test"):
        ann, img = data / f"instances_{split}.json", data / "images" / split
        out[f"proposals_{split}"] = tmp / "proposals" / f"{split}.h5"
        out[f"pairs_{split}"] = tmp / "pairs" / f"{split}.zarr"
        run("detect", "--dataset", "synhoi", "--annotations", ann, "--images", img,
            "--out", out[f"proposals_{split}"], "--params", params)
        run("spatial", "--proposals", out[f"proposals_{split}"], "--out", out[f"pairs_{split}"],
            "--params", params)
    out["bank"] = tmp / "knowledge_bank.h5"
    run("encode", "--dataset", "synhoi", "--annotations", data / "instances_train.json",
        "--out", out["bank"], "--params", params)
    out["data"], out["params"] = data, params
    return out


def test_chain_artifacts_are_consistent(chain):
    from weakhoi.data.loaders import load_dataset

    ds = load_dataset("synhoi", chain["data"] / "instances_train.json", chain["data"] / "images" / "train")
    with open_artifact(chain["proposals_train"], "proposals") as props, \
            open_artifact(chain["pairs_train"], "pair_features") as pairs:
        assert props.strings("file_names") == ds.file_names == pairs.strings("file_names")
        det, pr = props.ragged("detections"), pairs.ragged("pairs")
        assert len(det) == len(pr) == 16
        person = props.attrs["person_label"]
        assert person == ds.vocab.person
        n_pairs = 0
        for i in range(len(det)):
            d, p = det[i], pr[i]
            n_pairs += len(p["human"])
            assert p["spatial"].shape == (len(p["human"]), 36)
            # every pair is (a person detection, another detection of the same image)
            assert (d["labels"][p["human"]] == person).all()
            assert (p["human"] != p["object"]).all()
            assert (p["object"] < len(d["labels"])).all()
        assert n_pairs > 0
    with open_artifact(chain["bank"], "knowledge_bank") as kb:
        bank = kb.array("bank")
        assert bank.shape == (ds.vocab.num_hois, 128)
        np.testing.assert_allclose(np.linalg.norm(bank, axis=1), 1.0, atol=1e-5)
        assert kb.strings("prompts") == ds.vocab.prompts()
        attrs = kb.attrs
    # the knowledge bank comes from the `pretrain` stage's CLIP prior and names it with its hash
    prior = chain["params"].parent / "clip_prior"
    ckpt_sha = json.loads((prior / "provenance.json").read_text())["checkpoint"]["sha256"]
    assert attrs["pretrained_file"] == str(prior / "open_clip_model.safetensors") and not attrs["random_init"]
    assert attrs["pretrained_sha256"] == ckpt_sha == attrs["input_hashes"][attrs["pretrained_file"]]


def test_every_artifact_carries_provenance(chain):
    for key, kind in (("proposals_train", "proposals"), ("proposals_test", "proposals"),
                      ("pairs_train", "pair_features"), ("pairs_test", "pair_features"),
                      ("bank", "knowledge_bank")):
        with open_artifact(chain[key], kind) as a:
            missing = [k for k in PROVENANCE_KEYS if k not in a.attrs]
            assert not missing, f"{key}: missing provenance {missing}"
            assert a.attrs["artifact_type"] == kind
            assert a.attrs["input_hashes"], f"{key}: no input hashes"


def test_failed_stage_leaves_nothing_the_next_stage_accepts(chain, tmp_path, monkeypatch):
    """An exception in the middle of `spatial` (after some images were written) leaves no
    artifact; the next reader refuses the path with a message naming it."""
    import weakhoi.spatial as spatial_lib

    calls = {"n": 0}
    real = spatial_lib.spatial_encoding

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt("killed")  # like Ctrl-C / SIGINT mid-stage
        return real(*a, **k)

    monkeypatch.setattr(spatial_lib, "spatial_encoding", dying)
    out = tmp_path / "pairs.zarr"
    result = CliRunner().invoke(app, ["spatial", "--proposals", str(chain["proposals_train"]),
                                      "--out", str(out), "--params", str(chain["params"])])
    assert result.exit_code != 0          # click turns the interrupt into "Aborted!", exit 1
    assert calls["n"] > 3
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp files left behind"
    with pytest.raises(ArtifactError, match="pairs.zarr"):
        open_artifact(out, "pair_features")


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["spatial"]["bogus_key"] = 1
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "spatial", "--proposals",
                        str(tmp_path / "missing.h5"), "--out", str(tmp_path / "o.zarr"), "--params", str(bad)],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and "bogus_key" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "detect", "--dataset", "synhoi",
                        "--annotations", str(tmp_path / "nope.json"), "--images", str(tmp_path),
                        "--out", str(tmp_path / "p.h5"),
                        "--params", str(ROOT / "params.yaml")],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 2 and "nope.json" in r.stderr and "Traceback" not in r.stderr


def test_help_lists_every_stage():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("data", "detect", "encode", "spatial", "evaluate"):
        assert name in result.output


@pytest.mark.slow
def test_dvc_repro_is_cached_and_param_changes_rerun_only_their_stage(tmp_path):
    """`dvc repro` twice: the second does nothing; a spatial.* change re-runs only spatial."""
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(ROOT / "dvc.yaml", proj / "dvc.yaml")
    shutil.copy(ROOT / ".dvcignore", proj / ".dvcignore")
    for d in ("pipeline", "weakhoi"):
        shutil.copytree(ROOT / d, proj / d, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synhoi"].update(num_train=12, num_test=4)
    shrink_pretrain(params)
    shrink_train(params)
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", PYTHONPATH=str(proj))
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # as on a user's machine: the stages write __pycache__

    def sh(*cmd: str) -> str:
        r = subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True)
        assert r.returncode == 0, f"{cmd}: {r.stdout}\n{r.stderr}"
        return r.stdout + r.stderr

    dvc = [sys.executable, "-m", "dvc"]
    sh("git", "init", "-q")
    sh(*dvc, "init", "-q")
    first = sh(*dvc, "repro")
    for stage in ("data", "detect@train", "detect@test", "pretrain", "encode", "spatial@train", "spatial@test",
                  "train", "infer", "evaluate"):
        assert f"Running stage '{stage}'" in first
    assert (proj / "artifacts" / "pairs" / "test.zarr").is_dir()
    assert list((proj / "weakhoi").rglob("__pycache__")), "the stages ran the copied code"
    second = sh(*dvc, "repro")
    assert "Running stage" not in second
    params["spatial"]["max_humans"] = 3
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = sh(*dvc, "repro")
    ran = sorted(line.split("'")[1] for line in third.splitlines() if line.startswith("Running stage"))
    assert ran == ["evaluate", "infer", "spatial@test", "spatial@train", "train"]   # and what reads pairs
    # a fusion switch (read by evaluate only) as a DVC experiment re-runs evaluate alone, and
    # the experiment carries its metrics (what `weakhoi tables render` reads: an uncached metrics
    # file that git ignores would be in no experiment commit)
    shutil.copy(ROOT / ".gitignore", proj / ".gitignore")
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "pipeline")
    fourth = sh(*dvc, "exp", "run", "--name", "no-relatedness", "-S", "evaluate.use_relatedness=false")
    assert [line.split("'")[1] for line in fourth.splitlines() if line.startswith("Running stage")] == ["evaluate"]
    from pipeline.experiments import load_experiments
    from pipeline.paper_tables import parse_exp_show

    metrics_file = load_experiments(ROOT / "pipeline" / "experiments.yaml").metrics_file
    shown = subprocess.run([*dvc, "exp", "show", "--json"], cwd=proj, env=env, capture_output=True, text=True,
                           check=True).stdout
    rec = parse_exp_show(json.loads(shown), metrics_file)["no-relatedness"]
    assert rec.state == "done" and rec.params["evaluate"]["use_relatedness"] is False
    assert rec.metrics["hicodet"]["default"]["full"] == json.loads((proj / metrics_file).read_text())[
        "hicodet"]["default"]["full"]
    # a change in shared library code re-runs the stages that import it (boxes: data, detect,
    # spatial; not encode)
    with (proj / "weakhoi" / "boxes.py").open("a") as f:
        f.write("\n# touched by the test\n")
    status = sh(*dvc, "status")
    for stage in ("data", "detect@train", "detect@test", "spatial@train", "spatial@test"):
        assert stage in status, status
    assert "encode" not in status
