"""The `encode` stage: params -> knowledge_bank artifact, through the typer command."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import typer
import yaml
from typer.testing import CliRunner

from pipeline import encode
from pipeline.params import params_hash
from weakhoi.artifacts import open_artifact
from weakhoi.errors import ConfigError
from weakhoi.vocab import hicodet_vocabulary

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(encode.command)
    return app


def _params(tmp_path: Path, **encode_cfg) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"encode": encode_cfg, "other": {"x": 1}}))
    return p


def _run(*args: str):
    return runner.invoke(_app(), list(args))


def test_help_lists_options():
    res = _run("--help")
    assert res.exit_code == 0
    for opt in ("--dataset", "--annotations", "--out", "--params"):
        assert opt in res.output


def test_clip_bank_artifact_hicodet_builtin(tmp_path):
    params = _params(tmp_path, bank="clip", model="weakhoi-tiny-rn", pretrained="none", seed=0,
                     batch_size=128)
    out = tmp_path / "artifacts" / "knowledge_bank.h5"
    res = _run("--dataset", "hicodet", "--out", str(out), "--params", str(params))
    assert res.exit_code == 0, res.output
    vocab = hicodet_vocabulary()
    with open_artifact(out, "knowledge_bank") as art:
        bank = art.array("bank")
        assert bank.shape == (600, 128) and bank.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(bank, axis=1), 1.0, atol=1e-5)
        prompts = art.strings("prompts")
        assert prompts == vocab.prompts() and "a person riding a bicycle" in prompts
        np.testing.assert_array_equal(art.array("hoi_verb"), vocab.hoi_verb)
        np.testing.assert_array_equal(art.array("hoi_object"), vocab.hoi_object)
        a = art.attrs
    assert a["kind"] == "clip" and a["model"] == "weakhoi-tiny-rn" and a["pretrained"] == "random"
    assert a["random_init"] is True or a["random_init"] == 1
    assert a["embed_dim"] == 128 and a["dataset"] == "hicodet" and a["num_hois"] == 600
    assert a["template"] == "a person {verb_phrase} {article} {object}"
    # provenance: the resolved params (defaults filled in) and their hash
    assert a["params"]["batch_size"] == 128 and a["params"]["template"] == a["template"]
    assert set(a["params"]) == set(encode.DEFAULTS)
    assert a["params_hash"] == params_hash(a["params"])
    from weakhoi.artifacts import PROVENANCE_KEYS
    for key in PROVENANCE_KEYS:
        assert key in a
    assert "git_commit" not in a and "created_utc" not in a    # run-dependent: run record
    assert a["input_hashes"] == {}


def test_same_seed_same_bank(tmp_path):
    outs = []
    for i, seed in enumerate((7, 7)):
        params = _params(tmp_path, bank="clip", seed=seed)
        out = tmp_path / f"kb{i}.h5"
        assert _run("--out", str(out), "--params", str(params)).exit_code == 0
        with open_artifact(out, "knowledge_bank") as art:
            outs.append(art.array("bank"))
    assert np.array_equal(outs[0], outs[1])      # other seeds differ: tests/test_clip.py


def test_random_bank_to_zarr(tmp_path):
    params = _params(tmp_path, bank="random", model="RN50", seed=1)
    out = tmp_path / "kb.zarr"
    res = _run("--out", str(out), "--params", str(params))
    assert res.exit_code == 0, res.output
    with open_artifact(out, "knowledge_bank") as art:
        bank = art.array("bank")
        assert bank.shape == (600, 1024)          # RN50's embed dim, without building RN50
        np.testing.assert_allclose(np.linalg.norm(bank, axis=1), 1.0, atol=1e-5)
        assert art.attrs["kind"] == "random" and art.attrs["seed"] == 1


def test_npy_bank_records_input_hash(tmp_path):
    arr = np.random.default_rng(0).normal(size=(600, 128)).astype(np.float32)
    npy = tmp_path / "roberta_bank.npy"
    np.save(npy, arr)
    params = _params(tmp_path, bank="npy", npy_path=str(npy))
    out = tmp_path / "kb.h5"
    res = _run("--out", str(out), "--params", str(params))
    assert res.exit_code == 0, res.output
    with open_artifact(out, "knowledge_bank") as art:
        np.testing.assert_allclose(art.array("bank"), arr / np.linalg.norm(arr, axis=1, keepdims=True),
                                   rtol=1e-5, atol=1e-6)
        hashes = art.attrs["input_hashes"]
    assert list(hashes.values()) == [hashlib.sha256(npy.read_bytes()).hexdigest()]
    assert art.attrs["npy_path"] == str(npy)


def test_local_checkpoint_is_a_provenance_input(tmp_path):
    import torch

    from weakhoi.clip import load_clip

    net, _, _ = load_clip("weakhoi-tiny-rn", None, seed=3)
    ckpt = tmp_path / "tiny.pt"
    torch.save(net.state_dict(), ckpt)
    out = tmp_path / "kb.h5"
    res = _run("--out", str(out), "--params", str(_params(tmp_path, pretrained=str(ckpt))))
    assert res.exit_code == 0, res.output
    with open_artifact(out, "knowledge_bank") as art:
        a = art.attrs
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert a["pretrained"] == str(ckpt) and a["pretrained_sha256"] == digest
    assert not a["random_init"]
    assert list(a["input_hashes"].values()) == [digest]


def test_with_hicodet_annotations(tmp_path, hicodet_test_json):
    pytest.importorskip("weakhoi.data.loaders")
    out = tmp_path / "kb.h5"
    res = _run("--dataset", "hicodet", "--annotations", str(hicodet_test_json), "--out", str(out),
               "--params", str(_params(tmp_path, bank="random")))
    assert res.exit_code == 0, res.output
    with open_artifact(out, "knowledge_bank") as art:
        assert art.strings("prompts") == hicodet_vocabulary().prompts()
        assert str(hicodet_test_json.as_posix()) in art.attrs["input_hashes"]


def test_with_vcoco_annotations(tmp_path, vcoco_dir):
    pytest.importorskip("weakhoi.data.loaders")
    ann = vcoco_dir / "instances_vcoco_test.json"
    out = tmp_path / "kb.h5"
    res = _run("--dataset", "vcoco", "--annotations", str(ann), "--out", str(out),
               "--params", str(_params(tmp_path, bank="random")))
    assert res.exit_code == 0, res.output
    with open_artifact(out, "knowledge_bank") as art:
        prompts, roles = art.strings("prompts"), art.strings("hoi_roles")
        assert art.attrs["vcoco_instr_template"] == "a person {verb_phrase} with {object}"
    assert "a person cutting with knife" in prompts and "a person cutting a cake" in prompts
    assert len(roles) == len(prompts) and set(roles) == {"obj", "instr"}
    from weakhoi.data.loaders import load_dataset
    vocab = load_dataset("vcoco", ann, require_sizes=False).vocab
    assert prompts == vocab.prompts()     # same strings as the vocabulary's V-COCO role templates


def test_bad_params_raise_config_errors(tmp_path):
    out = tmp_path / "kb.h5"
    res = _run("--out", str(out), "--params", str(_params(tmp_path, bank="clip", temperature=1)))
    assert isinstance(res.exception, ConfigError) and "encode.temperature" in str(res.exception)
    res = _run("--out", str(out), "--params", str(_params(tmp_path, bank="roberta")))
    assert isinstance(res.exception, ConfigError) and "roberta" in str(res.exception)
    res = _run("--out", str(out), "--params", str(_params(tmp_path, batch_size=0)))
    assert isinstance(res.exception, ConfigError) and "batch_size" in str(res.exception)
    res = _run("--dataset", "vcoco", "--out", str(out), "--params", str(_params(tmp_path)))
    assert isinstance(res.exception, ConfigError) and "--annotations" in str(res.exception)
    assert not out.exists()


def test_missing_weights_leave_no_artifact(tmp_path, monkeypatch):
    from weakhoi.errors import AssetMissingError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "kb.h5"
    res = _run("--out", str(out), "--params",
               str(_params(tmp_path, model="RN50", pretrained="openai", cache_dir=str(tmp_path / "c"))))
    assert isinstance(res.exception, AssetMissingError) and "encode.pretrained" in str(res.exception)
    assert not out.exists()


def test_resolve_config_defaults():
    cfg = encode.resolve_config({"pretrained": None})
    assert cfg["pretrained"] == "none" and cfg["bank"] == "clip" and cfg["model"] == "weakhoi-tiny-rn"
    with pytest.raises(ConfigError, match="encode.seed"):
        encode.resolve_config({"seed": "zero"})
    with pytest.raises(ConfigError, match="encode.batch_size"):
        encode.resolve_config({"batch_size": 0})
    with pytest.raises(ConfigError, match="unknown key.*encode.temperature"):
        encode.resolve_config({"temperature": 1})


def test_vocabulary_from_qpic_test_hico_json_without_sizes(tmp_path):
    """The PPDM/QPIC layout stores no image sizes; the vocabulary needs none (regression:
    only V-COCO was read size-free)."""
    import json

    ann = tmp_path / "test_hico.json"
    ann.write_text(json.dumps([{"file_name": "a.jpg",
                                "annotations": [{"bbox": [1, 1, 10, 10], "category_id": 1},
                                                {"bbox": [5, 5, 20, 20], "category_id": 2}],
                                "hoi_annotation": [{"subject_id": 0, "object_id": 1,
                                                    "category_id": 77}]}]))    # ride (verb 77)
    assert encode.vocabulary_for("hicodet", ann) is hicodet_vocabulary()
    out = tmp_path / "kb.h5"
    res = _run("--dataset", "hicodet", "--annotations", str(ann), "--out", str(out),
               "--params", str(_params(tmp_path, bank="random")))
    assert res.exit_code == 0, res.output
    with open_artifact(out, "knowledge_bank") as art:
        assert art.strings("prompts") == hicodet_vocabulary().prompts()
        assert list(art.attrs["input_hashes"]) == [ann.as_posix()]
