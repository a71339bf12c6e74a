"""Shared fixtures. Real annotation files live in ../shared/data (or $WEAKHOI_SHARED_DATA);
tests that need them skip cleanly when they are absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("WEAKHOI_SHARED_DATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def run_log_dir(tmp_path_factory) -> Path:
    """Run records of the commands the tests run go to a temp dir, not the checkout's logs/."""
    d = tmp_path_factory.mktemp("run_logs")
    old = os.environ.get("WEAKHOI_RUN_LOG_DIR")
    os.environ["WEAKHOI_RUN_LOG_DIR"] = str(d)       # subprocesses inherit it
    yield d
    if old is None:
        os.environ.pop("WEAKHOI_RUN_LOG_DIR", None)
    else:
        os.environ["WEAKHOI_RUN_LOG_DIR"] = old


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Directory holding hicodet/, vcoco/, images/ from the shared data; skip if absent."""
    d = _shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"shared data not found at {d} (set WEAKHOI_SHARED_DATA)")
    return d


@pytest.fixture(scope="session")
def hicodet_test_json(shared_data: Path) -> Path:
    p = shared_data / "hicodet" / "instances_test2015.json"
    if not p.is_file():
        pytest.skip(f"{p} not present")
    return p


@pytest.fixture(scope="session")
def vcoco_dir(shared_data: Path) -> Path:
    p = shared_data / "vcoco"
    if not p.is_dir():
        pytest.skip(f"{p} not present")
    return p
