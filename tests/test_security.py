"""Misuse: checkpoints that would run code, names and paths that try to leave the runs folder, uploads that try
to land on disk, and a dashboard that would listen on the network by default.

Already covered elsewhere and not repeated here: a pickled object in a checkpoint (``torch.save`` of a class
with ``__reduce__``) and a bare pickle file (tests/test_training_run.py), run names such as ``../escape`` and
``/etc`` (``validate_run_name``, same file), ``find_run`` with ``..`` (tests/test_runs_store.py).
"""

from __future__ import annotations

import io
import pickle
import pickletools
import socket
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_runs as fx  # noqa: E402

from lightning_module.__main__ import main as cli  # noqa: E402
from lightning_module.assessment.archives import Upload, batch_items, display_name  # noqa: E402
from lightning_module.assessment.screening import screen  # noqa: E402
from lightning_module.models.checkpoints import CheckpointError, read_checkpoint  # noqa: E402
from lightning_module.evaluation.predictor import load_predictor  # noqa: E402
from lightning_module.models.classifier import LikelihoodOfFailureClassifier  # noqa: E402
from lightning_module.reliability.fuzz_inputs import base_photo, encode  # noqa: E402
from lightning_module.runs import launcher, store  # noqa: E402
from lightning_module.runs.launcher import LaunchError, TrainingRequest  # noqa: E402
from lightning_module.training.run_files import validate_run_name  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")]


# ------------------------------------------------------------------------------------------------ checkpoints
def _os_system_pickle(marker: Path) -> bytes:
    """Protocol-2 pickle that calls ``os.system("touch <marker>")`` when loaded: GLOBAL + REDUCE, no class needed."""
    command = f"touch {marker}".encode()
    payload = b"\x80\x02cposix\nsystem\nq\x00X" + len(command).to_bytes(4, "little") + command + b"q\x01\x85q\x02Rq\x03."
    pickletools.dis(payload, out=io.StringIO())  # well-formed
    return payload


