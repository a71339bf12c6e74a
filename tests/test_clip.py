"""weakhoi.clip: tiny config, model loading, prompt encoding, random / npy banks, missing assets."""
from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch

from weakhoi import clip
from weakhoi.errors import AssetMissingError, ConfigError, DataError
from weakhoi.vocab import Vocabulary, hicodet_vocabulary


@pytest.fixture(scope="module")
def tiny():
    return clip.load_clip(clip.TINY_MODEL, None, seed=0)


@pytest.fixture(scope="module")
def hico_bank(tiny):
    net, tok, _ = tiny
    prompts = clip.bank_prompts(hicodet_vocabulary())
    return prompts, clip.encode_prompts(net, tok, prompts)


# config registration -------------------------------------------------------------------------
def test_tiny_config_registered_idempotently(monkeypatch, tmp_path):
    """weakhoi's config directory is registered once, wherever the checkout and the venv live:
    with a clone at ~/weakhoi, open_clip's own config directory (in ~/weakhoi/.venv) has
    'weakhoi' in its path too, so the test compares directories, not words."""
    from open_clip import factory

    decoy = tmp_path / "weakhoi" / ".venv" / "lib" / "open_clip" / "model_configs"   # such a venv
    monkeypatch.setattr(factory, "_MODEL_CONFIG_PATHS", [decoy, *factory._MODEL_CONFIG_PATHS])
    clip.register_configs()
    clip.register_configs()
    assert clip.TINY_MODEL in open_clip.list_models()
    ours = clip._config_dir().resolve()
    assert sum(Path(p).resolve() == ours for p in factory._MODEL_CONFIG_PATHS) == 1
    cfg = open_clip.get_model_config(clip.TINY_MODEL)
    assert cfg["embed_dim"] == 128
    assert cfg["vision_cfg"]["layers"] == [1, 1, 1, 1]
    assert cfg["vision_cfg"]["width"] == 32 and cfg["vision_cfg"]["image_size"] == 128
    assert (cfg["text_cfg"]["width"], cfg["text_cfg"]["layers"], cfg["text_cfg"]["heads"]) == (128, 2, 2)
    assert (cfg["text_cfg"]["context_length"], cfg["text_cfg"]["vocab_size"]) == (77, 49408)
    assert clip.embed_dim("RN50") == 1024 and clip.embed_dim("RN101") == 512


def test_unknown_architecture_is_config_error():
    with pytest.raises(ConfigError, match="no-such-net"):
        clip.load_clip("no-such-net", None)


# loading ---------------------------------------------------------------------------------------
def test_tiny_builds_modified_resnet_and_runs(tiny):
    net, tok, info = tiny
    assert type(clip.visual_tower(net)).__name__ == "ModifiedResNet"
    assert hasattr(net.visual, "attnpool")
    assert not net.training
    assert info == {"architecture": clip.TINY_MODEL, "embed_dim": 128, "seed": 0, "pretrained": "random",
                    "random_init": True, "quick_gelu": False}
    with torch.no_grad():
        img = net.encode_image(torch.zeros(2, 3, 128, 128))          # [2, 128]
    assert img.shape == (2, 128)
    assert tok(["a person riding a bicycle"]).shape == (1, 77)


