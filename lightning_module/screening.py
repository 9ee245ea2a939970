"""Assess one uploaded photo, or screen many (loose files or zip archives) into a table, CSV and GeoJSON.

Uploads are bytes in memory; nothing is written to disk and no uploaded or archived file name is ever used as a
path, so a name like ``../../etc/passwd`` is only ever a label. One bad file never stops a batch: it becomes a row
that says why it was skipped.

Zip archives are read defensively (:class:`ArchiveLimits`): the entry count is read from the archive's end record
before its directory is parsed (a million-entry archive is refused cheaply), members are read with a hard byte cap
that ignores what the archive *claims* their size is (zip bombs), entries with absolute or ``..`` paths are skipped
with a reason, archives inside archives are not opened, encrypted members are refused, and operating-system litter
(``__MACOSX/``, ``.DS_Store``, ``Thumbs.db``) is ignored.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from lightning_module import risk
from lightning_module.data.imaging import SUPPORTED_SUFFIXES, PhotoError, PreparedPhoto, load_upright
from lightning_module.evaluation.explain import Explanation, explain
from lightning_module.evaluation.familiarity import Familiarity, FamiliarityReference, check

ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
_OS_LITTER = {".ds_store", "thumbs.db", "desktop.ini"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DISPLAY_SIDE = 720  # the upright photo shown beside the heatmap: a cheap JPEG draft decode at phone sizes
THUMBNAIL_SIDE = 96


@dataclass(frozen=True)
class ArchiveLimits:
    """How much of a zip archive TreeRisk will read."""

    max_members: int = 1000  # photos read from one archive; the rest are reported, not read
    max_declared_entries: int = 20_000  # more entries than this and the archive is refused unread
    max_member_bytes: int = 100 * 1024 * 1024  # one unpacked photo
    max_total_bytes: int = 1024 * 1024 * 1024  # all unpacked photos of one archive together


MAX_BATCH_PHOTOS = 2000  # photos in one batch, all uploads and archives together


@dataclass
class Upload:
    """One uploaded file: its name (a label only) and its bytes."""

    name: str
    data: bytes


@dataclass
class BatchItem:
    """One photo to screen: a loader for its bytes, or the reason it cannot be screened."""

    name: str
    read: Callable[[], bytes] | None = None
    error: str | None = None


@dataclass
class PhotoAssessment:
    """Everything the dashboard shows for one photo (the risk rating is computed from it on demand)."""

    name: str
    photo: PreparedPhoto  # the model input and how it was cut from the original
    shown: Image.Image  # the upright photo, small enough to show
    classes: list[str]
    probabilities: np.ndarray
    predicted_class: str
    familiarity: Familiarity
    explanation: Explanation | None  # None when screening without heatmaps
    gps: tuple[float, float] | None  # (latitude, longitude) from EXIF

    def rating(self, likelihood_of_impact: str, consequences: str) -> risk.RiskAssessment:
        """The ISA rating for the chosen target and consequences (raises ``risk.RatingUnavailable``)."""
        return risk.assess(self.classes, self.probabilities, likelihood_of_impact, consequences)


@dataclass
class ScreeningRow:
    """One line of the batch table: a result, or the reason there is none."""

    index: int
    name: str
    ok: bool
    reason: str = ""
    predicted_class: str = ""
    confidence: float = float("nan")
    probabilities: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # short labels: "low confidence", "unfamiliar", "too small"
    warning_text: list[str] = field(default_factory=list)  # the full sentences
    latitude: float | None = None
    longitude: float | None = None
    thumbnail: str = ""  # data: URI of a small JPEG, "" for failed rows
    rating: str = ""  # filled by apply_rating
    rating_probabilities: dict[str, float] = field(default_factory=dict)


def display_name(name: str, limit: int = 120) -> str:
    """A file name made safe to show: no control characters, bounded length."""
    clean = _CONTROL.sub("?", str(name)).strip() or "(unnamed)"
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def assess_photo(
    predictor: Any,
    data: bytes,
    name: str = "photo",
    reference: FamiliarityReference | None = None,
    with_heatmap: bool = True,
    display_side: int = DISPLAY_SIDE,
) -> PhotoAssessment:
    """Decode, predict, explain and check one photo. Raises ``PhotoError`` with the reason for a bad file."""
    photo = predictor.prepare(data)
    if with_heatmap:
        explanation = explain(predictor, photo)
        probabilities, logits = explanation.probabilities, explanation.logits
    else:
        import torch

        explanation = None
        with torch.inference_mode():
            logit_tensor = predictor.network(predictor.input_tensor(photo))[0].float()
        probabilities, logits = torch.softmax(logit_tensor, 0).numpy(), logit_tensor.numpy()
    shown = load_upright(data, max_side=display_side)
    top = int(np.argmax(probabilities))
    return PhotoAssessment(
        name=display_name(name),
        photo=photo,
        shown=shown,
        classes=list(predictor.classes),
        probabilities=np.asarray(probabilities, dtype=np.float64),
        predicted_class=predictor.classes[top],
        familiarity=check(probabilities, logits, photo, predictor.image_size, reference),
        explanation=explanation,
        gps=gps_position(data),
    )


# ---------------------------------------------------------------------------------------------------- archives


def _suffix(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def _declared_entries(data: bytes) -> tuple[int, int] | None:
    """(entry count, central directory bytes) from the zip's end record, read without parsing the directory."""
    try:
        record = zipfile._EndRecData(io.BytesIO(data))  # type: ignore[attr-defined]  # stable since Python 2
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    if not record:
        return None
    return int(record[zipfile._ECD_ENTRIES_TOTAL]), int(record[zipfile._ECD_SIZE])  # type: ignore[attr-defined]


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


