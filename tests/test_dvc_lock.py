"""The committed dvc.lock matches the code and params of this checkout (issue 7 item 3).

``dvc status`` on the project root must report no stage whose deps or params changed. Missing
outputs are fine (a clean clone has none), and so is a missing dep that is another stage's
output (``data/synhoi/...`` before ``data`` ran). When this fails, run ``dvc repro`` (or ``make
lock``) and commit dvc.lock. ``make check-lock`` runs this file alone.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), DVC_NO_ANALYTICS="1")
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def stage_outputs(root: Path) -> set[str]:
    """Output paths of every stage in dvc.lock (the paths DVC resolved, foreach expanded)."""
    lock = yaml.safe_load((root / "dvc.lock").read_text()) or {}
    return {o["path"] for st in lock.get("stages", {}).values() for o in st.get("outs", [])}


def stale_stages(root: Path) -> dict[str, dict]:
    """{stage: what changed} for stages whose deps or params differ from dvc.lock."""
    r = _dvc("status", "--json", cwd=root)
    assert r.returncode == 0, f"dvc status failed:\n{r.stdout}\n{r.stderr}"
    outs = stage_outputs(root)
    stale: dict[str, dict] = {}
    for stage, entries in json.loads(r.stdout or "{}").items():
        for entry in entries:
            if not isinstance(entry, dict):          # e.g. "changed command", "always changed"
                stale.setdefault(stage, {})[str(entry)] = True
                continue
            for what, changes in entry.items():
                if what == "changed outs":
                    continue
                if what == "changed deps":
                    changes = {p: s for p, s in changes.items()
                               if not (s == "deleted" and any(p == o or p.startswith(o + "/") for o in outs))}
                if changes:
                    stale.setdefault(stage, {})[what] = changes
    return stale


def _has_dvc_project(root: Path) -> bool:
    return (root / "dvc.yaml").is_file() and (root / "dvc.lock").is_file() and (root / ".dvc").is_dir()


def test_committed_dvc_lock_matches_code_and_params():
    if not _has_dvc_project(ROOT):
        pytest.skip("not a DVC project checkout")
    stale = stale_stages(ROOT)
    assert not stale, ("dvc.lock is stale (run `dvc repro` and commit dvc.lock):\n"
                       + json.dumps(stale, indent=1))


def test_stale_lock_is_detected(tmp_path):
    """The check fails on a lock that does not match: a copy of the project whose code dep
    changed (and whose param changed) after the lock was written."""
    if not _has_dvc_project(ROOT):
        pytest.skip("not a DVC project checkout")
    proj = tmp_path / "proj"
    proj.mkdir()
    for f in ("dvc.yaml", "dvc.lock", "params.yaml", ".dvcignore"):
        shutil.copy(ROOT / f, proj / f)
    shutil.copytree(ROOT / ".dvc", proj / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    for d in ("pipeline", "weakhoi"):
        shutil.copytree(ROOT / d, proj / d, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["git", "init", "-q"], cwd=proj, check=True)
    baseline = stale_stages(proj)
    assert baseline == stale_stages(ROOT)                # a faithful copy
    (proj / "weakhoi" / "__pycache__").mkdir()           # byte code is not a code change
    (proj / "weakhoi" / "__pycache__" / "boxes.cpython-311.pyc").write_bytes(b"\0")
    assert stale_stages(proj) == baseline
    with (proj / "weakhoi" / "spatial.py").open("a") as f:
        f.write("\n# changed after the lock was written\n")
    assert stale_stages(proj)["spatial@test"]["changed deps"]["weakhoi/spatial.py"] == "modified"
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["spatial"]["eps"] = 1e-6
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = stale_stages(proj)["spatial@train"]["changed deps"]
    assert changed["params.yaml"] == {"spatial.eps": "modified"}
