"""weakhoi: weakly-supervised HOI detection with CLIP-guided bi-level representations.

The library (no DVC or params.yaml knowledge). See README.md and docs/DESIGN.md.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("weakhoi")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "unknown"
