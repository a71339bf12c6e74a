"""SynHOI generator identity and parameters (:class:`SynHOIConfig` with its validation)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ...errors import ConfigError

GENERATOR_NAME = "synhoi"
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class SynHOIConfig:
    """Generator parameters (all of them are recorded in the JSON ``generator`` key)."""

    seed: int = 0
    num_train: int = 800
    num_test: int = 200
    min_size: int = 128                 # image width and height drawn per image in [min, max]
    max_size: int = 160
    tail_ratio: float = 0.75            # interaction class of rank k has weight tail_ratio ** k
    distractor_rate: float = 0.6        # share of images drawn with distractor people/objects
    decoy_rate: float = 0.9             # P(a distractor object is placed as a decoy by an actor)
    bystander_rate: float = 0.6         # P(first idle person is a bystander next to a true object)
    no_interaction_rate: float = 0.5    # P(an idle person is annotated no_interaction with an object)
    noise_std: float = 6.0              # per-pixel Gaussian noise (0-255 scale) on the final image
    rare_threshold: int = 10            # rare = fewer than this many train instances

    def __post_init__(self) -> None:
        def bad(key: str, msg: str) -> ConfigError:
            return ConfigError(f"synhoi.{key}: {msg} (got {getattr(self, key)!r})")

        for key in ("seed", "num_train", "num_test", "min_size", "max_size", "rare_threshold"):
            v = getattr(self, key)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise bad(key, "must be an integer")
        if self.seed < 0:
            raise bad("seed", "must be >= 0")
        if self.num_train < 1:
            raise bad("num_train", "must be >= 1")
        if self.num_test < 0:
            raise bad("num_test", "must be >= 0")
        if self.min_size < 96:
            raise bad("min_size", "must be >= 96")
        if self.max_size < self.min_size or self.max_size > 1024:
            raise bad("max_size", "must be in [min_size, 1024]")
        for key in ("distractor_rate", "decoy_rate", "bystander_rate", "no_interaction_rate"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise bad(key, "must be a number in [0, 1]")
        if not isinstance(self.tail_ratio, (int, float)) or not 0.0 < self.tail_ratio <= 1.0:
            raise bad("tail_ratio", "must be a number in (0, 1]")
        if not isinstance(self.noise_std, (int, float)) or not 0.0 <= self.noise_std <= 64.0:
            raise bad("noise_std", "must be a number in [0, 64]")

    @classmethod
    def from_mapping(cls, cfg: dict[str, Any], where: str = "synhoi") -> "SynHOIConfig":
        """Build from a params mapping; unknown keys raise ConfigError naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"params: unknown key {where}.{unknown[0]} (known: {', '.join(sorted(known))})")
        return cls(**cfg)

    def params(self) -> dict[str, Any]:
        return asdict(self)
