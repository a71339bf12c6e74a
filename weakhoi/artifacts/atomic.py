"""Atomic output: write into a hidden temp sibling, fsync, rename onto the final path; refuse to
replace what weakhoi did not write; clean up what a killed writer left behind.

Temp siblings carry the writer's PID: ``.<name>.tmp-<pid>-<hex>`` (being written) and
``.<name>.old-<pid>-<hex>`` (a previous directory output moved aside during the swap). When an
output is written, first the stale siblings *of that output* whose PID is not a live process
are removed (a kill -9 leaves them); a live writer's siblings are never touched.

What may be at the output path (the replace policy). :func:`describe` names what a path holds:

=========================  ===============================================================
``file:artifact:<type>``   HDF5 file with weakhoi provenance (``artifact_type`` attribute)
``dir:artifact:<type>``    Zarr directory with weakhoi provenance
``dir:marked:<name>``      a directory weakhoi wrote (holds :data:`OUTPUT_MARKER`)
``file:json``              a JSON file (first character ``{``, ``[`` or ``"``)
``file:png``               a PNG image
``file:hdf5``              an HDF5 file that is not a weakhoi artifact
``file:text``              other UTF-8 text (TSV, CSV, ...); ``file:binary`` anything else
``file:empty``             an empty file; ``dir:empty`` an empty directory
``dir:foreign``            a non-empty directory weakhoi did not write
``link:dangling``          a symlink to nothing
=========================  ===============================================================

An existing output is replaced only by an output of the same kind (an artifact by an artifact
of the same type and format, a JSON file by a JSON file, a weakhoi directory by one of the same
name, ...); an empty file, an empty directory and a dangling symlink hold nothing and may be
replaced by a file / a directory / anything. Everything else (a directory where a file
belongs, a file where a directory belongs, an artifact of another type, a foreign HDF5 file, a
directory weakhoi did not write) raises :class:`~weakhoi.errors.OutputError` naming the path,
and nothing is changed. Writers that know what they write pass ``kind`` so that the refusal
comes before any work is done; the check is repeated on the finished temp before the rename.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from weakhoi.errors import OutputError

from .layout import _format_of

#: File inside every non-artifact directory written through :func:`atomic_output`.
OUTPUT_MARKER = ".weakhoi-output.json"
JSON_KIND = "file:json"
PNG_KIND = "file:png"
_SNIFF_BYTES = 64 * 2**10
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HOLDS_NOTHING = {"file:empty": "file:", "dir:empty": "dir:", "link:dangling": ""}


def artifact_kind(path: Path | str, artifact_type: str) -> str:
    """The kind of an ``artifact_type`` artifact at ``path`` (format by suffix)."""
    shape = "dir" if _format_of(Path(path)) == "zarr" else "file"
    return f"{shape}:artifact:{artifact_type}"


def directory_kind(name: str) -> str:
    """The kind of a weakhoi output directory named ``name`` (e.g. 'synhoi', 'predictions')."""
    return f"dir:marked:{name}"


# --------------------------------------------------------------------------- describing paths

def _describe_hdf5(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            kind = f.attrs.get("artifact_type")
    except Exception:  # damaged header, locked, ...: not recognisable as ours
        return "file:hdf5"
    if isinstance(kind, bytes):
        kind = kind.decode("utf-8", "replace")
    return f"file:artifact:{kind}" if isinstance(kind, str) and kind else "file:hdf5"


def _describe_file(path: Path) -> str:
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return "file:binary"
    if not head:
        return "file:empty"
    if head.startswith(_HDF5_SIGNATURE):
        return _describe_hdf5(path)
    if head.startswith(_PNG_SIGNATURE):
        return PNG_KIND
    if b"\0" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as e:
            text = head[:e.start].decode("utf-8") if e.start >= len(head) - 3 else None
        if text is not None:
            first = text.lstrip("\ufeff \t\r\n")[:1]
            return JSON_KIND if first in ("{", "[", '"') else "file:text"
    return "file:binary"


def _describe_dir(path: Path) -> str:
    marker = path / OUTPUT_MARKER
    if marker.is_file():
        try:
            name = json.loads(marker.read_text(encoding="utf-8")).get("kind")
        except (OSError, ValueError, AttributeError):
            name = None
        if isinstance(name, str) and name:
            return directory_kind(name)
    zarr_json = path / "zarr.json"
    if zarr_json.is_file():
        try:
            attrs = json.loads(zarr_json.read_text(encoding="utf-8")).get("attributes", {})
            kind = attrs.get("artifact_type") if isinstance(attrs, dict) else None
        except (OSError, ValueError, AttributeError):
            kind = None
        if isinstance(kind, str) and kind:
            return f"dir:artifact:{kind}"
    return "dir:empty" if _holds_no_file(path) else "dir:foreign"


def _holds_no_file(path: Path) -> bool:
    """Whether the tree under ``path`` holds directories only (no file, no symlink). Such a
    directory counts as empty: DVC leaves the emptied parents of the outputs it removes before
    a stage runs (e.g. ``metrics/train/plots/`` in an experiment's temporary copy)."""
    try:
        with os.scandir(path) as it:
            for entry in it:
                if entry.is_symlink() or not entry.is_dir(follow_symlinks=False) or not _holds_no_file(Path(entry.path)):
                    return False
    except OSError:
        return False
    return True


def describe(path: Path | str) -> str | None:
    """What ``path`` holds, as the replace policy sees it (see the module docstring); None when
    nothing is there. Symlinks are followed."""
    path = Path(path)
    if not path.exists():
        return "link:dangling" if path.is_symlink() else None
    return _describe_dir(path) if path.is_dir() else _describe_file(path)


_PHRASES = {
    "file:artifact": "a {0!r} artifact (HDF5 file)", "dir:artifact": "a {0!r} artifact (Zarr directory)",
    "dir:marked": "a weakhoi {0!r} output directory", "file:json": "a JSON file",
    "file:png": "a PNG image", "file:hdf5": "an HDF5 file that is not a weakhoi artifact",
    "file:text": "a text file", "file:binary": "a file", "file:empty": "an empty file",
    "dir:empty": "an empty directory", "dir:foreign": "a non-empty directory weakhoi did not write",
    "link:dangling": "a dangling symlink",
}


def _phrase(kind: str) -> str:
    head, _, rest = kind.partition(":")
    sub, _, name = rest.partition(":")
    if f"{head}:{sub}" in _PHRASES and name:
        return _PHRASES[f"{head}:{sub}"].format(name)
    return _PHRASES.get(kind, kind)


def _may_replace(existing: str | None, new: str) -> bool:
    if existing is None or existing == new:
        return True
    prefix = _HOLDS_NOTHING.get(existing)
    return prefix is not None and new.startswith(prefix)


def _refuse(path: Path, existing: str, new: str | None) -> OutputError:
    what = f"{_phrase(new)}" if new else "its output"
    return OutputError(
        f"{path}: already exists and holds {_phrase(existing)}; this command writes {what} there "
        f"and only replaces an output of the same kind that weakhoi wrote. Nothing was changed: "
        f"move or delete it yourself, or choose another output path")


def _overlaps(out: Path, inp: Path) -> bool:
    """``out`` is ``inp``, inside it, or contains it (paths resolved, symlinks followed)."""
    a, b = Path(os.path.realpath(out)), Path(os.path.realpath(inp))
    return a == b or b in a.parents or a in b.parents


def check_replaceable(path: Path | str, kind: str | None = None,
                      inputs: Iterable[Path | str] = ()) -> None:
    """OutputError naming ``path`` when it holds something an output of ``kind`` may not
    replace (see the module docstring), or when it is, lies inside or contains one of the
    command's ``inputs`` (weakhoi cannot tell its JSON or PNG from yours, but it can tell that
    it would overwrite what it reads). With ``kind=None`` only what no output may replace is
    refused (a non-empty directory weakhoi did not write). Call it before expensive work."""
    path = Path(path)
    for inp in inputs:
        if inp is not None and _overlaps(path, Path(inp)):
            raise OutputError(f"{path}: the output would overwrite the input {inp}; choose "
                              f"another output path. Nothing was changed")
    existing = describe(path)
    if existing is None:
        return
    if kind is None:
        if existing == "dir:foreign":
            raise _refuse(path, existing, None)
    elif not _may_replace(existing, kind):
        raise _refuse(path, existing, kind)


# --------------------------------------------------------------------------- temp siblings

def _pid_alive(pid: int) -> bool:
    """True unless ``pid`` is certainly not a running process (zombies count as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:        # EPERM (another user's process) or unknown: assume alive
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2:][:1] != "Z"
    except (OSError, ValueError):
        return True


def _sibling_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(re.escape(f".{path.name}.") + r"(tmp|old)-(\d+)-[0-9a-f]+")


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}")


def remove_stale_siblings(path: Path | str) -> list[Path]:
    """Remove the temp siblings of ``path`` left by writers that are no longer running (PID in
    the name not alive); returns what was removed. A stale ``.old-`` sibling while ``path``
    itself is missing (a kill between the two renames of a directory swap) is renamed back
    onto ``path`` instead, so the previous output is not lost."""
    path = Path(path)
    pattern = _sibling_pattern(path)
    try:
        names = sorted(e.name for e in os.scandir(path.parent))
    except OSError:
        return []
    removed = []
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or _pid_alive(int(m.group(2))):
            continue
        stale = path.parent / name
        if m.group(1) == "old" and not path.exists() and not path.is_symlink():
            os.rename(stale, path)
            continue
        _remove(stale)
        removed.append(stale)
    return removed


# --------------------------------------------------------------------------- writing

def _fsync_path(path: Path) -> None:
    """fsync a file or a directory entry (best effort: some filesystems refuse dir fsync)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    if path.is_dir():
        for root, _dirs, files in os.walk(path):
            for name in files:
                _fsync_path(Path(root) / name)
            _fsync_path(Path(root))
    elif path.exists():
        _fsync_path(path)


def _remove(path: Path) -> None:
    """Remove a file, symlink or directory tree if it exists (only used on our own temps)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _mark_directory(tmp: Path, kind: str | None) -> None:
    """Put :data:`OUTPUT_MARKER` into a finished directory output that is not an artifact."""
    if _describe_dir(tmp).startswith("dir:artifact:"):
        return
    name = kind.split(":", 2)[2] if kind and kind.startswith("dir:marked:") else "directory"
    (tmp / OUTPUT_MARKER).write_text(json.dumps({"kind": name, "written_by": "weakhoi"},
                                                sort_keys=True) + "\n", encoding="utf-8")


@contextmanager
def atomic_output(path: Path | str, kind: str | None = None) -> Iterator[Path]:
    """Yield a temp sibling path (``.<name>.tmp-<pid>-<hex>``, not yet created) to write into.

    Before yielding: stale siblings of ``path`` from dead writers are removed
    (:func:`remove_stale_siblings`) and what is at ``path`` is checked against ``kind``
    (:func:`check_replaceable`; e.g. :data:`JSON_KIND`, :func:`artifact_kind`,
    :func:`directory_kind`). On normal exit a directory output that is not an artifact gets
    :data:`OUTPUT_MARKER`, the finished temp is checked against what is at ``path`` now
    (OutputError, temp removed, ``path`` untouched if it may not be replaced), fsynced and moved
    onto ``path`` (a file with ``os.replace``; an existing directory is first moved aside to
    ``.<name>.old-<pid>-<hex>`` and deleted after the swap, so the final path never holds a
    half-written result). On an exception the temp is deleted and ``path`` is left untouched.
    Parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    check_replaceable(path, kind)
    tmp = _sibling(path, "tmp")
    try:
        yield tmp
        if not tmp.exists() and not tmp.is_symlink():
            raise FileNotFoundError(f"{path}: nothing was written to the temporary {tmp.name}")
        if tmp.is_dir() and not tmp.is_symlink():
            _mark_directory(tmp, kind)
        new, existing = describe(tmp), describe(path)
        if not _may_replace(existing, new):
            raise _refuse(path, existing, new)
        _fsync_tree(tmp)
        if tmp.is_file() and (path.is_file() or path.is_symlink() or not path.exists()):
            os.replace(tmp, path)
        else:
            old = None
            if path.exists() or path.is_symlink():
                old = _sibling(path, "old")
                os.rename(path, old)
            try:
                os.rename(tmp, path)
            except BaseException:
                if old is not None:
                    os.rename(old, path)
                raise
            if old is not None:
                _remove(old)
        _fsync_path(path.parent)
    except BaseException:
        _remove(tmp)
        raise


def write_json(path: Path | str, doc: Any, **dumps_kwargs: Any) -> None:
    """Write ``doc`` as JSON to ``path`` atomically (via :func:`atomic_output`, replacing only
    a JSON file); a trailing newline is added. ``dumps_kwargs`` go to :func:`json.dumps`
    (default ``indent=1``)."""
    dumps_kwargs.setdefault("indent", 1)
    with atomic_output(path, JSON_KIND) as tmp:
        tmp.write_text(json.dumps(doc, **dumps_kwargs) + "\n", encoding="utf-8")
