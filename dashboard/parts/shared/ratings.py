"""What the Label and Agreement pages share: the ratings database, the demo, the photo set shown, the model.

The database is opened once per server process and URL (``st.cache_resource``); every session shares its
connection pool, and every rating is its own transaction, so two raters in two browser tabs never wait on or
overwrite each other. The demo (the built-in photos rated by three simulated raters) is seeded the first time
either page opens a database that has no photo set yet, and once per process otherwise; seeding is idempotent.
"""

from __future__ import annotations

import io
from pathlib import Path

import streamlit as st
from PIL import Image, ImageOps, UnidentifiedImageError

from dashboard.parts.shared.models import CheckpointChoice, available_checkpoints, cache_key, cached_predictor
from dashboard.parts.shared.paths import data_dir
from lightning_module.labelling.database import LabelDatabase, LabelDatabaseError, database_url, open_database
from lightning_module.labelling.demo import ensure_demo
from lightning_module.labelling.model_opinion import ModelOpinion, model_opinion, seen_warning
from lightning_module.labelling.ratings import PhotoSet, photo_sets, photos_of
from lightning_module.models.checkpoints import CheckpointError

SET_KEY = "labelling_set"  # the photo set chosen, shared by both pages
SCREEN_SIDE = 1280  # photos are shown at most this wide: a phone photo is ten times the bytes and looks the same


@st.cache_resource(show_spinner=False)
def _database(url: str) -> LabelDatabase:
    return open_database(url)


@st.cache_resource(show_spinner="Preparing the built-in photos and three simulated raters (first time only)…")
def _demo(url: str, folder: str) -> PhotoSet:
    return ensure_demo(_database(url), folder)


def database() -> LabelDatabase:
    """The ratings database, with the demo in it; stops the page with the reason when it cannot be opened."""
    url = database_url(data_dir())
    try:
        db = _database(url)
        _demo(url, str(data_dir()))
    except LabelDatabaseError as error:
        st.error(f"**The ratings database cannot be used.** {error}", icon=":material/database:")
        st.stop()
    return db


@st.cache_data(max_entries=32, show_spinner=False)
def _screen_photo(path: str, mtime: float) -> bytes | None:
    """The photo upright and at most SCREEN_SIDE wide, as JPEG; None when it cannot be read."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail((SCREEN_SIDE, SCREEN_SIDE))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=88)
            return out.getvalue()
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def screen_photo(path: Path) -> bytes | None:
    """The photo upright and at most SCREEN_SIDE wide, as JPEG (cached per file and modification time)."""
    try:
        mtime = Path(path).stat().st_mtime
    except OSError:
        return None
    return _screen_photo(str(path), mtime)


def simulated_note() -> None:
    st.caption(":material/smart_toy: Raters whose names end in **(simulated)** are not people: they are the demo's "
               "noise models over the synthetic photos (docs/LABELLING.md), there so the pages show something on a "
               "fresh machine.")


def rater_name(name: str, simulated: bool) -> str:
    return f"🤖 {name}" if simulated else name


def choose_set(db: LabelDatabase, sets: list[PhotoSet] | None = None, label: str = "Photo set") -> PhotoSet:
    """A select box over the registered photo sets (the last chosen one first)."""
    sets = sets if sets is not None else photo_sets(db)
    by_id = {s.id: s for s in sets}
    ids = list(by_id)
    chosen = st.session_state.get(SET_KEY)
    index = ids.index(chosen) if chosen in by_id else 0
    picked = st.selectbox(label, ids, index=index, format_func=lambda i: f"{by_id[i].title} · {by_id[i].photos} photos")
    st.session_state[SET_KEY] = picked
    return by_id[picked]


@st.cache_resource(max_entries=8, show_spinner="The model is rating every photo of the set…")
def _opinion(path: str, mtime: float, set_id: int, photos: int, _db: LabelDatabase, _photo_set: PhotoSet) -> ModelOpinion:
    return model_opinion(cached_predictor(path, mtime), photos_of(_db, _photo_set))


def choose_model(key: str, label: str = "Model") -> CheckpointChoice | None:
    choices = available_checkpoints()
    if not choices:
        st.info("No model to compare: no bundled checkpoint and no finished training run.", icon=":material/info:")
        return None
    labels = [c.label for c in choices]
    picked = st.selectbox(label, labels, key=key, help="A bundled model, or the best checkpoint of a finished run.")
    return choices[labels.index(picked)]


def opinion_of(choice: CheckpointChoice, db: LabelDatabase, photo_set: PhotoSet) -> ModelOpinion | None:
    """The model's opinion of every photo of the set (cached per checkpoint and set); None, with the reason shown,
    when the checkpoint cannot be used."""
    try:
        path, mtime = cache_key(choice.path)
        opinion = _opinion(path, mtime, photo_set.id, photo_set.photos, db, photo_set)
        warning = seen_warning(cached_predictor(path, mtime), Path(photo_set.root))
    except CheckpointError as error:
        st.error(f"This checkpoint cannot be used: {error}", icon=":material/error:")
        return None
    if warning:
        st.warning(warning, icon=":material/visibility:")
    if opinion.unreadable:
        st.caption(f"The model could not read {len(opinion.unreadable)} photo(s): {'; '.join(opinion.unreadable[:3])}")
    return opinion
