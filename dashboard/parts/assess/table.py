"""The batch table's records: one dict per screened row, with the column names the Assess page shows.

Only the dashboard draws this table, so its columns live here rather than in ``lightning_module``. The module does
not import Streamlit, so the records can be tested without a running page.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from PIL import Image, ImageDraw

from lightning_module.assessment.pictures import image_uri
from lightning_module.assessment.screening import ScreeningRow


@cache
def no_thumbnail() -> str:
    """A small grey tile with a cross: the thumbnail of a file that could not be read (drawn once, when needed)."""
    tile = Image.new("RGB", (48, 48), (236, 238, 236))
    draw = ImageDraw.Draw(tile)
    draw.line((16, 16, 32, 32), fill=(150, 40, 40), width=3)
    draw.line((32, 16, 16, 32), fill=(150, 40, 40), width=3)
    return image_uri(tile, 48, quality=80)


def rows_table(rows: Sequence[ScreeningRow]) -> list[dict[str, Any]]:
    """Plain records for the dashboard's table (one dict per row, display column names; "" where nothing applies)."""
    return [
        {
            "Photo": row.thumbnail or no_thumbnail(),
            "File": row.name,
            "Class": row.predicted_class,
            "Confidence": row.confidence if row.ok else None,
            "Rating": row.rating,
            # Ticked: the photo does not look like the model's training photos, so its rating is not to be trusted.
            "Unfamiliar": bool(row.unfamiliar) if row.ok else None,
            # Warnings of a rated photo, or why a file could not be read: one column, so the reason is never cut off.
            "Notes": ", ".join(row.warnings) if row.ok else f"Not read: {row.reason}",
        }
        for row in rows
    ]
