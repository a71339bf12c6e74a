"""CLIP loading (open_clip), the tiny CLIP config, and the HOI knowledge bank W_T.

The knowledge bank (paper §3.2, METHOD.md §2) holds one text embedding per HOI class:
``W_T ∈ R^{N×D}``. This module builds it three ways:

* ``clip``: prompts ("a person riding a bicycle") through a CLIP text tower
  (:func:`load_clip` + :func:`encode_prompts`), rows L2-normalised.
* ``random``: L2-normalised Gaussian rows (paper Exp 9), :func:`random_bank`.
* ``npy``: any precomputed ``[N, D]`` float array from an ``.npy`` file, :func:`load_npy_bank`
  (paper Exp 10, RoBERTa; see below).

Models
------
Besides every architecture open_clip ships (``RN50``, ``RN101``, ``RN50-quickgelu``, ...),
importing this module registers the configs in ``weakhoi/model_configs/``: ``weakhoi-tiny-rn``
is a tiny ModifiedResNet CLIP (vision layers [1, 1, 1, 1], width 32, 128 px, embed dim 128;
text tower width 128, 2 layers, 2 heads, 77 tokens, 49408 vocabulary) for CPU tests and
offline development (METHOD.md §8). It has no pretrained weights: use ``pretrained=None``.

``pretrained`` is an open_clip tag (``'openai'``), a local checkpoint file, or ``None`` /
``'none'`` (random initialisation, seeded by ``seed``: the same seed gives the same weights).
Local checkpoints are state dicts (``.safetensors``, or ``.pt``/``.bin`` read with
``torch.load(weights_only=True)``); OpenAI's original TorchScript ``RN50.pt`` is not read (that
would need ``torch.jit.load``): use the safetensors file of the HF hub repo
``timm/resnet50_clip.openai`` (``open_clip_model.safetensors``), and the ``RN50-quickgelu``
architecture, since OpenAI's weights were trained with QuickGELU. For tags, QuickGELU is set
from the tag's config automatically.

RoBERTa knowledge bank (paper Exp 10)
-------------------------------------
weakhoi does not depend on ``transformers``. To reproduce Exp 10, produce the bank offline and
import it with ``encode.bank: npy``::

    from transformers import AutoTokenizer, AutoModel        # roberta-base, 768-d
    prompts = <the 'prompts' strings of a CLIP knowledge_bank artifact, or Vocabulary.prompts()>
    tok, enc = AutoTokenizer.from_pretrained("roberta-base"), AutoModel.from_pretrained("roberta-base")
    with torch.no_grad():
        batch = tok(prompts, padding=True, return_tensors="pt")
        h = enc(**batch).last_hidden_state                   # [N, L, 768]
        m = batch["attention_mask"][..., None].float()
        e = (h * m).sum(1) / m.sum(1)                        # [N, 768] mean over real tokens
    # the bank must have the CLIP embed dim D (1024 for RN50, 512 for RN101): a fixed random
    # projection, seeded and recorded, e.g.
    g = torch.Generator().manual_seed(0)
    P = torch.randn(768, D, generator=g) / D ** 0.5          # [768, D]
    np.save("roberta_bank.npy", (e @ P).numpy().astype(np.float32))   # [N, D], prompt order

Rows must follow the vocabulary's HOI class order; :func:`load_npy_bank` checks the shape,
reads with ``allow_pickle=False`` and L2-normalises the rows by default.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import urlparse

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import open_clip

from .artifacts import PROVENANCE_KEYS, ArtifactWriter, hash_path, open_artifact
from .errors import ArtifactError, AssetMissingError, ConfigError, DataError
from .vocab import DEFAULT_TEMPLATE, NO_INTERACTION_TEMPLATE, VCOCO_ROLE_TEMPLATES, Vocabulary

#: The tiny ModifiedResNet CLIP registered by this module.
TINY_MODEL = "weakhoi-tiny-rn"

_NONE_VALUES = (None, "", "none", "None", "random")
_PROBE_TIMEOUT_S = 5.0


# ------------------------------------------------------------------------------------------
# config registration
# ------------------------------------------------------------------------------------------
def _config_dir() -> Path:
    return Path(str(resources.files("weakhoi").joinpath("model_configs")))


def register_configs() -> list[str]:
    """Add ``weakhoi/model_configs/*.json`` to open_clip's registry (idempotent).

    Returns the names of weakhoi's architectures."""
    cfg_dir = _config_dir()
    names = sorted(p.stem for p in cfg_dir.glob("*.json"))
    if any(n not in open_clip.list_models() for n in names):
        open_clip.add_model_config(cfg_dir)
    return names


register_configs()


def model_config(model: str) -> dict[str, Any]:
    """open_clip config of architecture ``model``; ConfigError listing the choices if unknown."""
    register_configs()
    cfg = open_clip.get_model_config(model)
    if cfg is None:
        raise ConfigError(f"unknown CLIP architecture {model!r}; available: "
                          f"{', '.join(open_clip.list_models())}")
    return cfg


def embed_dim(model: str) -> int:
    """Joint embedding dimension D of architecture ``model`` (no model is built)."""
    return int(model_config(model)["embed_dim"])


# ------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------
def is_random_init(pretrained: str | os.PathLike | None) -> bool:
    return pretrained is None or (isinstance(pretrained, str) and pretrained.strip() in _NONE_VALUES)


def _offline() -> bool:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "WEAKHOI_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def _hf_cache_dir(cache_dir: str | None) -> str:
    if cache_dir:
        return cache_dir
    try:
        from huggingface_hub import constants
        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return os.path.expanduser("~/.cache/huggingface/hub")


def _cached_weights(tag_cfg: dict, cache_dir: str | None) -> str | None:
    """Local file of a tag's weights if open_clip already downloaded them, else None."""
    if tag_cfg.get("file"):
        return tag_cfg["file"] if os.path.isfile(tag_cfg["file"]) else None
    hub = tag_cfg.get("hf_hub", "")
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            repo_id, filename = os.path.split(hub)
            names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
            if filename.endswith((".bin", ".pth")):
                names.insert(0, filename[:-4] + ".safetensors")
            for name in names:
                found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
                if isinstance(found, str) and os.path.isfile(found):
                    return found
    url = tag_cfg.get("url", "")
    if url:
        target = os.path.join(cache_dir or os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        if os.path.isfile(target) and not _is_torchscript(target):
            return target
    return None


def _is_torchscript(path: str) -> bool:
    """True for a TorchScript archive (OpenAI's original .pt files), which we never load."""
    import zipfile
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/__torch__" in n for n in z.namelist())


def _host_reachable(tag_cfg: dict) -> str | None:
    """None if the download host answers quickly, else the reason (avoids long retries)."""
    host = "huggingface.co" if tag_cfg.get("hf_hub") else urlparse(tag_cfg.get("url", "")).hostname
    if not host:
        return "no download location"
    try:
        with socket.create_connection((host, 443), timeout=_PROBE_TIMEOUT_S):
            return None
    except OSError as e:
        return f"{host} unreachable ({e})"


def _missing_message(model: str, pretrained: str, reason: str, cache_dir: str | None) -> str:
    return (f"CLIP weights for model {model!r} with pretrained tag {pretrained!r} are not available: "
            f"{reason}. open_clip caches downloads in the Hugging Face hub cache "
            f"({_hf_cache_dir(cache_dir)}; set HF_HUB_CACHE or encode.cache_dir) or, for URL "
            f"weights, in {cache_dir or os.path.expanduser('~/.cache/clip')}. Download them on a "
            f"machine with network access, or pass a local checkpoint instead "
            f"(params.yaml: encode.pretrained: /path/to/{model}.safetensors; for OpenAI weights use "
            f"the safetensors of HF repo timm/resnet50_clip.openai with model RN50-quickgelu)")


def load_clip(model: str = TINY_MODEL, pretrained: str | os.PathLike | None = None,
              device: str | torch.device = "cpu", seed: int = 0, cache_dir: str | None = None,
              ) -> tuple[nn.Module, Any, dict[str, Any]]:
    """Build an open_clip CLIP model in eval mode.

    Args:
        model: open_clip architecture name (``RN50``, ``RN101``, ``weakhoi-tiny-rn``, ...).
        pretrained: open_clip tag, local checkpoint path, or None/'none' (random init).
        device: torch device.
        seed: seeds the random initialisation (also of layers a checkpoint does not cover).
        cache_dir: open_clip download cache (default: the HF hub cache / ~/.cache/clip).

    Returns:
        ``(model, tokenizer, info)``; ``info``: architecture, pretrained ('random', the tag or
        the path), pretrained_file + pretrained_sha256 (when the weights are a local or cached
        file), random_init, embed_dim, quick_gelu, seed.

    Raises:
        AssetMissingError: weights of a tag cannot be found or downloaded (fails fast when
            offline), or a checkpoint path does not exist.
        ConfigError: unknown architecture.
    """
    cfg = model_config(model)
    info: dict[str, Any] = {"architecture": model, "embed_dim": int(cfg["embed_dim"]), "seed": int(seed)}
    kwargs: dict[str, Any] = {"device": device, "cache_dir": cache_dir}
    checkpoint: str | None = None

    if is_random_init(pretrained):
        info.update(pretrained="random", random_init=True, quick_gelu=bool(cfg.get("quick_gelu", False)))
    else:
        pretrained = str(pretrained)
        tag_cfg = open_clip.get_pretrained_cfg(model, pretrained)
        if tag_cfg:
            quick = bool(tag_cfg.get("quick_gelu", False)) or bool(cfg.get("quick_gelu", False))
            kwargs["force_quick_gelu"] = quick
            kwargs["force_preprocess_cfg"] = {k: tag_cfg[k] for k in
                                              ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg}
            checkpoint = _cached_weights(tag_cfg, cache_dir)
            if checkpoint is None:
                reason = "offline (HF_HUB_OFFLINE/WEAKHOI_OFFLINE set) and not in the cache" if _offline() \
                    else _host_reachable(tag_cfg)
                if reason is not None:
                    raise AssetMissingError(_missing_message(model, pretrained, reason, cache_dir))
                checkpoint = pretrained    # let open_clip download it
            else:
                info.update(pretrained_file=checkpoint, pretrained_sha256=hash_path(checkpoint))
            info.update(pretrained=pretrained, random_init=False, quick_gelu=quick)
        else:
            path = Path(pretrained).expanduser()
            if not path.is_file():
                tags = open_clip.list_pretrained_tags_by_model(model)
                raise AssetMissingError(
                    f"CLIP checkpoint {path} for model {model!r} not found (and {pretrained!r} is not an "
                    f"open_clip tag of {model!r}; known tags: {', '.join(tags) or 'none'}). Set "
                    f"encode.pretrained to an existing checkpoint file (e.g. /path/to/{model}.safetensors), "
                    f"a known tag, or none for random initialisation")
            if _is_torchscript(str(path)):
                raise AssetMissingError(
                    f"{path} is a TorchScript archive (OpenAI's original format), which weakhoi does not "
                    f"load for safety; use the open_clip_model.safetensors of HF repo "
                    f"timm/resnet50_clip.openai (model RN50-quickgelu) or a plain state dict")
            checkpoint = str(path)
            info.update(pretrained=str(path), pretrained_file=str(path),
                        pretrained_sha256=hash_path(path), random_init=False,
                        quick_gelu=bool(cfg.get("quick_gelu", False)))

    with torch.random.fork_rng(devices=[]), _quiet_random_init_warning():
        torch.manual_seed(seed)
        try:
            net = open_clip.create_model(model, pretrained=checkpoint, weights_only=True, **kwargs)
        except AssetMissingError:
            raise
        except (RuntimeError, OSError, ValueError, KeyError) as e:
            if checkpoint is not None and not os.path.isfile(checkpoint):
                raise AssetMissingError(_missing_message(model, str(pretrained), str(e).splitlines()[0],
                                                         cache_dir)) from e
            if checkpoint is not None:
                raise AssetMissingError(f"cannot load CLIP checkpoint {checkpoint} into model {model!r}: "
                                        f"{str(e).splitlines()[0][:500]}") from e
            raise
    net.eval()
    tokenizer = open_clip.get_tokenizer(model)
    return net, tokenizer, info


@contextlib.contextmanager
def _quiet_random_init_warning() -> Iterator[None]:
    """Drop open_clip's root-logger warning 'No pretrained weights loaded ...': random init is
    requested explicitly here and recorded in the artifact (``random_init``)."""
    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not str(record.getMessage()).startswith("No pretrained weights loaded")

    root, flt = logging.getLogger(), _Drop()
    root.addFilter(flt)
    try:
        yield
    finally:
        root.removeFilter(flt)


def visual_tower(net: nn.Module) -> nn.Module:
    """The CLIP visual encoder (``ModifiedResNet`` for RN architectures, with ``attnpool``)."""
    vis = getattr(net, "visual", None)
    if vis is None:
        raise ConfigError(f"{type(net).__name__} has no visual tower")
    return vis


# ------------------------------------------------------------------------------------------
# prompts and banks
# ------------------------------------------------------------------------------------------
def bank_prompts(vocab: Vocabulary, template: str = DEFAULT_TEMPLATE,
                 no_interaction_template: str = NO_INTERACTION_TEMPLATE,
                 vcoco_obj_template: str = VCOCO_ROLE_TEMPLATES["obj"],
                 vcoco_instr_template: str = VCOCO_ROLE_TEMPLATES["instr"]) -> list[str]:
    """One prompt per HOI class of ``vocab`` (class order).

    Vocabularies with ``hoi_roles`` (V-COCO) use the role's template ('obj' / 'instr'), others
    :meth:`Vocabulary.prompts`. Placeholders: {verb}, {verb_phrase}, {object}, {article}."""
    return vocab.prompts(template, no_interaction_template,
                         {"obj": vcoco_obj_template, "instr": vcoco_instr_template})


@torch.no_grad()
def encode_prompts(net: nn.Module, tokenizer: Any, prompts: Sequence[str], batch_size: int = 64,
                   device: str | torch.device = "cpu", progress: bool | None = None) -> torch.Tensor:
    """``[N, D]`` float32 CLIP text embeddings of ``prompts``, rows L2-normalised (eval mode,
    no grad; deterministic on CPU)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    was_training = net.training
    net.eval()
    out = []
    starts = range(0, len(prompts), batch_size)
    # progress=None: a bar on a TTY when there is more than one batch (tqdm's disable=None)
    disable = (True if len(prompts) <= batch_size else None) if progress is None else not progress
    try:
        for s in tqdm(starts, desc="encode prompts", unit="batch", disable=disable):
            tokens = tokenizer(list(prompts[s:s + batch_size])).to(device)   # [B, 77]
            feats = net.encode_text(tokens).float()                           # [B, D]
            out.append(torch.nn.functional.normalize(feats, dim=-1).cpu())
    finally:
        net.train(was_training)
    if not out:
        proj = net.text_projection
        dim = proj.out_features if isinstance(proj, nn.Linear) else proj.shape[-1]
        return torch.zeros(0, int(dim), dtype=torch.float32)
    return torch.cat(out, 0)                                                  # [N, D]


def random_bank(num: int, dim: int, seed: int) -> torch.Tensor:
    """``[num, dim]`` float32 random knowledge bank (paper Exp 9): Gaussian rows, L2-normalised,
    from ``torch.Generator().manual_seed(seed)``."""
    if num < 0 or dim < 1:
        raise ConfigError(f"random bank needs num >= 0 and dim >= 1, got {num} x {dim}")
    g = torch.Generator().manual_seed(int(seed))
    w = torch.randn(num, dim, generator=g, dtype=torch.float32)               # [N, D]
    return torch.nn.functional.normalize(w, dim=-1)


def load_npy_bank(path: Path | str, num: int, dim: int | None = None, normalize: bool = True) -> torch.Tensor:
    """``[num, D]`` float32 bank from a precomputed ``.npy`` (``allow_pickle=False``).

    Raises AssetMissingError if the file is missing, DataError naming the file if it is not a
    finite 2-D numeric ``[num, dim]`` array."""
    path = Path(path)
    if not path.is_file():
        raise AssetMissingError(f"precomputed knowledge bank {path} not found (encode.npy_path); "
                                f"see weakhoi.clip's docstring for how to produce a RoBERTa bank")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable .npy array without pickles ({e})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise DataError(f"{path}: expected a numeric array, got {getattr(arr, 'dtype', type(arr))}")
    if arr.ndim != 2 or arr.shape[0] != num or (dim is not None and arr.shape[1] != dim):
        want = f"[{num}, {dim if dim is not None else 'D'}]"
        raise DataError(f"{path}: knowledge bank has shape {list(arr.shape)}, expected {want} "
                        f"(one row per HOI class of the vocabulary, embed dim of the model)")
    bank = torch.from_numpy(arr.astype(np.float32, copy=True))               # [N, D]
    if not torch.isfinite(bank).all():
        raise DataError(f"{path}: knowledge bank contains NaN or inf")
    if normalize:
        norms = bank.norm(dim=-1)
        if (norms == 0).any():
            raise DataError(f"{path}: row {int(torch.nonzero(norms == 0)[0])} is all zeros, cannot normalise")
        bank = bank / norms[:, None]
    return bank


# ------------------------------------------------------------------------------------------
# the knowledge bank as a whole
# ------------------------------------------------------------------------------------------
BANK_KINDS = ("clip", "random", "npy")


@dataclass
class KnowledgeBank:
    """W_T and what it was built from (the ``knowledge_bank`` artifact's content)."""

    bank: torch.Tensor          # [N, D] float32
    prompts: list[str]          # [N]
    hoi_verb: np.ndarray        # [N] int64
    hoi_object: np.ndarray      # [N] int64
    attrs: dict[str, Any]       # kind, model, pretrained, templates, embed_dim, random_init, ...
    inputs: list[str]           # local files it depends on (checkpoint, npy), for provenance
    hoi_roles: tuple[str, ...] | None = None   # [N] V-COCO role of each class, else None


def build_knowledge_bank(vocab: Vocabulary, kind: str = "clip", model: str = TINY_MODEL,
                         pretrained: str | None = None, template: str = DEFAULT_TEMPLATE,
                         no_interaction_template: str = NO_INTERACTION_TEMPLATE,
                         vcoco_obj_template: str = VCOCO_ROLE_TEMPLATES["obj"],
                         vcoco_instr_template: str = VCOCO_ROLE_TEMPLATES["instr"],
                         batch_size: int = 64, device: str = "cpu", seed: int = 0,
                         npy_path: Path | str | None = None, npy_normalize: bool = True,
                         cache_dir: str | None = None) -> KnowledgeBank:
    """W_T for ``vocab``: ``kind`` 'clip' (prompts through the CLIP text tower of ``model`` /
    ``pretrained``; random init seeded by ``seed``), 'random' (Exp 9, seeded Gaussian of the
    model's embed dim) or 'npy' (precomputed [N, D] from ``npy_path``, D = the model's embed
    dim so the bank plugs into s_g = W_T v_g)."""
    if kind not in BANK_KINDS:
        raise ConfigError(f"unknown knowledge bank kind {kind!r} (encode.bank); choose one of {BANK_KINDS}")
    prompts = bank_prompts(vocab, template, no_interaction_template, vcoco_obj_template, vcoco_instr_template)
    dim = embed_dim(model)
    attrs: dict[str, Any] = {"kind": kind, "model": model, "embed_dim": dim, "seed": int(seed),
                             "vocabulary": vocab.name, "num_hois": vocab.num_hois,
                             "template": template, "no_interaction_template": no_interaction_template}
    if vocab.hoi_roles is not None:
        attrs.update(vcoco_obj_template=vcoco_obj_template, vcoco_instr_template=vcoco_instr_template)
    inputs: list[str] = []
    if kind == "clip":
        net, tokenizer, info = load_clip(model, pretrained, device=device, seed=seed, cache_dir=cache_dir)
        bank = encode_prompts(net, tokenizer, prompts, batch_size=batch_size, device=device)
        attrs.update(pretrained=info["pretrained"], random_init=info["random_init"],
                     quick_gelu=info["quick_gelu"])
        if "pretrained_file" in info:
            attrs.update(pretrained_file=info["pretrained_file"], pretrained_sha256=info["pretrained_sha256"])
            inputs.append(info["pretrained_file"])
    elif kind == "random":
        bank = random_bank(vocab.num_hois, dim, seed)
        attrs.update(pretrained="none", random_init=True)
    else:
        if npy_path is None:
            raise ConfigError("encode.bank is 'npy' but encode.npy_path is not set")
        bank = load_npy_bank(npy_path, vocab.num_hois, dim, normalize=npy_normalize)
        attrs.update(pretrained="none", random_init=False, npy_path=str(npy_path),
                     npy_normalize=bool(npy_normalize))
        inputs.append(str(npy_path))
    return KnowledgeBank(bank, prompts, vocab.hoi_verb.astype(np.int64), vocab.hoi_object.astype(np.int64),
                         attrs, inputs, vocab.hoi_roles)


# ------------------------------------------------------------------------------------------
# the knowledge_bank artifact
# ------------------------------------------------------------------------------------------
def write_knowledge_bank(path: Path | str, bank: KnowledgeBank, params: Mapping[str, Any],
                         inputs: Sequence[Path | str] = (),
                         extra: Mapping[str, Any] | None = None) -> None:
    """Write ``bank`` as a ``knowledge_bank`` artifact (atomic; ``.h5`` or ``.zarr``).

    Entries: ``bank`` [N, D] float32, ``prompts`` [N], ``hoi_verb`` / ``hoi_object`` [N] int64,
    ``hoi_roles`` [N] (V-COCO only). Root attributes: provenance of ``params`` and of
    ``inputs`` + ``bank.inputs`` (e.g. the annotation file, then the checkpoint / npy), plus
    ``bank.attrs`` and ``extra``. A checkpoint ``load_clip`` already hashed
    (``attrs['pretrained_file']`` / ``attrs['pretrained_sha256']``) is not read again: its
    digest goes into ``input_hashes`` as is (a CLIP checkpoint is hundreds of MB).
    """
    known: dict[str, str] = {}
    if "pretrained_file" in bank.attrs and "pretrained_sha256" in bank.attrs:
        known[str(bank.attrs["pretrained_file"])] = str(bank.attrs["pretrained_sha256"])
    w = ArtifactWriter(path, "knowledge_bank", params=params,
                       inputs=[*inputs, *bank.inputs], extra={**bank.attrs, **(extra or {})},
                       known_hashes=known)
    with w:
        w.write_array("bank", bank.bank.detach().cpu().numpy().astype(np.float32, copy=False))  # [N, D]
        w.write_strings("prompts", list(bank.prompts))                                        # [N]
        w.write_array("hoi_verb", np.asarray(bank.hoi_verb, dtype=np.int64))                 # [N]
        w.write_array("hoi_object", np.asarray(bank.hoi_object, dtype=np.int64))             # [N]
        if bank.hoi_roles is not None:
            w.write_strings("hoi_roles", list(bank.hoi_roles))                                # [N]


def read_knowledge_bank(path: Path | str) -> KnowledgeBank:
    """Read a ``knowledge_bank`` artifact (see :func:`write_knowledge_bank`).

    ``attrs`` are the root attributes without the provenance keys; ``inputs`` the paths of
    its ``input_hashes``. ArtifactError naming the file if the entries disagree in length.
    """
    with open_artifact(path, "knowledge_bank") as art:
        bank = art.array("bank")                                   # [N, D]
        prompts = art.strings("prompts")                           # [N]
        hoi_verb = art.array("hoi_verb").astype(np.int64)          # [N]
        hoi_object = art.array("hoi_object").astype(np.int64)      # [N]
        roles = tuple(art.strings("hoi_roles")) if "hoi_roles" in art else None
        raw = dict(art.attrs)
    n = bank.shape[0] if bank.ndim == 2 else -1
    if n < 0 or len(prompts) != n or hoi_verb.shape != (n,) or hoi_object.shape != (n,) \
            or (roles is not None and len(roles) != n):
        raise ArtifactError(f"{path}: knowledge_bank entries disagree: bank {list(bank.shape)}, "
                            f"prompts {len(prompts)}, hoi_verb {list(hoi_verb.shape)}, hoi_object "
                            f"{list(hoi_object.shape)}" + (f", hoi_roles {len(roles)}" if roles else ""))
    attrs = {k: v for k, v in raw.items() if k not in PROVENANCE_KEYS}
    inputs = list(raw.get("input_hashes") or {})
    return KnowledgeBank(torch.from_numpy(np.ascontiguousarray(bank, dtype=np.float32)), prompts,
                         hoi_verb, hoi_object, attrs, inputs, roles)