def test_rn50_builds_randomly_initialised():
    t0 = time.perf_counter()
    net, _, info = clip.load_clip("RN50", "none", seed=0)
    assert time.perf_counter() - t0 < 30
    assert info["random_init"] and info["pretrained"] == "random" and info["embed_dim"] == 1024
    assert type(net.visual).__name__ == "ModifiedResNet"
    assert [len(getattr(net.visual, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert net.visual.attnpool.c_proj.out_features == 1024


def test_random_init_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, _, _ = clip.load_clip(clip.TINY_MODEL, None, seed=5)
    b, _, _ = clip.load_clip(clip.TINY_MODEL, "none", seed=5)
    c, _, _ = clip.load_clip(clip.TINY_MODEL, None, seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["token_embedding.weight"], sc["token_embedding.weight"])


# prompts and encoding --------------------------------------------------------------------------
def test_hicodet_bank_prompts_and_rows(hico_bank):
    prompts, bank = hico_bank
    vocab = hicodet_vocabulary()
    assert len(prompts) == 600
    assert prompts == vocab.prompts()
    assert "a person riding a bicycle" in prompts
    assert "a person boarding an airplane" in prompts
    i = vocab.hoi_index(vocab.verbs.index("no_interaction"), vocab.objects.index("bicycle"))
    assert prompts[i] == "a person and a bicycle"
    assert bank.shape == (600, 128) and bank.dtype == torch.float32
    assert torch.allclose(bank.norm(dim=1), torch.ones(600), atol=1e-5)
    # distinct prompts give distinct rows
    assert torch.unique(bank, dim=0).shape[0] == 600


def test_encode_is_deterministic_and_batch_independent(tiny, hico_bank):
    net, tok, _ = tiny
    prompts, bank = hico_bank
    sub = prompts[:20]
    small = clip.encode_prompts(net, tok, sub, batch_size=7)
    assert torch.allclose(small, bank[:20], atol=1e-5)
    assert torch.equal(clip.encode_prompts(net, tok, sub, batch_size=7), small)
    with pytest.raises(ConfigError):
        clip.encode_prompts(net, tok, sub, batch_size=0)


def test_fresh_loads_same_seed_give_identical_bank(hico_bank):
    prompts, bank = hico_bank
    net, tok, _ = clip.load_clip(clip.TINY_MODEL, None, seed=0)
    again = clip.encode_prompts(net, tok, prompts[:50])
    assert torch.equal(again, bank[:50])
    net1, tok1, _ = clip.load_clip(clip.TINY_MODEL, None, seed=1)
    assert not torch.allclose(clip.encode_prompts(net1, tok1, prompts[:50]), bank[:50])


def _vcoco_like_vocab() -> Vocabulary:
    objects = ["person", "knife", "cake", "apple"]
    verbs = ["cut", "hold"]
    hois = [(0, 1), (0, 2), (1, 3)]                          # cut knife (instr), cut cake (obj), hold apple
    return Vocabulary.build("vcoco-like", objects, verbs, hois, hoi_roles=["instr", "obj", "obj"])


def test_vcoco_role_templates():
    vocab = _vcoco_like_vocab()
    assert clip.bank_prompts(vocab) == ["a person cutting with knife", "a person cutting a cake",
                                        "a person holding an apple"]
    assert clip.bank_prompts(vocab, vcoco_instr_template="{verb} using {object}")[0] == "cut using knife"
    bad = Vocabulary.build("bad", ["person", "knife"], ["cut"], [(0, 1)], hoi_roles=["agent"])
    with pytest.raises(DataError, match="'agent'"):
        clip.bank_prompts(bad)


# random and npy banks -------------------------------------------------------------------------
def test_random_bank():
    a = clip.random_bank(600, 128, seed=3)
    assert a.shape == (600, 128) and a.dtype == torch.float32
    assert torch.allclose(a.norm(dim=1), torch.ones(600), atol=1e-5)
    assert torch.equal(a, clip.random_bank(600, 128, seed=3))
    assert not torch.equal(a, clip.random_bank(600, 128, seed=4))
    # Gaussian directions in 128-d are nearly orthogonal: |cos| well below 0.5 on average
    cos = a @ a.T
    off = cos[~torch.eye(600, dtype=torch.bool)]
    assert off.abs().mean() < 0.15


def test_npy_bank_import(tmp_path):
    arr = np.array([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]], dtype=np.float64)
    p = tmp_path / "bank.npy"
    np.save(p, arr)
    bank = clip.load_npy_bank(p, num=3, dim=2)
    expected = torch.tensor([[0.6, 0.8], [0.0, 1.0], [1.0, 0.0]])
    assert bank.dtype == torch.float32 and torch.allclose(bank, expected)
    raw = clip.load_npy_bank(p, num=3, normalize=False)
    assert torch.allclose(raw, torch.tensor(arr, dtype=torch.float32))


def test_npy_bank_errors_name_the_file(tmp_path):
    p = tmp_path / "bank.npy"
    np.save(p, np.ones((3, 2), np.float32))
    with pytest.raises(DataError, match=r"bank\.npy.*\[3, 2\].*\[4, 2\]"):
        clip.load_npy_bank(p, num=4, dim=2)
    with pytest.raises(DataError, match="bank.npy"):
        clip.load_npy_bank(p, num=3, dim=5)
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="obj.npy"):
        clip.load_npy_bank(obj, num=1)
    zero = tmp_path / "zero.npy"
    np.save(zero, np.zeros((2, 2), np.float32))
    with pytest.raises(DataError, match="zero.npy"):
        clip.load_npy_bank(zero, num=2)
    with pytest.raises(AssetMissingError, match="missing.npy"):
        clip.load_npy_bank(tmp_path / "missing.npy", num=3)


def test_build_knowledge_bank_kinds(tmp_path):
    vocab = _vcoco_like_vocab()
    kb = clip.build_knowledge_bank(vocab, kind="random", seed=2)
    assert kb.bank.shape == (3, 128) and kb.attrs["random_init"] and kb.attrs["kind"] == "random"
    assert kb.prompts[0] == "a person cutting with knife" and kb.hoi_verb.tolist() == [0, 0, 1]
    assert kb.attrs["vcoco_instr_template"] == "a person {verb_phrase} with {object}"
    p = tmp_path / "b.npy"
    np.save(p, np.ones((3, 128), np.float32))
    kb = clip.build_knowledge_bank(vocab, kind="npy", npy_path=p)
    assert kb.inputs == [str(p)] and torch.allclose(kb.bank.norm(dim=1), torch.ones(3))
    np.save(p, np.ones((3, 768), np.float32))
    with pytest.raises(DataError, match="b.npy"):
        clip.build_knowledge_bank(vocab, kind="npy", npy_path=p)
    with pytest.raises(ConfigError, match="npy_path"):
        clip.build_knowledge_bank(vocab, kind="npy")
    with pytest.raises(ConfigError, match="roberta"):
        clip.build_knowledge_bank(vocab, kind="roberta")


# checkpoints and missing assets ----------------------------------------------------------------
def test_missing_tag_weights_fail_fast_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(AssetMissingError) as e:
        clip.load_clip("RN50", "openai", cache_dir=str(tmp_path))
    assert time.perf_counter() - t0 < 5
    msg = str(e.value)
    for part in ("'RN50'", "'openai'", str(tmp_path), "encode.pretrained", "local checkpoint"):
        assert part in msg


def test_missing_tag_weights_fail_fast_when_host_unreachable(monkeypatch, tmp_path):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "WEAKHOI_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(clip, "_host_reachable", lambda cfg: "huggingface.co unreachable (test)")
    called = []
    monkeypatch.setattr(open_clip, "create_model", lambda *a, **k: called.append(1))
    with pytest.raises(AssetMissingError, match="unreachable"):
        clip.load_clip("RN101", "openai", cache_dir=str(tmp_path))
    assert not called


def test_missing_local_checkpoint(tmp_path):
    p = tmp_path / "RN50.pt"
    with pytest.raises(AssetMissingError) as e:
        clip.load_clip("RN50", str(p))
    assert str(p) in str(e.value) and "encode.pretrained" in str(e.value)


def test_local_checkpoint_roundtrip(tmp_path, tiny, hico_bank):
    net, tok, _ = tiny
    prompts, bank = hico_bank
    p = tmp_path / "tiny.pt"
    torch.save(net.state_dict(), p)
    loaded, tok2, info = clip.load_clip(clip.TINY_MODEL, str(p), seed=123)  # seed must not matter
    assert info["pretrained"] == info["pretrained_file"] == str(p) and not info["random_init"]
    assert info["pretrained_sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    # same weights, same batch -> same bits (a different batch size may change the GEMM path)
    assert torch.equal(clip.encode_prompts(loaded, tok2, prompts[:10]),
                       clip.encode_prompts(net, tok, prompts[:10]))
    torch.testing.assert_close(clip.encode_prompts(loaded, tok2, prompts[:10]), bank[:10])


def test_local_safetensors_checkpoint(tmp_path, tiny, hico_bank):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    net, tok, _ = tiny
    prompts, bank = hico_bank
    p = tmp_path / "tiny.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(p))
    loaded, tok2, _ = clip.load_clip(clip.TINY_MODEL, str(p), seed=9)
    # same weights, same batch -> same bits (a different batch size may change the GEMM path)
    assert torch.equal(clip.encode_prompts(loaded, tok2, prompts[:10]),
                       clip.encode_prompts(net, tok, prompts[:10]))
    torch.testing.assert_close(clip.encode_prompts(loaded, tok2, prompts[:10]), bank[:10])


def test_torchscript_checkpoint_is_refused(tmp_path):
    p = tmp_path / "RN50.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(p))
    with pytest.raises(AssetMissingError, match="TorchScript"):
        clip.load_clip(clip.TINY_MODEL, str(p))


def test_incompatible_checkpoint_is_asset_error(tmp_path):
    p = tmp_path / "wrong.pt"
    torch.save({"foo": torch.zeros(3)}, p)
    with pytest.raises(AssetMissingError, match="wrong.pt"):
        clip.load_clip(clip.TINY_MODEL, str(p))


def test_tag_weights_found_in_cache_offline(monkeypatch, tmp_path, tiny, hico_bank):
    """A tag whose weights are already in the HF hub cache (or the URL cache) loads offline."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    net, _, _ = tiny
    prompts, bank = hico_bank
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # HF hub cache layout: models--org--name/refs/main + snapshots/<rev>/<file>
    repo = tmp_path / "hub" / "models--weakhoi--tiny-test"
    rev = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(rev)
    (repo / "snapshots" / rev).mkdir(parents=True)
    weights = repo / "snapshots" / rev / "open_clip_model.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    fake = {"hf_hub": "weakhoi/tiny-test/", "quick_gelu": False, "mean": (0.5, 0.5, 0.5)}
    monkeypatch.setattr(open_clip, "get_pretrained_cfg", lambda m, t: fake if t == "faketag" else {})
    loaded, tok, info = clip.load_clip(clip.TINY_MODEL, "faketag", seed=4, cache_dir=str(tmp_path / "hub"))
    assert info["pretrained"] == "faketag" and info["pretrained_file"] == str(weights)
    assert info["pretrained_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert torch.equal(clip.encode_prompts(loaded, tok, prompts[:5]), clip.encode_prompts(net, tok, prompts[:5]))
    torch.testing.assert_close(clip.encode_prompts(loaded, tok, prompts[:5]), bank[:5])
    # URL-style tag: <cache_dir>/<basename of the url>
    url_cache = tmp_path / "urlcache"
    url_cache.mkdir()
    torch.save(net.state_dict(), url_cache / "tiny.pt")
    fake_url = {"url": "https://example.invalid/weights/tiny.pt"}
    monkeypatch.setattr(open_clip, "get_pretrained_cfg", lambda m, t: fake_url)
    _, _, info = clip.load_clip(clip.TINY_MODEL, "urltag", cache_dir=str(url_cache))
    assert info["pretrained_file"] == str(url_cache / "tiny.pt")


@pytest.mark.parametrize("suffix", [".h5", ".zarr"])
def test_knowledge_bank_artifact_round_trip(tmp_path, suffix):
    vocab = _vcoco_like_vocab()
    kb = clip.build_knowledge_bank(vocab, kind="random", seed=5)
    ann = tmp_path / "ann.json"
    ann.write_text("{}")
    out = tmp_path / f"kb{suffix}"
    clip.write_knowledge_bank(out, kb, {"bank": "random", "seed": 5}, inputs=[ann],
                              extra={"dataset": "vcoco"})
    back = clip.read_knowledge_bank(out)
    assert torch.equal(back.bank, kb.bank) and back.bank.dtype == torch.float32
    assert back.prompts == kb.prompts == ["a person cutting with knife", "a person cutting a cake",
                                          "a person holding an apple"]
    np.testing.assert_array_equal(back.hoi_verb, [0, 0, 1])
    np.testing.assert_array_equal(back.hoi_object, [1, 2, 3])
    assert back.hoi_roles == ("instr", "obj", "obj")
    assert back.attrs == {**kb.attrs, "dataset": "vcoco"}
    assert back.inputs == [ann.as_posix()]
    # a HICO-DET-like bank has no roles entry
    kb2 = clip.build_knowledge_bank(hicodet_vocabulary(), kind="random", seed=1)
    clip.write_knowledge_bank(tmp_path / f"h{suffix}", kb2, {})
    back2 = clip.read_knowledge_bank(tmp_path / f"h{suffix}")
    assert back2.hoi_roles is None and back2.bank.shape == (600, 128) and back2.inputs == []


def test_local_checkpoint_is_hashed_once(tmp_path, monkeypatch):
    """load_clip hashes the checkpoint; writing the artifact reuses that digest for
    input_hashes instead of reading the (large) file again."""
    import weakhoi.artifacts.provenance as provenance

    net, _, _ = clip.load_clip(clip.TINY_MODEL, None, seed=1)
    ckpt = tmp_path / "tiny.pt"
    torch.save(net.state_dict(), ckpt)
    reads = []
    real = provenance._file_sha256
    monkeypatch.setattr(provenance, "_file_sha256", lambda p: reads.append(p) or real(p))
    kb = clip.build_knowledge_bank(_vcoco_like_vocab(), kind="clip", pretrained=str(ckpt))
    out = tmp_path / "kb.h5"
    clip.write_knowledge_bank(out, kb, {})
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert [str(p) for p in reads] == [str(ckpt)]                 # one read in all
    back = clip.read_knowledge_bank(out)
    assert back.attrs["pretrained_sha256"] == digest
    assert back.inputs == [ckpt.as_posix()]
    from weakhoi.artifacts import open_artifact
    with open_artifact(out, "knowledge_bank") as art:
        assert art.attrs["input_hashes"] == {ckpt.as_posix(): digest}
