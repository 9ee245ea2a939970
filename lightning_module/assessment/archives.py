"""Uploads in, photos to screen out: loose files as they are, zip archives read defensively.

Uploads are bytes in memory; nothing is written to disk and no uploaded or archived file name is ever used as a
path, so a name like ``../../etc/passwd`` is only ever a label (:func:`display_name`). A file that cannot be
screened becomes a :class:`BatchItem` that says why, so one bad file never stops a batch.

Zip archives are read within :class:`ArchiveLimits`:

- the entry count and the directory's size are read from the archive's end record *before* its directory is parsed,
  so a million-entry archive is refused cheaply (``zipfile.ZipFile`` parses the whole directory when it opens, and
  an end record that under-states the count is caught by the directory's size);
- members are read with a hard byte cap that ignores what the archive *claims* their size is (zip bombs), and all
  members of one archive share a total budget;
- entries with absolute or ``..`` paths are skipped with a reason, archives inside archives are not opened,
  encrypted members are refused, and operating-system litter (``__MACOSX/``, ``.DS_Store``, ``Thumbs.db``) is ignored.

The end record is read with ``struct`` from the published ZIP format (PKWARE APPNOTE 4.3.14–4.3.16), not with
``zipfile``'s private helpers, which may change between Python versions.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from lightning_module.data.imaging import SUPPORTED_SUFFIXES, PhotoError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
MAX_BATCH_PHOTOS = 2000  # photos in one batch, all uploads and archives together
_OS_LITTER = {".ds_store", "thumbs.db", "desktop.ini"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# The ZIP end records (APPNOTE 4.3.16, 4.3.15, 4.3.14): signature and layout of each.
_END_SIGNATURE, _END = b"PK\x05\x06", struct.Struct("<4s4H2LH")  # …, entries, directory bytes, offset, comment size
_LOCATOR_SIGNATURE, _LOCATOR = b"PK\x06\x07", struct.Struct("<4sLQL")  # signature, disk, offset, disks
_ZIP64_SIGNATURE, _ZIP64_END = b"PK\x06\x06", struct.Struct("<4sQ2H2L4Q")  # …, entries, directory bytes, offset
_MAX_COMMENT = 0xFFFF  # an archive comment follows the end record and is at most this long


@dataclass(frozen=True)
class ArchiveLimits:
    """How much of a zip archive TreeRisk will read."""

    max_members: int = 1000  # photos read from one archive; the rest are reported, not read
    max_declared_entries: int = 20_000  # more entries than this and the archive is refused unread
    max_member_bytes: int = 100 * 1024 * 1024  # one unpacked photo
    max_total_bytes: int = 1024 * 1024 * 1024  # all unpacked photos of one archive together


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name (a label only) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class BatchItem:
    """One photo to screen: a loader for its bytes, or the reason it cannot be screened."""

    name: str
    read: Callable[[], bytes] | None = None
    error: str | None = None


def display_name(name: str, limit: int = 120) -> str:
    """A file name made safe to show: no control characters, bounded length."""
    clean = _CONTROL.sub("?", str(name)).strip() or "(unnamed)"
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def batch_items(uploads: Iterable[Upload], limits: ArchiveLimits = ArchiveLimits(),
                max_photos: int = MAX_BATCH_PHOTOS) -> list[BatchItem]:
    """Every photo to screen, in upload order: loose files as they are, zip archives opened safely."""
    items: list[BatchItem] = []
    for upload in uploads:
        if _suffix(upload.name) == ".zip":
            items.extend(_archive_items(upload, limits))
        else:
            items.append(BatchItem(display_name(upload.name), read=lambda data=upload.data: data))
    readable = [i for i, item in enumerate(items) if item.read is not None]
    for i in readable[max_photos:]:
        items[i] = BatchItem(items[i].name, error=f"not read: a batch holds at most {max_photos} photos")
    return items


def _suffix(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def _declared_entries(data: bytes) -> tuple[int, int] | None:
    """(entry count, central directory bytes) from the zip's end record, read without parsing the directory.

    The end record is the archive's last 22 bytes, or sits before a comment of up to 64 KiB. A zip64 archive puts a
    locator just before it and a larger record just before that, whose counts then apply. None: no end record, or
    an archive spanning several disks (``zipfile`` refuses those too).
    """
    position = len(data) - _END.size
    if position < 0:
        return None
    if not (data.startswith(_END_SIGNATURE, position) and data.endswith(b"\x00\x00")):  # a comment follows it
        position = data.rfind(_END_SIGNATURE, max(len(data) - _MAX_COMMENT - 1 - _END.size, 0))
        if position < 0 or position + _END.size > len(data):
            return None
    _, _, _, _, entries, directory_bytes, _, _ = _END.unpack_from(data, position)
    locator = position - _LOCATOR.size
    if locator >= 0 and data.startswith(_LOCATOR_SIGNATURE, locator):
        _, disk, _, disks = _LOCATOR.unpack_from(data, locator)
        if disk != 0 or disks > 1:
            return None
        record = locator - _ZIP64_END.size  # assumes no "zip64 extensible data" between them, as zipfile does
        if record >= 0 and data.startswith(_ZIP64_SIGNATURE, record):
            entries, directory_bytes = _ZIP64_END.unpack_from(data, record)[7:9]
    return int(entries), int(directory_bytes)


def _unsafe_path(name: str) -> bool:
    normal = name.replace("\\", "/")
    return normal.startswith("/") or bool(re.match(r"^[A-Za-z]:", normal)) or ".." in normal.split("/")


def _is_litter(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    base = parts[-1].lower()
    return "__MACOSX" in parts or base in _OS_LITTER or base.startswith("._")


def _archive_items(upload: Upload, limits: ArchiveLimits) -> list[BatchItem]:
    label = display_name(upload.name)
    end_record = _declared_entries(upload.data)
    if end_record is None:
        return [BatchItem(label, error="not a readable zip archive (damaged, or not a zip file)")]
    declared, directory_bytes = end_record
    # zipfile parses the whole directory whatever count it declares, so its size is bounded too (512 B an entry).
    if declared > limits.max_declared_entries or directory_bytes > limits.max_declared_entries * 512:
        return [BatchItem(label, error=f"the archive lists {declared:,} entries ({directory_bytes / 2**20:.1f} MB of "
                                       f"directory), more than the {limits.max_declared_entries:,} TreeRisk opens; split "
                                       "it into smaller archives")]
    try:
        archive = zipfile.ZipFile(io.BytesIO(upload.data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        return [BatchItem(label, error=f"not a readable zip archive ({error})")]
    budget = {"left": limits.max_total_bytes}
    items: list[BatchItem] = []
    photos = 0
    for info in members:
        if info.is_dir() or _is_litter(info.filename):
            continue
        name = f"{label} › {display_name(info.filename)}"
        suffix = _suffix(info.filename)
        if _unsafe_path(info.filename):
            items.append(BatchItem(name, error="unsafe path in the archive (absolute or with '..'); skipped"))
        elif suffix in ARCHIVE_SUFFIXES:
            items.append(BatchItem(name, error="an archive inside the archive is not opened; unpack it and upload the photos"))
        elif suffix not in SUPPORTED_SUFFIXES:
            items.append(BatchItem(name, error=f"not a photo type TreeRisk reads ({suffix or 'no extension'})"))
        elif info.flag_bits & 0x1:
            items.append(BatchItem(name, error="password-protected in the archive; unpack it and upload the photo"))
        elif info.file_size > limits.max_member_bytes:
            items.append(BatchItem(name, error=f"too large once unpacked ({info.file_size / 2**20:.0f} MB; the limit is "
                                               f"{limits.max_member_bytes / 2**20:.0f} MB)"))
        elif photos >= limits.max_members:
            items.append(BatchItem(name, error=f"not read: only the first {limits.max_members} photos of an archive are read"))
        else:
            photos += 1
            items.append(BatchItem(name, read=_member_reader(archive, info, limits, budget)))
    if not items:
        items.append(BatchItem(label, error="the archive holds no files"))
    return items


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits,
                   budget: dict[str, int]) -> Callable[[], bytes]:
    def read() -> bytes:
        cap = min(limits.max_member_bytes, budget["left"])
        try:
            with archive.open(info) as member:
                data = member.read(cap + 1)  # never trust the declared size: stop one byte past the cap
        except NotImplementedError:
            raise PhotoError("stored with a compression method TreeRisk cannot unpack") from None
        except RuntimeError as error:  # encrypted
            raise PhotoError(f"cannot be unpacked ({error})") from None
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
            raise PhotoError(f"damaged inside the archive ({error})") from None
        if len(data) > cap:
            if cap < limits.max_member_bytes:
                raise PhotoError("not read: the archive unpacks to more than "
                                 f"{limits.max_total_bytes / 2**30:.0f} GB in all (possible zip bomb)")
            raise PhotoError(f"unpacks to more than {limits.max_member_bytes / 2**20:.0f} MB (possible zip bomb)")
        budget["left"] -= len(data)
        return data

    return read
