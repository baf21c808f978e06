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

MAX_ZIP_MEMBERS = 200_000
_DRIVE = re.compile(r"^[A-Za-z]:")


class UploadError(UserError):
    """A dataset path or archive that was refused; the message says why and what to do."""


def resolve_under_roots(path: str | Path, roots: tuple[Path, ...]) -> Path:
    """The real path of ``path`` if it is an existing folder or file inside one of ``roots`` (symlinks resolved)."""
    if not str(path).strip():
        raise UploadError("dataset path is empty; give a folder or manifest CSV on the server")
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        raise UploadError(f"dataset path {path} must be absolute (allowed roots: {', '.join(map(str, roots))})")
    real = candidate.resolve()
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise UploadError(
            f"{path} is outside the allowed dataset roots ({', '.join(map(str, roots))}); "
            "start the server with --dataset-root to allow another folder"
        )
    if not real.exists():
        raise UploadError(f"dataset path {path} does not exist")
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
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def check_zip(archive: zipfile.ZipFile, max_unzipped_bytes: int) -> list[zipfile.ZipInfo]:
    """All members if the archive is safe to extract, else ``UploadError`` naming the first bad member."""
    members = archive.infolist()
    if not members:
        raise UploadError("the zip is empty; zip a folder with one sub-folder per class")
    if len(members) > MAX_ZIP_MEMBERS:
        raise UploadError(f"the zip has {len(members)} entries (limit {MAX_ZIP_MEMBERS})")
    total = 0
    for info in members:
        problem = _member_problem(info)
        if problem:
            raise UploadError(f"refused zip: member {info.filename!r} {problem}; zip plain files and folders only")
        total += info.file_size
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