# ---------------------------------------------------------------------------------------------------- screening


def _warning_labels(familiarity: Familiarity) -> list[str]:
    labels = []
    if familiarity.too_small:
        labels.append("too small")
    if familiarity.unfamiliar:
        labels.append("unfamiliar")
    if familiarity.low_confidence:
        labels.append("low confidence")
    return labels


def thumbnail_uri(image: Image.Image, side: int = THUMBNAIL_SIDE) -> str:
    """A small JPEG of ``image`` as a ``data:`` URI (for tables and self-contained reports)."""
    small = image.convert("RGB")
    small.thumbnail((side, side), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def screen(
    predictor: Any,
    items: Sequence[BatchItem],
    reference: FamiliarityReference | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[ScreeningRow]:
    """One row per item. ``progress(done, total, name)`` is called after each. Bad files become error rows."""
    rows: list[ScreeningRow] = []
    total = len(items)
    for index, item in enumerate(items):
        rows.append(_screen_one(predictor, index, item, reference))
        if progress is not None:
            progress(index + 1, total, item.name)
    return rows


def _screen_one(predictor: Any, index: int, item: BatchItem, reference: FamiliarityReference | None) -> ScreeningRow:
    if item.read is None:
        return ScreeningRow(index, item.name, ok=False, reason=item.error or "not readable")
    try:
        result = assess_photo(predictor, item.read(), item.name, reference, with_heatmap=False,
                              display_side=THUMBNAIL_SIDE)
    except PhotoError as error:
        return ScreeningRow(index, item.name, ok=False, reason=str(error))
    except MemoryError:
        return ScreeningRow(index, item.name, ok=False, reason="too large to decode in the memory available")
    lat, lon = result.gps if result.gps else (None, None)
    return ScreeningRow(
        index=index,
        name=item.name,
        ok=True,
        predicted_class=result.predicted_class,
        confidence=float(result.probabilities.max()),
        probabilities={c: float(p) for c, p in zip(result.classes, result.probabilities)},
        warnings=_warning_labels(result.familiarity),
        warning_text=list(result.familiarity.warnings),
        latitude=lat,
        longitude=lon,
        thumbnail=thumbnail_uri(result.shown),
    )


def apply_rating(rows: Sequence[ScreeningRow], likelihood_of_impact: str, consequences: str) -> str | None:
    """Fill each good row's ISA rating for the chosen target and consequences.

    Returns None, or the reason no rating is possible (the model's classes are not ISA categories); the rows then
    read "n/a".
    """
    good = [row for row in rows if row.ok]
    try:
        if good:
            risk.failure_categories(list(good[0].probabilities))
    except risk.RatingUnavailable as error:
        for row in good:
            row.rating, row.rating_probabilities = "n/a", {}
        return str(error)
    for row in good:
        rated = risk.assess(list(row.probabilities), list(row.probabilities.values()), likelihood_of_impact, consequences)
        row.rating, row.rating_probabilities = rated.rating, rated.rating_probabilities
    return None


# ---------------------------------------------------------------------------------------------------- location


def _rational(value: Any) -> float:
    if isinstance(value, tuple) and len(value) == 2:  # (numerator, denominator) from older EXIF writers
        return float(value[0]) / float(value[1])
    return float(value)


def _degrees(dms: Any, ref: Any, negative: str) -> float | None:
    try:
        parts = [_rational(v) for v in dms]
        if len(parts) != 3:
            return None
        degrees = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    reference = ref.decode("ascii", "ignore") if isinstance(ref, bytes) else str(ref or "")
    return -degrees if reference.strip().upper().startswith(negative) else degrees


def gps_position(data: bytes) -> tuple[float, float] | None:
    """(latitude, longitude) in decimal degrees from a photo's EXIF GPS block, or None when absent or invalid."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            gps = image.getexif().get_ifd(0x8825)
    except Exception:  # a photo's metadata is untrusted; no location is the safe answer
        return None
    if not gps or 2 not in gps or 4 not in gps:
        return None
    lat = _degrees(gps.get(2), gps.get(1), "S")
    lon = _degrees(gps.get(4), gps.get(3), "W")
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if abs(lat) > 90 or abs(lon) > 180 or (lat == 0 and lon == 0):  # (0, 0) is a camera's placeholder, not a tree
        return None
    return round(lat, 7), round(lon, 7)


# ---------------------------------------------------------------------------------------------------- exports


def _safe_cell(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas; a file name must stay text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def rows_to_csv(rows: Sequence[ScreeningRow], classes: Sequence[str], likelihood_of_impact: str, consequences: str) -> str:
    """The batch as CSV: one line per file, good or bad, with the chosen target and consequences on each line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["file", "status", "predicted_class", "confidence", "rating", "likelihood_of_impact", "consequences"]
    header += [f"p_{c}" for c in classes] + [f"p_rating_{r}" for r in risk.RISK_RATINGS]
    header += ["warnings", "latitude", "longitude", "problem"]
    writer.writerow(header)
    for row in rows:
        line: list[Any] = [_safe_cell(row.name), "ok" if row.ok else "error"]
        if row.ok:
            line += [row.predicted_class, f"{row.confidence:.4f}", row.rating, likelihood_of_impact, consequences]
            line += [f"{row.probabilities.get(c, 0.0):.4f}" for c in classes]
            line += [f"{row.rating_probabilities[r]:.4f}" if row.rating_probabilities else "" for r in risk.RISK_RATINGS]
            line += ["; ".join(row.warning_text)]
        else:
            line += ["", "", "", "", ""] + [""] * (len(classes) + len(risk.RISK_RATINGS)) + [""]
        line += ["" if row.latitude is None else row.latitude, "" if row.longitude is None else row.longitude]
        line += [_safe_cell(row.reason)]
        writer.writerow(line)
    return buffer.getvalue()


def rows_to_geojson(rows: Sequence[ScreeningRow], likelihood_of_impact: str, consequences: str) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the photos that carry a GPS position (longitude first, as GeoJSON wants)."""
    features = []
    for row in rows:
        if not row.ok or row.latitude is None or row.longitude is None:
            continue
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [row.longitude, row.latitude]},
            "properties": {
                "file": row.name,
                "predicted_class": row.predicted_class,
                "confidence": round(row.confidence, 4),
                "rating": row.rating,
                "likelihood_of_impact": likelihood_of_impact,
                "consequences": consequences,
                "probabilities": {k: round(v, 4) for k, v in row.probabilities.items()},
                "warnings": row.warnings,
            },
        })
    return {"type": "FeatureCollection", "features": features}


def geojson_text(rows: Sequence[ScreeningRow], likelihood_of_impact: str, consequences: str) -> str:
    return json.dumps(rows_to_geojson(rows, likelihood_of_impact, consequences), indent=1, ensure_ascii=False)


def rows_table(rows: Sequence[ScreeningRow]) -> list[dict[str, Any]]:
    """Plain records for the dashboard's table (one dict per row, display column names; "" where nothing applies)."""
    return [
        {
            "Photo": row.thumbnail or NO_THUMBNAIL,
            "File": row.name,
            "Class": row.predicted_class,
            "Confidence": row.confidence if row.ok else None,
            "Rating": row.rating,
            # Warnings of a rated photo, or why a file could not be read: one column, so the reason is never cut off.
            "Notes": ", ".join(row.warnings) if row.ok else f"Not read: {row.reason}",
        }
        for row in rows
    ]


def _placeholder_thumbnail() -> str:
    """A small grey tile with a cross: the thumbnail of a file that could not be read."""
    from PIL import ImageDraw

    tile = Image.new("RGB", (48, 48), (236, 238, 236))
    draw = ImageDraw.Draw(tile)
    draw.line((16, 16, 32, 32), fill=(150, 40, 40), width=3)
    draw.line((32, 16, 16, 32), fill=(150, 40, 40), width=3)
    return thumbnail_uri(tile, 48)


NO_THUMBNAIL = _placeholder_thumbnail()
