"""The training loop (detectron2's ``train(start_iter, max_iter)`` / pocket's engine shape).

One :class:`Trainer` runs iterations ``start .. iterations - 1`` of an iteration-based schedule:
AdamW with a backbone and a head parameter group, step decay at ``milestones`` (optionally a
linear warm-up), gradient clipping, AMP on CUDA (bf16 or fp16 with a GradScaler; bf16 also on
CPU), DDP when launched by torchrun, an exact resume from the latest checkpoint, and the
training curves (every ``log_every`` iterations, the mean of each loss term over the interval,
and the learning rates) kept as a history inside the checkpoint.

Exactness: the sample order and every sample's augmentation are functions of (seed, epoch,
index) (:mod:`weakhoi.engine.sampler`, :mod:`weakhoi.data.training`); the schedule is a function
of the iteration; the checkpoint holds weights, optimizer, scaler, RNG states, the log history
and the partial log interval. So a run killed after iteration k and resumed gives the weights
and curves of an uninterrupted run, bit for bit on CPU.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..data.pairs import collate_pairs, model_inputs
from ..errors import ConfigError, WeakHOIError
from .checkpoint import CheckpointDir
from .dist import DistInfo, reduce_mean
from .sampler import IterationBatchSampler

AMP_MODES = ("none", "bf16", "fp16")


class NonFiniteLossError(WeakHOIError):
    """The loss became NaN or infinite (training stops instead of writing a broken model)."""


@dataclass(frozen=True)
class EngineConfig:
    """Schedule and engine settings (paper §4.2: AdamW, lr 1e-5 backbone / 1e-4 rest, 60K
    iterations of batch 24, lr / 10 at 12K and 24K)."""

    iterations: int
    batch_size: int                     # global batch (split across DDP ranks)
    lr_backbone: float = 1e-5
    lr_head: float = 1e-4
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = ()
    lr_decay: float = 0.1
    lr_warmup: int = 0                  # linear warm-up iterations (0: none)
    clip_grad_norm: float = 0.0         # 0: no clipping
    amp: str = "none"                   # none | bf16 | fp16 (fp16 only on CUDA)
    checkpoint_every: int = 0           # 0: only at the end
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0
    pin_memory: bool = False

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.batch_size < 1:
            raise ConfigError("iterations and batch_size must be >= 1")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"amp must be one of {', '.join(AMP_MODES)}; got {self.amp!r}")
        if self.log_every < 1:
            raise ConfigError("log_every must be >= 1")
        if list(self.milestones) != sorted(self.milestones):
            raise ConfigError(f"milestones must be increasing, got {list(self.milestones)}")

    def lr_factor(self, iteration: int) -> float:
        """Multiplier of the base learning rates at ``iteration`` (0-based)."""
        f = self.lr_decay ** sum(1 for m in self.milestones if iteration >= m)
        if self.lr_warmup > 0 and iteration < self.lr_warmup:
            f *= (iteration + 1) / self.lr_warmup
        return f


@dataclass
class TrainResult:
    history: list[dict[str, Any]]
    timing: list[dict[str, Any]]
    iterations: int
    resumed_from: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def build_optimizer(model: nn.Module, cfg: EngineConfig) -> torch.optim.Optimizer:
    """AdamW with two groups: ``backbone`` (lr_backbone) and ``heads`` (lr_head, bank included)."""
    net = unwrap(model)
    groups = [{"params": net.backbone_parameters(), "lr": cfg.lr_backbone, "name": "backbone"},
              {"params": net.head_parameters(), "lr": cfg.lr_head, "name": "heads"}]
    groups = [g for g in groups if g["params"]]
    for g in groups:
        g["base_lr"] = g["lr"]
    return torch.optim.AdamW(groups, lr=cfg.lr_head, weight_decay=cfg.weight_decay)


def batch_targets(batch: Mapping[str, Any], device: torch.device | str) -> dict[str, torch.Tensor]:
    """Loss targets of a collated training batch: image labels and each pair's object class."""
    return {"hoi": batch["hoi"].to(device), "verb": batch["verb"].to(device),
            "object": batch["object_labels"].to(device),
            "pair_object": batch["labels"][batch["object"]].to(device)}


