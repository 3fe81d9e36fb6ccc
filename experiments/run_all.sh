#!/usr/bin/env bash
# Every grid of results/REPORT.md, one after the other (never two at once on 2 cores; about 3 hours in all).
# Rows already in results/runs.csv are skipped, so this resumes an interrupted run and, when every row is
# there, only rewrites the tables and figures.
set -euo pipefail
cd "$(dirname "$0")/.."
mrisr=${MRISR:-.venv/bin/mrisr}
for grid in n1_gaussian n23_gaussian strict_gaussian n1_thick n1_kspace; do
  "$mrisr" experiment "experiments/$grid.yaml" --out results
done
