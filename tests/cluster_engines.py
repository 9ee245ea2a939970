"""Real cluster engines for the cluster tests, started on this machine and stopped again: a Ray head node and a
single-node Slurm (MUNGE, controller and node daemon).

Each engine lives in a temporary folder with its own generated configuration and free ports on 127.0.0.1, so it
never meets the machine's own services or another test run. Each is stopped by the process ids this module
started (a Ray head: the process group its ``ray start`` created, which holds every process of that node and
nothing else).

Run by hand to poke at one: ``python tests/cluster_engines.py slurm`` (or ``ray``) starts it, prints the
environment to use it, and stops it on Enter.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lightning_module import processes  # noqa: E402

PYTHON = sys.executable
RAY = str(Path(PYTHON).with_name("ray"))
SLURM_PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
SLURM_INSTALL_HINT = "make test-cluster installs slurm-wlm and munge (as root, with apt-get: scripts/cluster/install_slurm.sh)"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for handle in sockets:
            handle.bind(("127.0.0.1", 0))
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = "\n" + log.read_text(errors="replace")[-3000:] if log is not None and log.is_file() else ""
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s{tail}")
        time.sleep(0.5)


def _stop(pid: int, group: bool, grace: float) -> None:
    """SIGTERM to ``pid`` (or its process group), SIGKILL after ``grace`` seconds if it is still there."""
    send = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        send(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            send(pid, 0)
        except ProcessLookupError:
            return
        if not group and not processes.running(pid):
            return
        time.sleep(0.3)
    with contextlib.suppress(ProcessLookupError):
        send(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------- Ray
def ray_missing() -> str | None:
    """Why the Ray tests cannot run here, or None."""
    try:
        import ray  # noqa: F401
    except ImportError as error:
        return f"Ray is not installed ({error}); it is in requirements.txt"
    return None if Path(RAY).is_file() else f"{RAY} not found"


@dataclass(frozen=True)
class RayHead:
    address: str  # host:port, for --ray-address
    client_address: str  # ray://host:port
    folder: Path


# Ray on Linux announces the machine's network address even when told 127.0.0.1; this makes it use the loopback
# address (as it does on a laptop), so the tests' Ray traffic never leaves 127.0.0.1. Drivers need it too.
RAY_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
# The raylet gives Ray's dashboard agent 15 s (fixed) to start; on a machine starved of CPU it can miss that and
# the head start fails. Another try then usually succeeds, the agent's modules being in the page cache by then.
RAY_START_ATTEMPTS = 3


@contextlib.contextmanager
def ray_head(cpus: int = 2) -> Iterator[RayHead]:
    """A Ray head node with ``cpus`` CPUs on 127.0.0.1, as ``ray start --head`` makes one on a cluster."""
    problems = []
    for _ in range(RAY_START_ATTEMPTS):
        folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths must stay < 107 bytes
        gcs, client, metrics, agent_grpc, agent_http, runtime_env, node_manager, object_manager = free_ports(8)
        command = [RAY, "start", "--head", f"--num-cpus={cpus}", "--num-gpus=0", "--node-ip-address=127.0.0.1",
                   f"--port={gcs}", f"--ray-client-server-port={client}", f"--metrics-export-port={metrics}",
                   f"--dashboard-agent-grpc-port={agent_grpc}", f"--dashboard-agent-listen-port={agent_http}",
                   f"--runtime-env-agent-port={runtime_env}", f"--node-manager-port={node_manager}",
                   f"--object-manager-port={object_manager}", "--include-dashboard=false", "--disable-usage-stats",
                   f"--temp-dir={folder}"]  # fmt: skip
        environment = {**os.environ, **RAY_LOOPBACK, "RAY_agent_register_timeout_ms": "300000"}
        log = folder / "ray-start.log"
        started = processes.start(command, log, env=environment)  # a session of its own: every Ray process joins it
        try:
            wait_until(lambda: started.poll() is not None, 300, "ray start", log)
            if started.returncode == 0:
                yield RayHead(f"127.0.0.1:{gcs}", f"ray://127.0.0.1:{client}", folder)
                return
            problems.append(log.read_text(errors="replace")[-1500:])
        finally:
            _stop(started.pid, group=True, grace=10)
            shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError(f"ray start failed {RAY_START_ATTEMPTS} times; the last said:\n{problems[-1]}")


# ---------------------------------------------------------------------------------------------- Slurm
def slurm_missing() -> str | None:
    """Why the Slurm tests cannot run here, or None."""
    missing = [name for name in SLURM_PROGRAMS if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").is_file()]
    if missing:
        return f"{', '.join(missing)} not installed; {SLURM_INSTALL_HINT}"
    if os.geteuid() != 0:
        return "a private Slurm needs root here (its node daemon starts jobs as their users)"
    return None


@dataclass(frozen=True)
class SlurmCluster:
    folder: Path
    env: dict[str, str]  # the environment for sbatch, squeue, ... and for the grid: SLURM_CONF set
    cpus: int

    def run(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(list(command), env=self.env, capture_output=True, text=True, timeout=timeout)

    def jobs(self) -> list[str]:
        return self.run("squeue", "--noheader", "--format=%i %T").stdout.split("\n")[:-1]


SLURM_CONF = """\
# A private single-node Slurm for TreeRisk's cluster tests (tests/cluster_engines.py).
ClusterName=treerisk-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge/munge.socket
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=10
MinJobAge=600
SlurmctldTimeout=60
SlurmdTimeout=120
NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