class Trainer:
    """Runs the schedule of ``cfg`` on ``model`` with ``criterion`` over ``dataset``.

    Args:
        model: the network (DDP-wrapped by the caller when distributed).
        criterion: ``criterion(outputs, targets, iteration) -> dict`` with ``loss``.
        dataset: ``dataset[(epoch, index)] -> sample`` (e.g. WeakTrainingSet).
        cfg: schedule and engine settings.
        device: where the model is.
        checkpoints: where to save / resume (None: no checkpoints).
        dist: rank info.
        on_log: called on rank 0 after each logging step with (history, timing), e.g. to
            rewrite the curve files.
    """

    def __init__(self, model: nn.Module, criterion: nn.Module, dataset: Any, cfg: EngineConfig,
                 device: torch.device | str = "cpu", checkpoints: CheckpointDir | None = None,
                 dist: DistInfo = DistInfo(),
                 on_log: Callable[[list, list], None] | None = None, progress: bool = True) -> None:
        self.model, self.criterion, self.dataset, self.cfg = model, criterion, dataset, cfg
        self.device = torch.device(device)
        self.checkpoints, self.dist, self.on_log, self.progress = checkpoints, dist, on_log, progress
        if cfg.amp == "fp16" and self.device.type != "cuda":
            raise ConfigError("amp fp16 needs a CUDA device (use bf16 on CPU)")
        self.optimizer = build_optimizer(model, cfg)
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16")
        self.history: list[dict[str, Any]] = []
        self.timing: list[dict[str, Any]] = []
        self._acc: dict[str, float] = {}
        self._acc_n = 0

    # ------------------------------------------------------------------ state
    def state_dict(self, iteration: int) -> dict[str, Any]:
        return {"iteration": int(iteration), "model": unwrap(self.model).state_dict(),
                "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                "rng_cpu": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "history": list(self.history), "accumulator": dict(self._acc),
                "accumulator_n": int(self._acc_n)}

    def load_state_dict(self, state: Mapping[str, Any]) -> int:
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng_cpu"])
        if state.get("rng_cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self.history = [dict(r) for r in state["history"]]
        self._acc = {k: float(v) for k, v in state["accumulator"].items()}
        self._acc_n = int(state["accumulator_n"])
        return int(state["iteration"])

    # ------------------------------------------------------------------ loop
    def _set_lr(self, iteration: int) -> None:
        f = self.cfg.lr_factor(iteration)
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * f

    def _loader(self, start: int) -> torch.utils.data.DataLoader:
        sampler = IterationBatchSampler(len(self.dataset), self.cfg.batch_size, self.cfg.seed,
                                        start, self.cfg.iterations, self.dist.rank,
                                        self.dist.world_size)
        return torch.utils.data.DataLoader(
            self.dataset, batch_sampler=sampler, collate_fn=collate_pairs,
            num_workers=self.cfg.num_workers, pin_memory=self.cfg.pin_memory and self.device.type == "cuda",
            persistent_workers=False)

    def step(self, batch: Mapping[str, Any], iteration: int) -> dict[str, float]:
        """One optimisation step on ``batch``; returns the loss terms as floats."""
        self.model.train()
        self._set_lr(iteration)
        inputs = model_inputs(dict(batch), self.device, non_blocking=True)
        targets = batch_targets(batch, self.device)
        amp = self.cfg.amp != "none"
        dtype = torch.bfloat16 if self.cfg.amp == "bf16" else torch.float16
        with torch.autocast(self.device.type, dtype=dtype, enabled=amp):
            outputs = self.model(**inputs)
            losses = self.criterion(outputs, targets, iteration)
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite loss at iteration {iteration}: "
                + ", ".join(f"{k}={float(v):.4g}" for k, v in losses.items())
                + " (lower the learning rates or enable train.clip_grad_norm)")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.clip_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(unwrap(self.model).parameters(), self.cfg.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return {k: float(v.detach()) for k, v in losses.items()}

    def _accumulate(self, values: Mapping[str, float]) -> None:
        for k, v in values.items():
            self._acc[k] = self._acc.get(k, 0.0) + v
        self._acc_n += 1

    def _flush_log(self, step: int, seconds: float, iters: int) -> None:
        means = {k: v / self._acc_n for k, v in self._acc.items()}
        means = reduce_mean(means, self.dist, self.device)
        row: dict[str, Any] = {"step": int(step), **{k: means[k] for k in sorted(means)}}
        for g in self.optimizer.param_groups:
            row[f"lr_{g['name']}"] = float(g["lr"])
        self.history.append(row)
        if iters and seconds > 0:
            self.timing.append({"step": int(step), "it_per_s": iters / seconds,
                                "samples_per_s": iters * self.cfg.batch_size / seconds})
        self._acc, self._acc_n = {}, 0
        if self.on_log is not None and self.dist.is_main:
            self.on_log(self.history, self.timing)

    def fit(self) -> TrainResult:
        """Train from the latest checkpoint (or from scratch) to ``cfg.iterations``."""
        start = 0
        if self.checkpoints is not None:
            found = self.checkpoints.latest()
            if found is not None:
                start = self.load_state_dict(found[1])
        cfg = self.cfg
        from tqdm import tqdm

        bar = tqdm(total=cfg.iterations, initial=start, desc="train", unit="it",
                   disable=(not self.progress or not self.dist.is_main) or None, dynamic_ncols=True)
        t0, done_since = time.perf_counter(), 0
        it = start
        try:
            for it, batch in enumerate(self._loader(start), start=start):
                values = self.step(batch, it)
                self._accumulate(values)
                done_since += 1
                bar.update(1)
                bar.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
                last = it + 1 == cfg.iterations
                if (it + 1) % cfg.log_every == 0 or last:
                    now = time.perf_counter()
                    self._flush_log(it + 1, now - t0, done_since)
                    t0, done_since = now, 0
                if self.checkpoints is not None and self.dist.is_main and (
                        last or (cfg.checkpoint_every and (it + 1) % cfg.checkpoint_every == 0)):
                    self.checkpoints.save(it + 1, self.state_dict(it + 1))
        finally:
            bar.close()
        return TrainResult(self.history, self.timing, cfg.iterations, resumed_from=start)

