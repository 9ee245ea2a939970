#!/usr/bin/env bash
# Train one run across several machines with torchrun. Start this script on every machine, with the same
# MASTER_ADDR (the address of the machine with NODE_RANK=0), MASTER_PORT and NNODES, and its own NODE_RANK:
#
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 scripts/train_multinode.sh                  # on 10.0.0.1
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 scripts/train_multinode.sh                  # on the other one
#
# Extra arguments go to `fit`, e.g. --data.source /shared/photos --trainer.max_epochs 40.
# One process per GPU by default; NPROC_PER_NODE sets it (on CPUs, with --trainer.accelerator cpu and a config
# without GPU options, e.g. CONFIG=configs/default.yaml NPROC_PER_NODE=1 ... --trainer.strategy ddp).
# tests/test_cluster_torchrun.py runs two "nodes" on one machine this way, over gloo on 127.0.0.1.
# The run directory (runs/<name>/version_<n>) is written by global rank 0 only; put runs/ and the data on a
# file system all machines see if you want to resume from another machine.
# Resume after a crash: the same command with --config runs/<name>/version_<n>/config.yaml --ckpt_path last
set -euo pipefail

NNODES="${NNODES:-1}"
NODE_RANK="${NODE_RANK:-0}"
MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"
MASTER_PORT="${MASTER_PORT:-29500}"
NPROC_PER_NODE="${NPROC_PER_NODE:-${GPUS_PER_NODE:-$(nvidia-smi --list-gpus 2>/dev/null | wc -l)}}"
CONFIG="${CONFIG:-configs/ddp_gpu.yaml}"
PYTHON="${PYTHON:-.venv/bin/python}"

if [ "$NPROC_PER_NODE" -lt 1 ]; then
  echo "No GPU found on $(hostname): set NPROC_PER_NODE, and train on CPU with --trainer.accelerator cpu" >&2
  exit 1
fi

cd "$(dirname "$0")/.."
exec "$PYTHON" -m torch.distributed.run \
  --nnodes "$NNODES" --node_rank "$NODE_RANK" --nproc_per_node "$NPROC_PER_NODE" \
  --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" \
  -m lightning_module fit --config "$CONFIG" \
  --trainer.num_nodes "$NNODES" --trainer.devices "$NPROC_PER_NODE" "$@"
