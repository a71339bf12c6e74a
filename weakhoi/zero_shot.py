"""Zero-shot image-level HOI recognition with a CLIP model (how much the prior already knows).

Each image is scored against every HOI class by the cosine between its CLIP image embedding
and the text embedding of the class prompt (:func:`weakhoi.clip.bank_prompts`, the same
prompts as the knowledge bank): ``s = normalize(f_I) @ W_T^T``. A class's AP ranks all images
by that score against the image-level labels (the image contains a pair of the class); the
mAP is over the classes with at least one positive image, also for the Rare and Non-Rare
classes separately. Chance level is the mean positive rate of those classes (a random ranking
has that expected precision).

Images are squashed to the model's square input (no crop: SynHOI's 128-160 px images keep
every object) with PIL's bilinear filter and normalised with the model's mean/std;
:func:`resize_images` and :func:`normalize` are also what the pretraining stage feeds the
model, so train and test see the same preprocessing.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .errors import ConfigError, DataError
from .eval.ap import precision_recall, voc_ap_allpoint
from .vocab import Vocabulary


def model_image_size(net: nn.Module) -> int:
    """Square input side of ``net``'s visual tower (128 for ``weakhoi-tiny-rn``)."""
    size = getattr(net.visual, "image_size", 224)
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def model_mean_std(net: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The normalisation ``(mean, std)`` of ``net`` (open_clip's preprocess config)."""
    import open_clip
    cfg = open_clip.get_model_preprocess_cfg(net)
    return (tuple(float(v) for v in cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),
            tuple(float(v) for v in cfg.get("std", open_clip.OPENAI_DATASET_STD)))


def resize_images(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """``[N, 3, size, size]`` uint8: each ``[H, W, 3]`` uint8 image squashed to the square with
    PIL's bilinear filter (antialiased when shrinking; fast and deterministic)."""
    from PIL import Image
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise DataError(f"image {i}: expected an [H, W, 3] uint8 array, got {img.shape} {img.dtype}")
        if img.shape[:2] == (size, size):
            out[i] = img
        else:
            out[i] = np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()         # [N, 3, S, S]


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``[B, 3, H, W]`` -> float32, scaled to [0, 1] and normalised per channel."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x.float() / 255.0 - m) / s


@torch.no_grad()
def encode_images(net: nn.Module, images: torch.Tensor, batch_size: int = 64,
                  progress: bool | None = False) -> torch.Tensor:
    """``[N, D]`` L2-normalised image embeddings of uint8 ``[N, 3, S, S]`` images (eval mode)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    mean, std = model_mean_std(net)
    was_training = net.training
    net.eval()
    out = []
    try:
        for s in tqdm(range(0, len(images), batch_size), desc="encode images", unit="batch",
                      disable=not progress if progress is not None else None):
            feats = net.encode_image(normalize(images[s:s + batch_size], mean, std))   # [B, D]
            out.append(F.normalize(feats.float(), dim=-1))
    finally:
        net.train(was_training)
    return torch.cat(out, 0) if out else torch.zeros(0, int(net.text_projection.shape[-1]))


def zero_shot_scores(net: nn.Module, tokenizer: Any, vocab: Vocabulary, images: torch.Tensor,
                     batch_size: int = 64) -> torch.Tensor:
    """``[N, num_hois]`` cosine between each image and each HOI class prompt."""
    from .clip import bank_prompts, encode_prompts
    bank = encode_prompts(net, tokenizer, bank_prompts(vocab), batch_size=batch_size)   # [C, D]
    return encode_images(net, images, batch_size) @ bank.T                           # [N, C]


def image_level_ap(scores: np.ndarray, labels: np.ndarray, vocab: Vocabulary) -> dict[str, Any]:
    """Per-class AP of ``scores`` [N, C] against multi-hot ``labels`` [N, C] (all-point AP,
    images ranked by score, ties in image order) and the means in percent.

    Returns ``map``, ``rare``, ``non_rare``, ``chance`` (mean positive rate), ``chance_rare``,
    ``chance_non_rare``, ``per_class`` ([C] AP fractions, NaN for classes without a positive
    image), ``num_classes`` / ``num_rare`` / ``num_non_rare`` (classes with positives)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels) > 0
    if scores.shape != labels.shape or scores.ndim != 2 or scores.shape[1] != vocab.num_hois:
        raise DataError(f"zero-shot scores {list(scores.shape)} and labels {list(labels.shape)} must both "
                        f"be [num_images, {vocab.num_hois}]")
    ap = np.full(vocab.num_hois, np.nan)
    for c in range(vocab.num_hois):
        npos = int(labels[:, c].sum())
        if npos == 0:
            continue
        order = np.argsort(-scores[:, c], kind="stable")
        tp = labels[order, c].astype(np.float64)
        rec, prec = precision_recall(tp, 1.0 - tp, npos)
        ap[c] = voc_ap_allpoint(rec, prec)
    rate = labels.mean(axis=0) if len(labels) else np.zeros(vocab.num_hois)
    has = ~np.isnan(ap)
    rare = np.asarray(vocab.rare, dtype=bool)

    def mean(x: np.ndarray, mask: np.ndarray) -> float:
        return float(100.0 * x[mask].mean()) if mask.any() else float("nan")

    return {"map": mean(ap, has), "rare": mean(ap, has & rare), "non_rare": mean(ap, has & ~rare),
            "chance": mean(rate, has), "chance_rare": mean(rate, has & rare),
            "chance_non_rare": mean(rate, has & ~rare), "per_class": ap.tolist(),
            "num_classes": int(has.sum()), "num_rare": int((has & rare).sum()),
            "num_non_rare": int((has & ~rare).sum())}


def evaluate_zero_shot(net: nn.Module, tokenizer: Any, vocab: Vocabulary, images: torch.Tensor,
                       labels: np.ndarray, batch_size: int = 64) -> dict[str, Any]:
    """:func:`image_level_ap` of :func:`zero_shot_scores` (uint8 ``images`` [N, 3, S, S],
    multi-hot ``labels`` [N, C])."""
    scores = zero_shot_scores(net, tokenizer, vocab, images, batch_size)
    return image_level_ap(scores.numpy(), labels, vocab)


def load_split_images(dataset: Any, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """``(images [N, 3, size, size] uint8, labels [N, C] multi-hot)`` of an :class:`HOIDataset`
    with an image root (its weak view's image-level labels)."""
    from PIL import Image
    weak = dataset.weak_view()
    arrays = []
    for i in range(len(weak)):
        with Image.open(weak.image_path(i)) as im:
            arrays.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    return resize_images(arrays, size), weak.hoi_matrix()
