"""Run a grid YAML as parallel processes, one per (panel, method, n_HR, seed), then write its report.

On a GPU each training process is bound by its Python kernel launches, so several share one GPU well
(experiments/long_gpu.yaml: 24 runs of 1000 steps on one H100 in about 5 minutes).
Rows already in OUT/runs.csv are skipped. Usage: python experiments/run_parallel.py CONFIG OUT [--threads 2]
"""

import argparse
import itertools
import os
import subprocess
import sys
from pathlib import Path

from mrisr.apps.experiment.grid import ExperimentConfig

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("config")
parser.add_argument("out")
parser.add_argument("--threads", default="2", help="CPU threads per process (OMP_NUM_THREADS)")
args = parser.parse_args()

grid = ExperimentConfig.load(args.config)
Path(args.out).mkdir(parents=True, exist_ok=True)
mrisr = [sys.executable, "-m", "mrisr", "experiment", args.config, "--out", args.out]
environment = {**os.environ, "OMP_NUM_THREADS": args.threads}
processes = []
for spec, method, n, seed in itertools.product(grid.degradations, grid.methods, grid.n_hr, grid.seeds):
    part = ["--degradations", spec.name, "--methods", method, "--n-hr", str(n), "--seeds", str(seed), "--no-report"]
    log = open(Path(args.out) / f"{spec.name}_{method}_n{n}_s{seed}.log", "w")  # noqa: SIM115 - open while it runs
    processes.append(subprocess.Popen(mrisr + part, stdout=log, stderr=subprocess.STDOUT, env=environment))
failed = sum(process.wait() != 0 for process in processes)
subprocess.run(mrisr, check=True)  # every row is there now: this only writes the tables and figures
sys.exit(1 if failed else 0)
