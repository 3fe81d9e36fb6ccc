#!/usr/bin/env bash
# The GPU quality check: mrisr's `gpu` preset on the Colin27 panels, and ECLARE 1.0.1 (the
# peer) on the noisy thick panel, every output scored by `mrisr evaluate` inside the head.
#
#   bash benchmarks/gpu_quality.sh DATA OUT [MINUTES] [PHASES]
#
# DATA holds the panels as `mrisr experiment` writes them (experiments/thick_planar_long.yaml and
# experiments/ablation_gaussian_1000.yaml, in results/*/data/), plus the HR template:
#   colin27_thick-1x1x4.nii.gz  colin27_thick-rician-1x1x4.nii.gz  colin27_hr_thick-1x1x4.nii.gz
#   colin27_gaussian-rician-2x2x2.nii.gz  colin27_hr_gaussian-rician-2x2x2.nii.gz  mni2009a.nii.gz
# PHASES (default "alone shared") runs, in that order:
#   alone   thick 1x1x4, seeds 0, 1 and 2 one after the other, each alone on the GPU: `mrisr train` +
#           `mrisr infer`, timed end to end (the target is <= 203 s, ECLARE's time on one H200).
#   shared  at once on the same GPU (so each run has a share of it only): ECLARE on the noisy thick scan
#           and the 3D unpaired model on Gaussian 2x2x2 + Rician 0.02 with the template (1.2 x MINUTES).
#   extra   at once: thick + Rician 0.01 and thick with the `cpu` preset, seed 0.
#   gaussian  the 3D model (the default: sinc/Gaussian settled from the spectra, cubic base, internal pairs)
#           on Gaussian 2x2x2 + Rician 0.02 with the template, seeds 0, 1 and 2, each alone.
# `run-eclare` must be on PATH (pip install eclare==1.0.1) for the ECLARE row. Each output is scored as soon
# as it is written. On one H100 (results/REPORT.md, "Thick slices on one H100") one thick run took 178 s at MINUTES 2.25 and
# ECLARE, sharing the GPU, needed more than 330 s.
set -uo pipefail
DATA=$(realpath "$1")
OUT=$(realpath -m "$2")
MINUTES=${3:-2.25}
PHASES=${4:-alone shared}
mkdir -p "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-3} PYTHONUNBUFFERED=1
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/timeline.txt"; }

score() {  # NAME LR: evaluate OUT/NAME.nii.gz (with the cubic baseline) into OUT/NAME.metrics.json
  [ -f "$OUT/$1.nii.gz" ] || return 0
  local truth=colin27_hr_${2#colin27_}
  truth=${truth/thick-rician/thick}  # both thick panels share one truth
  python3 -m mrisr evaluate --truth "$DATA/$truth" --lr "$DATA/$2" --pred "$1=$OUT/$1.nii.gz" \
    --out "$OUT/$1.metrics.json" --overwrite >"$OUT/$1.eval.log" 2>&1
}

# mrisr train + infer, timed, then scored; args: NAME LR SCALE(3) MINUTES SEED [extra train args]
mrisr_run() {
  local name=$1 lr=$2 sx=$3 sy=$4 sz=$5 minutes=$6 seed=$7
  shift 7
  local start=$SECONDS
  python3 -m mrisr train --lr "$DATA/$lr" --scale "$sx" "$sy" "$sz" --preset "${PRESET:-gpu}" --minutes "$minutes" \
    --seed "$seed" --out "$OUT/runs/$name" "$@" >"$OUT/$name.train.log" 2>&1 &&
    python3 -m mrisr infer --model "$OUT/runs/$name/model.pt" "$DATA/$lr" -o "$OUT/$name.nii.gz" \
      >"$OUT/$name.infer.log" 2>&1
  local rc=$?
  log "$name rc=$rc wall=$((SECONDS - start))s (train + infer)"
  score "$name" "$lr"
}

eclare_run() {
  local name=$1 lr=$2 start=$SECONDS
  timeout "${ECLARE_TIMEOUT:-480}" run-eclare --in-fpath "$DATA/$lr" --out-dir "$OUT/eclare_$name" --gpu-id 0 \
    >"$OUT/eclare_$name.log" 2>&1
  local rc=$?
  local result
  result=$(find "$OUT/eclare_$name" -name '*.nii*' | head -1)
  [ -n "$result" ] && mv "$result" "$OUT/eclare_$name.nii.gz"
  log "eclare_$name rc=$rc wall=$((SECONDS - start))s"
  score "eclare_$name" "$lr"
}

log "start on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || echo cpu); minutes $MINUTES"
for phase in $PHASES; do
  log "phase $phase"
  case $phase in
  alone)
    for seed in 0 1 2; do mrisr_run "thick_s$seed" colin27_thick-1x1x4.nii.gz 1 1 4 "$MINUTES" "$seed"; done
    ;;
  shared)
    command -v run-eclare >/dev/null && eclare_run thick-rician colin27_thick-rician-1x1x4.nii.gz &
    mrisr_run gaussian-rician_s0 colin27_gaussian-rician-2x2x2.nii.gz 2 2 2 \
      "$(python3 -c "print(1.2 * $MINUTES)")" 0 --hr "$DATA/mni2009a.nii.gz" &
    wait
    ;;
  extra)
    mrisr_run thick-rician_s0 colin27_thick-rician-1x1x4.nii.gz 1 1 4 "$MINUTES" 0 &
    PRESET=cpu mrisr_run thick-cpu_s0 colin27_thick-1x1x4.nii.gz 1 1 4 "$MINUTES" 0 &
    wait
    ;;
  gaussian)
    for seed in 0 1 2; do
      mrisr_run "gaussian-rician_s$seed" colin27_gaussian-rician-2x2x2.nii.gz 2 2 2 "$MINUTES" "$seed" \
        --hr "$DATA/mni2009a.nii.gz"
    done
    ;;
  *) log "unknown phase $phase" && exit 2 ;;
  esac
done
for run in "$OUT"/runs/*/; do python3 -m mrisr report "$run" >"$OUT/$(basename "$run").report.txt" 2>&1; done
log "done"
