# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Bundled fixtures
----------------

The repository's ``fixtures/vmcores/`` holds real vmcores, compressed as one
``kernel-VER.tar.xz`` per kernel (its vmlinux and all its dumps) with a
``NAME/manifest.json`` per dump. This module finds them and unpacks them
once into a cache directory (``$XDG_CACHE_HOME/drgn-softleaf``), so that the
console script has a demo and the tests have their corpus.
"""

import json
import lzma
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

__all__ = ("DEMO_FIXTURE", "Fixture", "FixtureError", "fixtures_dir", "list_fixtures", "unpack")

DEMO_FIXTURE = "linux-7.3-l5-quiescent"


class FixtureError(Exception):
    """A fixture is missing or cannot be unpacked."""


@dataclass(frozen=True)
class Fixture:
    """One unpacked fixture: its vmcore, its kernel's vmlinux, its manifest."""

    name: str
    vmcore: Path
    vmlinux: Path
    manifest: Path


def fixtures_dir() -> Path:
    """
    Where the compressed fixtures are: ``$DRGN_SOFTLEAF_FIXTURES``, else the
    ``fixtures/vmcores`` directory of the source tree this package runs from.
    """
    env = os.environ.get("DRGN_SOFTLEAF_FIXTURES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "fixtures" / "vmcores"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "drgn-softleaf"


def list_fixtures(directory: Optional[Path] = None) -> List[str]:
    """Names of the fixtures that have a manifest."""
    d = directory or fixtures_dir()
    return sorted(p.parent.name for p in d.glob("*/manifest.json"))


def _kernel_of(name: str) -> str:
    # linux-7.3-l5-quiescent -> 7.3
    parts = name.split("-")
    if len(parts) < 3 or parts[0] != "linux":
        raise FixtureError(f"not a fixture name: {name}")
    return parts[1]


def unpack(name: str = DEMO_FIXTURE, directory: Optional[Path] = None) -> Fixture:
    """
    Return fixture *name*, unpacking its kernel's archives into the cache the
    first time (``kernel-VER.tar.xz``: the vmlinux and most dumps; a fixture
    may name another archive in its manifest).

    :raises FixtureError: if the fixture or its archive is missing.
    """
    d = directory or fixtures_dir()
    manifest = d / name / "manifest.json"
    if not manifest.is_file():
        raise FixtureError(
            f"fixture {name} not found in {d} (set DRGN_SOFTLEAF_FIXTURES to the "
            "fixtures/vmcores directory of a drgn-softleaf checkout)"
        )
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError) as e:
        raise FixtureError(f"cannot read {manifest}: {e}") from None
    archive_name = meta.get("archive")
    # The kernel's name (7.3, 7.3-arm64...) is in the manifest; the first
    # manifests' names spell it.
    version = meta.get("kernel") or _kernel_of(name)
    main = f"kernel-{version}.tar.xz"
    dest = _unpacked(d / main)
    dump_dest = dest if archive_name in (None, main) else _unpacked(d / archive_name)
    vmcore = dump_dest / name / "vmcore"
    vmlinux = dest / f"kernel-{version}" / "vmlinux"
    for p in (vmcore, vmlinux):
        if not p.is_file():
            raise FixtureError(f"no {p.name} for {name} in the fixture archives")
    return Fixture(name, vmcore, vmlinux, manifest)


def _archive_key(archive: Path) -> str:
    """
    A key for the content of *archive* that does not depend on its mtime (a
    fresh clone has new mtimes but the same archives): its size and a hash
    of its first and last 64 KiB (an xz stream ends with its index and
    check, so two different archives of one size differ there).
    """
    import hashlib

    size = archive.stat().st_size
    h = hashlib.sha256()
    with archive.open("rb") as f:
        h.update(f.read(65536))
        f.seek(max(0, size - 65536))
        h.update(f.read(65536))
    return f"{size}-{h.hexdigest()[:16]}"


def _check_members(tar: tarfile.TarFile, dest: Path) -> None:
    """Refuse members that would land outside *dest* or are not plain files
    and directories (what ``filter="data"`` refuses, for Pythons before the
    tarfile filters: Debian 12's 3.11.2, RHEL 9's 3.9)."""
    root = os.path.realpath(dest)
    for member in tar.getmembers():
        path = os.path.realpath(os.path.join(root, member.name))
        if os.path.commonpath([root, path]) != root or not (member.isfile() or member.isdir()):
            raise FixtureError(f"refusing archive member {member.name!r}")


def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
    else:
        _check_members(tar, dest)
        tar.extractall(dest)


def _unpacked(archive: Path) -> Path:
    """Unpack *archive* into the cache once (removing copies of older
    versions of it); return where."""
    import shutil

    if not archive.is_file():
        raise FixtureError(f"fixture archive {archive} is missing")
    stem = archive.name[: -len(".tar.xz")]
    cache = _cache_dir()
    try:
        dest = cache / f"{stem}-{_archive_key(archive)}"
    except OSError as e:
        raise FixtureError(f"cannot read {archive}: {e}") from None
    if (dest / ".complete").exists():
        return dest
    tmp = cache / f".{dest.name}.{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(archive, "r:xz") as tar:
            _extract(tar, tmp)
        (tmp / ".complete").write_text("")
        try:
            tmp.rename(dest)
        except OSError:
            # Another process unpacked it first.
            if not (dest / ".complete").exists():
                raise
    except (OSError, tarfile.TarError, EOFError, lzma.LZMAError) as e:
        raise FixtureError(f"cannot unpack {archive}: {e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # Older versions of this archive (another key) are never used again.
    for old in cache.glob(f"{stem}-*"):
        if old != dest and old.name[len(stem) + 1:].split("-")[0].isdigit():
            shutil.rmtree(old, ignore_errors=True)
    return dest
