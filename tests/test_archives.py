"""Uploads become photos to screen: zip archives are opened defensively, names stay labels, a batch has a limit.

What screening then does with the photos is tested in test_screening.py.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from assess_samples import jpeg, mark_encrypted, zip_bytes
from lightning_module.assessment.archives import ArchiveLimits, Upload, _declared_entries, batch_items
from lightning_module.data.imaging import PhotoError


def test_zip_bombs_and_huge_archives_are_refused_without_reading_them() -> None:
    zeros = b"\x00" * (3 * 2**20)  # 3 MB of zeros compress to a few kB
    limits = ArchiveLimits(max_member_bytes=2**20, max_total_bytes=2 * 2**20, max_members=2, max_declared_entries=6)
    rows = batch_items([Upload("bomb.zip", zip_bytes({"a.jpg": zeros}))], limits)
    assert rows[0].read is None and "too large once unpacked" in rows[0].error

    # Declared sizes are not trusted: the byte cap holds while reading, too.
    members = {f"{i}.jpg": b"\x01" * (900 * 1024) for i in range(3)}
    items = batch_items([Upload("many.zip", zip_bytes(members))], ArchiveLimits(max_member_bytes=2**20, max_total_bytes=2**20))
    assert len(items[0].read()) == 900 * 1024
    with pytest.raises(PhotoError, match="possible zip bomb"):
        items[1].read()

    photos = {f"tree{i}.jpg": b"x" for i in range(5)}
    counted = batch_items([Upload("five.zip", zip_bytes(photos))], limits)
    assert [i.read is not None for i in counted] == [True, True, False, False, False]
    assert "only the first 2 photos" in counted[2].error

    many = {f"tree{i}.jpg": b"x" for i in range(7)}
    refused = batch_items([Upload("seven.zip", zip_bytes(many))], limits)
    assert len(refused) == 1 and "lists 7 entries" in refused[0].error

    # An end record that under-states the count does not help: the directory's size gives it away.
    lying = bytearray(zip_bytes({f"tree{i}.jpg": b"x" for i in range(60)}))
    end = lying.rfind(b"PK\x05\x06")
    lying[end + 8:end + 12] = (1).to_bytes(2, "little") * 2
    refused = batch_items([Upload("lying.zip", bytes(lying))], limits)
    assert len(refused) == 1 and "lists 1 entries" in refused[0].error and "split it" in refused[0].error


def test_damaged_empty_and_encrypted_archives_get_reasons() -> None:
    damaged = batch_items([Upload("bad.zip", b"PK\x03\x04 this is not really a zip")])
    assert len(damaged) == 1 and "not a readable zip archive" in damaged[0].error
    empty = batch_items([Upload("empty.zip", zip_bytes({}))])
    assert "holds no files" in empty[0].error
    locked = batch_items([Upload("locked.zip", mark_encrypted(zip_bytes({"a.jpg": jpeg(), "b.jpg": jpeg(seed=1)}), "a.jpg"))])
    assert "password-protected" in locked[0].error and locked[1].read is not None


def test_a_batch_has_a_size_limit_and_says_so() -> None:
    items = batch_items([Upload(f"{i}.jpg", b"x") for i in range(4)], max_photos=3)
    assert [i.read is not None for i in items] == [True, True, True, False]
    assert "at most 3 photos" in items[3].error


def test_names_are_labels_only() -> None:
    items = batch_items([Upload("a\x00b\nc.jpg", b"x"), Upload("x" * 500 + ".jpg", b"x")])
    assert items[0].name == "a?b?c.jpg"
    assert len(items[1].name) == 120


def test_the_end_record_is_found_behind_a_comment_and_in_a_zip64_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    members = {f"tree{i}.jpg": b"x" for i in range(3)}
    plain = zip_bytes(members)
    entries, directory_bytes = _declared_entries(plain)
    assert entries == 3 and 0 < directory_bytes < len(plain)

    buffer = io.BytesIO(plain)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = b"survey of 3 trees " * 3000  # 54 kB: the end record is no longer the last 22 bytes
    assert _declared_entries(buffer.getvalue()) == (entries, directory_bytes)

    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)  # more entries than this: zipfile writes zip64 records
    zip64 = zip_bytes(members)
    assert b"PK\x06\x06" in zip64 and _declared_entries(zip64) == (entries, directory_bytes)
    assert [item.read is not None for item in batch_items([Upload("z64.zip", zip64)])] == [True, True, True]

    for broken in (b"", b"PK\x05\x06", plain[:-1], plain[: plain.rfind(b"PK\x05\x06") + 10]):
        assert _declared_entries(broken) is None
