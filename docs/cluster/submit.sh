#!/bin/bash
# Submits the shards as one Slurm array, then the evaluation, which starts when all shards succeeded.
#   MODEL=runs/x/model DATA=/data/screen OUT=/scratch/emb EVAL_OUT=/scratch/eval SHARDS=64 docs/cluster/submit.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${SHARDS:=8}"
export SHARDS
array=$(sbatch --parsable --array=0-$((SHARDS - 1)) --export=ALL "$here/embed-shards.sbatch")
sbatch --dependency=afterok:"$array" --export=ALL "$here/evaluate.sbatch"