@contextlib.contextmanager
def slurm_cluster(cpus: int | None = None) -> Iterator[SlurmCluster]:
    """MUNGE, ``slurmctld`` and ``slurmd`` for one node (this machine) with ``cpus`` CPUs, ready when ``sinfo``
    shows the node idle. Jobs still queued at the end are cancelled before the daemons stop."""
    cpus = cpus or os.cpu_count() or 2
    folder = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
    for sub in ("munge", "state", "spool"):
        (folder / sub).mkdir(mode=0o700)
    key = folder / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    host = socket.gethostname().split(".")[0]
    ctld_port, slurmd_port = free_ports(2)
    conf = folder / "slurm.conf"
    conf.write_text(SLURM_CONF.format(host=host, node="treerisk-node", folder=folder, cpus=cpus,
                                      ctld_port=ctld_port, slurmd_port=slurmd_port))  # fmt: skip
    env = {**os.environ, "SLURM_CONF": str(conf)}
    for variable in [v for v in env if v.startswith(("SLURM_", "SBATCH_", "SRUN_")) and v != "SLURM_CONF"]:
        del env[variable]  # a test run inside someone's Slurm job must not talk to that cluster
    started: list[int] = []
    try:
        munge = [_program("munged"), "--foreground", "--force", f"--key-file={key}",
                 f"--socket={folder}/munge/munge.socket", f"--pid-file={folder}/munge/munged.pid",
                 f"--log-file={folder}/munge/munged.log", f"--seed-file={folder}/munge/munged.seed"]  # fmt: skip
        started.append(processes.start(munge, folder / "munged.out", env=env).pid)
        wait_until(lambda: (folder / "munge" / "munge.socket").exists(), 60, "munged's socket", folder / "munged.out")
        started.append(processes.start([_program("slurmctld"), "-D", "-i", "-f", str(conf)], folder / "slurmctld.out", env=env).pid)
        started.append(processes.start([_program("slurmd"), "-D", "-N", "treerisk-node", "-f", str(conf)], folder / "slurmd.out", env=env).pid)
        cluster = SlurmCluster(folder, env, cpus)

        def node_idle() -> bool:
            for pid in started:
                if not processes.running(pid):
                    logs = "".join((folder / n).read_text(errors="replace")[-2000:] for n in ("slurmctld.log", "slurmd.log",
                                   "slurmctld.out", "slurmd.out") if (folder / n).is_file())  # fmt: skip
                    raise RuntimeError(f"a Slurm daemon (pid {pid}) ended while starting:\n{logs}")
            return cluster.run("sinfo", "--noheader", "--format=%t").stdout.strip() == "idle"

        wait_until(node_idle, 120, "the Slurm node becoming idle", folder / "slurmctld.log")
        yield cluster
    finally:
        if len(started) == 3 and processes.running(started[1]):
            with contextlib.suppress(Exception):
                subprocess.run(["scancel", "--full", "--user", "root"], env=env, capture_output=True, timeout=30)
                wait_until(lambda: not SlurmCluster(folder, env, cpus).jobs(), 60, "the cancelled jobs ending")
        for pid in reversed(started):  # node daemon, controller, then MUNGE
            _stop(pid, group=False, grace=20)
        shutil.rmtree(folder, ignore_errors=True)


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


