"""Copies a component version's artifacts into the runtime root, read-only, and unpacks ZIPs.

As greengrass-cli does, the whole `<artifactDir>/<Name>/<Version>/` folder is copied, whether or not
the recipe lists the files; listed artifacts then get their permissions, digest check and unpacking.
A same-version redeploy overwrites the files in place (there is one copy per version, as on the
nucleus), so a rollback of such a deployment runs the previous recipe with the new files.

Layout as on the nucleus: `packages/artifacts/<Name>/<Version>/<file>` and, for `Unarchive: ZIP`,
`packages/artifacts-unarchived/<Name>/<Version>/<zip name without .zip>/`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path

from edgewatch.local.deployment_plan import DeploymentError
from edgewatch.local.layout import RuntimeLayout
from edgewatch.recipe import Artifact

log = logging.getLogger(__name__)


def _sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def _make_writable(root: Path) -> None:
    """Undo our read-only modes so a folder can be replaced (needed when not running as root)."""
    if not root.exists():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o750)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | 0o200)
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o750)


def _make_read_only(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & ~0o227)  # read-only, not for others
        os.chmod(dirpath, 0o550)


def _file_mode(artifact: Artifact) -> int:
    # Components run as the runtime's own user here, so Permission ALL (all users of the device on the
    # nucleus) is mapped to owner and group: nothing under the runtime root is readable by others.
    mode = 0o440 if artifact.read == "ALL" else 0o400
    if artifact.execute == "OWNER":
        mode |= 0o100
    elif artifact.execute == "ALL":
        mode |= 0o110
    return mode


def _copy_folder(source: Path, dest: Path) -> set[str]:
    """Copy every file of `source` into `dest` (greengrass-cli copies the whole
    `<artifactDir>/<name>/<version>/` folder, listed in the recipe or not); returns the files that
    were new or changed, relative to `dest`."""
    changed: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames.sort()
        relative = Path(dirpath).relative_to(source)
        folder = dest / relative
        for file_name in sorted(filenames):
            src = Path(dirpath) / file_name
            if src.is_symlink() or not src.is_file():
                continue  # only regular files: a link could reach outside the artifact folder
            target = folder / file_name
            if target.is_file() and _sha256(src) == _sha256(target):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o750)
            if target.exists():
                os.chmod(target, 0o644)
            shutil.copyfile(src, target)
            # Unlisted files keep their owner-execute bit (a script the recipe runs directly).
            os.chmod(target, 0o550 if os.stat(src).st_mode & stat.S_IXUSR else 0o440)
            changed.add(str(relative / file_name) if str(relative) != "." else file_name)
    return changed


def stage_artifacts(
    layout: RuntimeLayout, name: str, version: str, artifacts: Iterable[Artifact], artifact_dir: Path | None
) -> bool:
    """Bring the artifacts of `name`-`version` into the runtime root; errors name the missing file.

    Returns True when a file was new or changed (a same-version redeploy with new artifacts must
    restart the component)."""
    dest = layout.artifacts(name, version)
    unpacked = layout.unarchived(name, version)
    copied: set[str] = set()
    folder = artifact_dir / name / version if artifact_dir is not None else None
    if folder is not None and folder.is_dir():
        if dest.exists():
            _make_writable(dest)
        copied = _copy_folder(folder, dest)
    changed = bool(copied)
    for artifact in artifacts:
        target = dest / artifact.file_name
        source = artifact_dir / name / version / artifact.file_name if artifact_dir is not None else None
        if source is not None and source.is_file():
            if not target.exists() or _sha256(source) != _sha256(target):
                dest.mkdir(parents=True, exist_ok=True)
                os.chmod(dest, 0o750)
                if target.exists():
                    os.chmod(target, 0o644)
                shutil.copyfile(source, target)
                _extract_fresh = True
                changed = True
            else:
                # Copied just now with the whole folder, or unchanged: unpack again only if it changed.
                _extract_fresh = artifact.file_name in copied
        elif target.is_file():
            _extract_fresh = False  # staged by an earlier deployment
        else:
            where = source.parent if source is not None else "(no --artifactDir given)"
            raise DeploymentError(f"artifact {artifact.file_name} of {name}-{version} not found in {where}",
                                  "ARTIFACT_NOT_FOUND")
        _check_digest(artifact, target, name, version)
        os.chmod(target, _file_mode(artifact))
        if artifact.unarchive.upper() == "ZIP":
            _unzip(target, unpacked / artifact.unpack_dir_name, fresh=_extract_fresh, label=f"{name}-{version}")
    for staged in (dest, unpacked):
        if staged.exists():
            _make_read_only(staged)
    return changed


def _check_digest(artifact: Artifact, path: Path, name: str, version: str) -> None:
    if not artifact.digest:
        return
    algorithm = (artifact.algorithm or "SHA-256").upper().replace("-", "")
    if algorithm != "SHA256":
        raise DeploymentError(f"{name}-{version}: unsupported artifact digest algorithm {artifact.algorithm}",
                              "ARTIFACT_CHECKSUM_MISMATCH")
    if base64.b64encode(_sha256(path)).decode() != artifact.digest:
        raise DeploymentError(f"{name}-{version}: digest of {artifact.file_name} does not match the recipe",
                              "ARTIFACT_CHECKSUM_MISMATCH")


def _unzip(archive: Path, target: Path, *, fresh: bool, label: str) -> None:
    if target.exists() and not fresh:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o750)
    _make_writable(target)
    shutil.rmtree(target, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                resolved = (target / member.filename).resolve()
                if not str(resolved).startswith(str(target.resolve())):
                    raise DeploymentError(f"{label}: {archive.name} has an unsafe path {member.filename!r}",
                                          "ARTIFACT_ERROR")
                bundle.extract(member, target)
                mode = (member.external_attr >> 16) & 0o770  # never world-accessible
                if mode and not member.is_dir():
                    os.chmod(resolved, mode)
    except zipfile.BadZipFile as exc:
        raise DeploymentError(f"{label}: {archive.name} is not a valid ZIP: {exc}", "ARTIFACT_ERROR") from None
    _make_read_only(target)
    log.info("unpacked %s into %s", archive.name, target)
