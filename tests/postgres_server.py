"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temporary data folder, a free port.

``with postgres_server() as url:`` installs Debian's ``postgresql`` first when it is missing and this runs as root
(``scripts/install_postgres.sh``), runs ``initdb`` and ``pg_ctl start`` as the ``postgres`` user (PostgreSQL
refuses to run as root) on a folder of its own, and stops exactly that server (``pg_ctl stop -D <its folder>``)
afterwards; no other PostgreSQL on the machine is touched. When the server cannot be had, :class:`Unavailable`
says why, and the tests skip with that reason. ``fresh_database(url)`` gives each test an empty database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = REPO / "scripts" / "install_postgres.sh"
SERVER_USER = "postgres"
SUPERUSER = "treerisk"


class Unavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why."""


def server_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl, else None."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parts[-3].isdigit()]
    found.sort(key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def ensure_installed() -> Path:
    binaries = server_binaries()
    if binaries is None and os.geteuid() == 0 and INSTALL_SCRIPT.is_file():
        subprocess.run(["bash", str(INSTALL_SCRIPT)], timeout=900, check=False)
        binaries = server_binaries()
    if binaries is None:
        raise Unavailable("PostgreSQL's server is not installed and could not be installed here "
                          "(run scripts/install_postgres.sh as root, or apt-get install postgresql)")
    return binaries


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        raise Unavailable("running as root without `runuser`, so PostgreSQL cannot be started as another user")
    try:
        import pwd

        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise Unavailable(f"running as root and there is no '{SERVER_USER}' user to run PostgreSQL as") from None
    return ["runuser", "-u", SERVER_USER, "--", *command]


def _run(command: list[str], timeout: float = 120) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise Unavailable(f"{Path(command[command.index('--') + 1] if '--' in command else command[0]).name} failed: "
                          f"{(result.stderr or result.stdout).strip()[-500:]}")


@contextmanager
def postgres_server() -> Iterator[str]:
    """A running server for the duration of the block; yields a ``postgresql://`` URL of its ``postgres`` database."""
    binaries = ensure_installed()
    folder = Path(tempfile.mkdtemp(prefix="treerisk-pg-"))
    data = folder / "data"
    started = False
    try:
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam(SERVER_USER)
            os.chown(folder, user.pw_uid, user.pw_gid)
        _run(_as_server_user([str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                              "-E", "UTF8", "--no-sync"]))
        for _ in range(3):  # another program may take the free port between the probe and the start
            port = _free_port()
            options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
            try:
                _run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
                                      "-o", options, "-w", "-t", "60", "start"]), timeout=90)
            except Unavailable:
                continue
            started = True
            break
        if not started:
            log = (folder / "server.log").read_text(errors="replace")[-500:] if (folder / "server.log").exists() else ""
            raise Unavailable(f"pg_ctl could not start PostgreSQL: {log}")
        yield f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
    finally:
        if started:
            # "immediate": no shutdown checkpoint, since the folder is thrown away next.
            subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=60, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server; returns its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"