if __name__ == "__main__":
    engine = sys.argv[1] if len(sys.argv) > 1 else "slurm"
    if engine == "ray":
        with ray_head() as head:
            print(f"Ray head at {head.address} ({head.client_address}); Enter stops it.")
            input()
    else:
        with slurm_cluster() as slurm:
            print(f"export SLURM_CONF={slurm.env['SLURM_CONF']}   # then sinfo, sbatch, squeue; Enter stops it.")
            input()


# ---------------------------------------------------------------------------------------------- the grids
TINY_GRID = REPO / "configs" / "grid_tiny.yaml"
# Columns of results.csv that measure time, not results: they differ from run to run on any executor.
TIME_COLUMNS = ("train_seconds", "cpu_seconds")
_local_reference: dict[str, Path] = {}


def grid_cli(*arguments: str, env: dict[str, str] | None = None, timeout: float = 1500) -> subprocess.CompletedProcess:
    """``python -m lightning_module grid --config configs/grid_tiny.yaml ARGUMENTS`` from the repository folder."""
    command = [PYTHON, "-m", "lightning_module", "grid", "--config", str(TINY_GRID), *arguments]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def local_tiny_grid(root: Path) -> Path:
    """The tiny grid run by the local executor into ``root/local`` (once per test session): the reference."""
    if "output" not in _local_reference:
        output = root / "local"
        result = grid_cli("--output", str(output), "--executor", "local")
        assert result.returncode == 0, f"the local grid failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        _local_reference["output"] = output
    return _local_reference["output"]


def assert_same_results(reference: Path, other: Path) -> None:
    """Both grids' results.csv and folds.csv hold the same numbers, timings aside."""
    import pandas as pd

    for name, drop in (("results.csv", TIME_COLUMNS), ("folds.csv", ("run_dir", "seconds", "cpu_seconds"))):
        expected, got = pd.read_csv(reference / name), pd.read_csv(other / name)
        expected = expected.drop(columns=[c for c in drop if c in expected.columns])
        got = got.drop(columns=[c for c in drop if c in got.columns])
        pd.testing.assert_frame_equal(expected, got, check_exact=True, obj=name)


# ---------------------------------------------------------------------------------------------- multi-process training
DDP_FIT_ARGUMENTS = ("--data.image_size", "32", "--data.batch_size", "4", "--trainer.accelerator", "cpu",
                     "--trainer.strategy", "ddp", "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false")  # fmt: skip


def single_process_confusion(run_dir: Path) -> list[list[int]]:
    """The validation confusion matrix of ``run_dir``'s last checkpoint, computed in this one process on the
    run's own validation split (its ``config.yaml``)."""
    import pytorch_lightning as pl
    import yaml

    from lightning_module.data.datamodule import TreeRiskDataModule
    from lightning_module.models.classifier import LikelihoodOfFailureClassifier

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    model = LikelihoodOfFailureClassifier.load_from_checkpoint(run_dir / "checkpoints" / "last.ckpt", map_location="cpu")
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.validate(model, datamodule=TreeRiskDataModule(**config["data"]), verbose=False)
    return model.last_val_confusion.astype(int).tolist()


def assert_distributed_run_matches_one_process(run_dir: Path, processes_: int = 2) -> None:
    """The run trained in ``processes_`` processes, wrote one run directory, counted every validation photo once,
    and its last confusion matrix is the one a single process computes from its checkpoint."""
    import json

    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished", record.get("error")
    assert record["device"] == f"cpu ({processes_} processes)"
    report = json.loads((run_dir / "data_report.json").read_text())
    val_size = sum(report["split_sizes"]["val"].values())
    last = max(int(p.stem.removeprefix("epoch_")) for p in (run_dir / "confusion").glob("epoch_*.json"))
    distributed = json.loads((run_dir / "confusion" / f"epoch_{last}.json").read_text())["matrix"]
    assert sum(map(sum, distributed)) == val_size, "every validation photo counted exactly once"
    assert single_process_confusion(run_dir) == distributed