def _zip_checkpoint(data_pkl: bytes) -> bytes:
    """A file in PyTorch's zip format whose ``data.pkl`` is ``data_pkl``: what ``torch.load`` opens first."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("evil/data.pkl", data_pkl)
        archive.writestr("evil/byteorder", "little")
        archive.writestr("evil/version", "3\n")
    return buffer.getvalue()


@pytest.fixture()
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "the crafted pickle ran its command"


@pytest.fixture()
def evil_zip_checkpoint(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "evil.ckpt"
    path.write_bytes(_zip_checkpoint(_os_system_pickle(marker)))
    with pytest.raises(pickle.UnpicklingError):  # the fixture is what it claims: torch's zip format, refused by torch
        torch.load(path, weights_only=True)
    assert not marker.exists()
    return path


def test_zip_checkpoint_with_a_crafted_data_pkl_is_refused(evil_zip_checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match=r"Refused to load .*\(posix.system\), which could run code"):
        read_checkpoint(evil_zip_checkpoint)
    with pytest.raises(CheckpointError, match="Refused to load"):
        load_predictor(evil_zip_checkpoint)


def test_lightning_loading_paths_refuse_it_too(evil_zip_checkpoint: Path) -> None:
    with pytest.raises(pickle.UnpicklingError):
        LikelihoodOfFailureClassifier.load_from_checkpoint(evil_zip_checkpoint)  # Lightning's default: weights only
    with pytest.raises(CheckpointError, match="Refused to load"):  # transfer learning from "one of our checkpoints"
        LikelihoodOfFailureClassifier(class_names=["a", "b"], pretrained=str(evil_zip_checkpoint))


def test_resuming_from_it_is_refused_with_one_line(evil_zip_checkpoint: Path, photo_folder: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    status = cli(["fit", f"--data.source={photo_folder}", "--data.image_size=32", "--trainer.max_epochs=1",
                  "--trainer.enable_progress_bar=false", f"--trainer.logger.init_args.save_dir={tmp_path / 'runs'}",
                  f"--ckpt_path={evil_zip_checkpoint}"])
    assert status == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        "error: ckpt_path: refused to load the checkpoint: it contains Python objects")


def test_a_renamed_zip_bomb_is_not_unpacked(tmp_path: Path) -> None:
    """A 'checkpoint' that is a zip of a gigabyte of zeros is refused without inflating it into memory."""
    path = tmp_path / "bomb.ckpt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("bomb/data.pkl", "w") as member:
            block = bytes(1 << 20)
            for _ in range(1024):
                member.write(block)
    assert path.stat().st_size < 5_000_000
    with pytest.raises(CheckpointError):
        read_checkpoint(path)


# ------------------------------------------------------------------------------------------------ run names and paths
@pytest.mark.parametrize("name", ["..", "../x", "x/../../y", "/abs", "\\\\server\\share", "C:\\runs", "a\x00b", "~root",
                                  "-rf", " lead", "name with space"])
def test_run_names_that_are_not_one_plain_folder_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        validate_run_name(name)


def test_a_trailing_newline_is_not_a_valid_run_name() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        validate_run_name("tiny\n")


def _outside_run(tmp_path: Path) -> tuple[Path, Path]:
    """A runs folder whose entry ``escape`` is a symlink to a run folder outside it."""
    outside = tmp_path / "outside"
    fx.finished_run(outside, name="secret")
    root = tmp_path / "runs"
    fx.finished_run(root, name="inside")
    (root / "escape").symlink_to(outside / "secret", target_is_directory=True)
    return root, outside


def test_a_symlink_in_the_runs_folder_does_not_lead_outside_it(tmp_path: Path) -> None:
    root, _ = _outside_run(tmp_path)
    assert store.find_run(root, "escape/version_0") is None
    assert [r.run_id for r in store.list_runs(root)] == ["inside/version_0"]


def test_run_ids_typed_in_a_url_stay_inside(tmp_path: Path) -> None:
    root, outside = _outside_run(tmp_path)
    for run_id in ("../outside/secret/version_0", "/etc/version_0", f"{outside}/secret/version_0", "inside/../inside/version_0",
                   "inside/version_0/../../../outside", "inside\\version_0", "inside/version_0\x00"):
        assert store.find_run(root, run_id) is None, run_id
    assert store.find_run(root, "inside/version_0") is not None


def _tiny(folder: Path, name: str) -> TrainingRequest:
    return TrainingRequest(run_name=name, data_kind="folder", data_path=str(folder), image_size=32, batch_size=8,
                           max_epochs=1)


def test_starting_a_run_never_writes_outside_the_runs_folder(tmp_path: Path, photo_folder: Path) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "shared").symlink_to(outside, target_is_directory=True)
    try:
        with pytest.raises(LaunchError):
            launcher.start_training(_tiny(photo_folder, "shared"), root)
    finally:
        created = list(outside.iterdir())
        for run_dir in created:  # stop anything that did start, so the test leaves no process behind
            try:
                launcher.stop_training(run_dir, timeout=10)
            except LaunchError:
                pass
    assert created == [], "nothing was written outside the runs folder"


@pytest.mark.parametrize("name", ["../escape", "/tmp/abs", "a/b"])
def test_the_launcher_refuses_escaping_names_before_creating_anything(name: str, tmp_path: Path, photo_folder: Path) -> None:
    root = tmp_path / "runs"
    with pytest.raises(LaunchError, match="not allowed"):
        launcher.start_training(_tiny(photo_folder, name), root)
    assert not root.exists() or not any(root.iterdir())
    assert not (tmp_path / "escape").exists() and not Path("/tmp/abs").exists()


# ------------------------------------------------------------------------------------------------ uploads
def test_uploads_are_never_written_to_disk_whatever_their_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Screening works on bytes in memory: a hostile upload name is a label, never a path."""
    workdir = tmp_path / "cwd" / "deeper"
    workdir.mkdir(parents=True)
    monkeypatch.chdir(workdir)
    photo = encode(base_photo(120, 90), "JPEG")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../../escaped.jpg", photo)
        bundle.writestr("/abs/escaped.jpg", photo)
        bundle.writestr("ok/tree.jpg", photo)
    uploads = [Upload("../../escaped.jpg", photo), Upload("/etc/cron.d/escaped.jpg", photo),
               Upload("..\\..\\escaped.jpg", photo), Upload("survey.zip", archive.getvalue())]
    before = {p for p in tmp_path.rglob("*")}

    class Constant:
        classes, image_size, color_mode = ["A", "B"], 32, "grayscale"

        def prepare(self, data):
            from lightning_module.data.imaging import load_square

            return load_square(data, 32)

        def prepare_views_overlapped(self, data, display_side, max_pixels):
            from lightning_module.data.imaging import load_views_overlapped

            return load_views_overlapped(data, 32, "grayscale", display_side, max_pixels)

        def input_tensor(self, prepared):
            return torch.zeros(1, 1, 32, 32)

        network = staticmethod(lambda tensor: torch.tensor([[0.0, 1.0]]))

    rows = screen(Constant(), batch_items(uploads))
    assert {p for p in tmp_path.rglob("*")} == before, "nothing appeared on disk"
    assert not Path("/etc/cron.d/escaped.jpg").exists()
    by_name = {row.name: row for row in rows}
    assert by_name["../../escaped.jpg"].ok, "the name is shown as it was given, as text"
    assert not by_name["survey.zip › ../../escaped.jpg"].ok and "unsafe path" in by_name["survey.zip › ../../escaped.jpg"].reason
    assert by_name["survey.zip › ok/tree.jpg"].ok
    assert display_name("evil\x1b[31m\r\nname.jpg") == "evil?[31m??name.jpg", "control characters cannot reach a terminal or log"


