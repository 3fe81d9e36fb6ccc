#!/usr/bin/env bash
# Super-resolve a BIDS dataset on a Slurm cluster: one array trains a model per protocol, a second array
# (started when the first has finished) super-resolves the scans, a last job writes the group summary.
# Usage: bash examples/bids_slurm.sh /data/study /data/study/derivatives/mrisr
set -euo pipefail
raw=$1 out=$2
protocols=4   # array tasks that train (at most one per protocol does work)
tasks=50      # array tasks that super-resolve
train=$(sbatch --parsable --array=0-$((protocols - 1)) --cpus-per-task=4 --time=02:00:00 \
  --wrap "mrisr bids $raw $out participant --stage train --shard \$SLURM_ARRAY_TASK_ID/$protocols -q")
infer=$(sbatch --parsable --dependency=afterok:$train --array=0-$((tasks - 1)) --cpus-per-task=2 --time=01:00:00 \
  --wrap "mrisr bids $raw $out participant --stage infer --shard \$SLURM_ARRAY_TASK_ID/$tasks -q")
sbatch --dependency=afterany:$infer --wrap "mrisr bids $raw $out group"
