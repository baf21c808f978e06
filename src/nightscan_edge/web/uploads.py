"""Safe dataset intake: folders only under configured roots, zips checked before a byte is extracted.

A hostile zip (``../`` or absolute member names, symlinks, a decompression bomb) is refused as a whole,
and extraction goes to a temporary folder that is renamed into place only when complete, so a refused or
failed upload leaves nothing behind.
"""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from nightscan_edge.errors import UserError
from nightscan_edge.paths import display_path, is_inside

MAX_ZIP_MEMBERS = 200_000
MAX_NAME_BYTES = 255  # one path component, as most file systems allow
MAX_PATH_BYTES = 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class UploadError(UserError):
    """A dataset path or archive that was refused; the message says why and what to do."""


def resolve_under_roots(path: str | Path, roots: tuple[Path, ...]) -> Path:
    """The real path of ``path`` if it is an existing folder or file inside one of ``roots`` (symlinks resolved)."""
    if not str(path).strip():
        raise UploadError("dataset path is empty; give a folder or manifest CSV on the server")
    if "\0" in str(path):
        raise UploadError("dataset path holds a NUL byte; give a folder or manifest CSV on the server")
    shown, where = display_path(path), ", ".join(display_path(r) for r in roots)
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        raise UploadError(f"dataset path {shown} must be absolute (allowed roots: {where})")
    if not is_inside(candidate, roots):
        raise UploadError(
            f"{shown} is outside the allowed dataset roots ({where}); "
            "start the server with --dataset-root to allow another folder"
        )
    real = candidate.resolve()
    if not real.exists():
        raise UploadError(f"dataset path {shown} does not exist")
    return real


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\0" in name:
        return "has a NUL byte in its name"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "is an absolute path"
    parts = re.split(r"[\\/]+", name)
    if ".." in parts:
        return "climbs out of the archive with '..'"
    parts = [p for p in parts if p not in ("", ".")]
    if (
        any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in parts)
        or len(name.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES
    ):
        return f"has a name longer than {MAX_NAME_BYTES} bytes per part (or {MAX_PATH_BYTES} in all)"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def _short(name: str, limit: int = 80) -> str:
    """A member name quoted on one line, cut to ``limit`` characters (a 300-character name stays readable)."""
    shown = repr(name)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def unzipped_bytes(zip_path: Path) -> int:
    """Total uncompressed size the zip's headers declare (0 for an unreadable zip: extraction reports that)."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return 0


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symlinks not followed)."""
    total = 0
    for path in Path(folder).rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def check_zip(archive: zipfile.ZipFile, max_unzipped_bytes: int) -> list[zipfile.ZipInfo]:
    """All members if the archive is safe to extract, else ``UploadError`` naming the first bad member."""
    members = archive.infolist()
    if not members:
        raise UploadError("the zip is empty; zip a folder with one sub-folder per class")
    if len(members) > MAX_ZIP_MEMBERS:
        raise UploadError(f"the zip has {len(members)} entries (limit {MAX_ZIP_MEMBERS})")
    total = 0
    files: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    for info in members:
        problem = _member_problem(info)
        if problem:
            raise UploadError(
                f"refused zip: member {_short(info.filename)} {problem}; zip plain files and folders only"
            )
        total += info.file_size
        parts = tuple(p for p in re.split(r"[\\/]+", info.filename) if p not in ("", "."))
        if not parts:
            continue
        if not info.is_dir():
            if parts in files:
                raise UploadError(f"refused zip: member {_short(info.filename)} appears twice; zip each file once")
            files.add(parts)
        folders.update(parts[:i] for i in range(1, len(parts) if not info.is_dir() else len(parts) + 1))
    clash = files & folders
    if clash:
        raise UploadError(
            f"refused zip: {_short('/'.join(sorted(clash)[0]))} is both a file and a folder; rename one of them"
        )
    if total > max_unzipped_bytes:
        raise UploadError(
            f"refused zip: it unpacks to {total / 2**20:.0f} MB, over the {max_unzipped_bytes / 2**20:.0f} MB limit"
        )
    return members


def extract_zip(zip_path: Path, destination: Path, max_unzipped_bytes: int) -> Path:
    """Extract a checked zip into ``destination`` (which must not exist); returns the dataset root inside it.

    When the archive holds a single top folder (the usual ``zip -r birds.zip birds/``), that folder is the
    dataset root.
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile:
        raise UploadError("the upload is not a valid zip file") from None
    if destination.exists():
        raise UploadError(f"{destination} already exists")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=destination.parent))
    try:
        with archive:
            members = check_zip(archive, max_unzipped_bytes)
            written = 0
            for info in members:
                relative = PurePosixPath(*[p for p in re.split(r"[\\/]+", info.filename) if p not in ("", ".")])
                if not relative.parts or relative.parts[0] == "__MACOSX":
                    continue
                target = staging.joinpath(*relative.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as sink:
                    while chunk := source.read(1 << 20):
                        written += len(chunk)
                        if written > max_unzipped_bytes:  # the header lied about sizes
                            raise UploadError("refused zip: it unpacks to more than its headers declare")
                        sink.write(chunk)
        staging.rename(destination)
    except (zipfile.BadZipFile, EOFError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise UploadError(f"the zip is damaged ({error}); create it again") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    entries = [p for p in destination.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return destination