def test_dashboard_code_never_writes_uploads_to_disk() -> None:
    """The upload path reads ``getvalue()`` bytes only: no upload is saved, so none can outlive its request."""
    # Everything an upload passes through in the package: the assessment layer and the GPS reader.
    upload_code = [*sorted((REPO / "lightning_module" / "assessment").glob("*.py")),
                   REPO / "lightning_module" / "data" / "photo_gps.py"]
    sources = [*upload_code, *sorted((REPO / "dashboard").rglob("*.py"))]
    writers = ("write_bytes(", "NamedTemporaryFile", "mkstemp", ".save(", "open(")
    for source in sources:
        text = source.read_text()
        if "file_uploader" not in text and "Upload(" not in text and source not in upload_code:
            continue
        for line_number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if stripped.startswith("#"):
                continue
            for writer in writers:
                if writer in stripped and "buffer" not in stripped and "BytesIO" not in stripped and "archive.open" not in stripped:
                    pytest.fail(f"{source.relative_to(REPO)}:{line_number} may write to disk: {stripped}")


# ------------------------------------------------------------------------------------------------ serving
def test_dashboard_settings_are_safe_by_default() -> None:
    settings = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    server = settings.get("server", {})
    assert server.get("address") in ("localhost", "127.0.0.1"), "listen on this machine only unless told otherwise"
    assert server.get("enableXsrfProtection", True) is True and server.get("enableCORS", True) is True
    assert 0 < server.get("maxUploadSize", 200) <= 100, "an upload limit sized for phone photos"
    assert settings.get("browser", {}).get("gatherUsageStats") is False


def _lan_address() -> str | None:
    """This machine's non-loopback IPv4 address (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _can_connect(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_streamlit_listens_on_localhost_only(tmp_path: Path) -> None:
    """Started the documented way (from the project folder, as `make run` does).

    Started from any other folder Streamlit does not read .streamlit/config.toml and listens on every interface;
    the README says so, and `make run` passes --server.address localhost.
    """
    lan = _lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback address to try")
    from dashboard.serve import running_dashboard

    # address=None: no --server.address flag, so the listen address is the one .streamlit/config.toml sets.
    with running_dashboard(env={"TREERISK_RUNS_DIR": str(tmp_path / "runs")}, address=None, timeout=120) as app:
        assert _can_connect("127.0.0.1", app.port), "the dashboard answers on this machine"
        assert not _can_connect(lan, app.port), f"reachable from the network on {lan}:{app.port}"
