"""Multi-node training with torchrun: two nodes (node ranks 0 and 1, each its own ``scripts/train_multinode.sh``)
on this one machine, rendezvous on 127.0.0.1, one CPU process per node over gloo.

The run must write one run directory (global rank 0), count every validation photo exactly once, and its
confusion matrix must be the one a single process computes from the checkpoint it saved (tests/test_ddp.py does
the same for one node with two processes). About a minute; ``make test-cluster``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cluster_engines import DDP_FIT_ARGUMENTS, REPO, assert_distributed_run_matches_one_process, free_ports
from conftest import make_photo_folder

pytestmark = [
    pytest.mark.skipif(not os.environ.get("TREERISK_CLUSTER_TESTS"), reason="cluster tests run with `make test-cluster`"),
    pytest.mark.slow,
    pytest.mark.timeout(1200),
]


def test_two_nodes_train_like_one_process(tmp_path) -> None:
    # 44 photos: an odd validation split, which two processes cannot share evenly.
    photos = make_photo_folder(tmp_path / "photos", per_class=(22, 11, 11))
    (port,) = free_ports(1)
    arguments = ["--data.source", str(photos), *DDP_FIT_ARGUMENTS,
                 "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
                 "--trainer.logger.init_args.name", "two_nodes"]  # fmt: skip
    environment = {**os.environ, "NNODES": "2", "NPROC_PER_NODE": "1", "MASTER_ADDR": "127.0.0.1",
                   "MASTER_PORT": str(port), "CONFIG": "configs/default.yaml", "PYTHON": sys.executable}  # fmt: skip
    nodes = [
        subprocess.Popen(["bash", str(REPO / "scripts" / "train_multinode.sh"), *arguments], cwd=tmp_path,
                         env={**environment, "NODE_RANK": str(rank)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)  # fmt: skip
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=900)[0] for node in nodes]
    for rank, (node, output) in enumerate(zip(nodes, outputs)):
        assert node.returncode == 0, f"node {rank} failed:\n{output[-4000:]}"
    runs = sorted((tmp_path / "runs" / "two_nodes").glob("version_*"))
    assert len(runs) == 1, f"both nodes must share one run directory, found {runs}"
    assert_distributed_run_matches_one_process(runs[0])
