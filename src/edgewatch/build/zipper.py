"""Reproducible ZIP artifacts: the same source files always give the same bytes.

Entries are files only, sorted by name, stamped 1980-01-01 00:00, with mode 0644 (0755 when the
source is executable) and the Unix creator, so touching a file or a different umask changes nothing.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import stat
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

FIXED_DATE = (1980, 1, 1, 0, 0, 0)

# What never goes into an artifact: GDK's own exclusions (config, recipe, build output, hidden
# files, tests, node_modules) plus Python caches and packaging leftovers.
EXCLUDED_NAMES = (
    "gdk-config.json",
    "recipe.yaml",
    "recipe.yml",
    "recipe.json",
    "greengrass-build",
    "zip-build",
    ".*",
    "__pycache__",
    "*.pyc",
    "*.pyo",
    "*.egg-info",
    "node_modules",
    "tests",
    "test",
    "test_*.py",
    "*_test.py",
    "conftest.py",
)


def excluded(name: str, patterns: Iterable[str] = EXCLUDED_NAMES) -> bool:
    """True when a file or folder name matches one of the exclusion patterns."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def collect_files(root: Path, prefix: str = "") -> dict[str, Path]:
    """Map archive names (`prefix` + POSIX relative path) to files under `root`, minus exclusions."""
    files: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not excluded(d))
        rel_dir = Path(dirpath).relative_to(root)
        for name in filenames:
            if excluded(name):
                continue
            path = Path(dirpath) / name
            if not path.is_file():
                continue
            files[prefix + (rel_dir / name).as_posix()] = path
    return files


def write_reproducible_zip(destination: Path, files: Mapping[str, Path]) -> str:
    """Write `files` (archive name -> source) to `destination`; return its SHA-256 hex digest."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(destination.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for arcname in sorted(files):
            source = files[arcname]
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE)
            info.create_system = 3  # Unix, so that external_attr carries the mode
            executable = bool(source.stat().st_mode & stat.S_IXUSR)
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes(), compresslevel=9)
    os.replace(tmp, destination)
    digest = hashlib.sha256(destination.read_bytes()).hexdigest()
    logger.debug("wrote %s (%d entries, sha256 %s)", destination, len(files), digest)
    return digest
