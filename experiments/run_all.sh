#!/usr/bin/env bash
# Every CPU grid of results/REPORT.md, one after the other (never two at once on 2 cores; about 5 hours in
# all). Rows already in results/runs.csv are skipped, so this resumes an interrupted run and, when every row
# is there, only rewrites the tables and figures. The GPU grids (experiments/long_gpu*.yaml) run with
# experiments/run_parallel.py into results/long and results/long2000 (see REPORT.md).
set -euo pipefail
cd "$(dirname "$0")/.."
mrisr=${MRISR:-.venv/bin/mrisr}
for grid in n1_gaussian n23_gaussian strict_gaussian n1_thick n1_kspace n1_degradation_models n1_contrast \
  n_sweep_gaussian; do
  "$mrisr" experiment "experiments/$grid.yaml" --out results
done
# the planar (thick-slice) model
"$mrisr" experiment experiments/thick_planar.yaml --out results/planar
"$mrisr" experiment experiments/thick_planar_long.yaml --out results/planar-long
