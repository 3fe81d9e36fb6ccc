"""Speed and quality of bfloat16 against float32 inference with a trained model, on one LR volume and its truth.

    python benchmarks/precision.py --model mrisr-demo/run/model.pt \
        --lr mrisr-demo/colin27_lr.nii.gz --truth mrisr-demo/colin27_hr.nii.gz
"""

import argparse
import time

import numpy as np
import torch

from mrisr.inference.loaded import LoadedModel
from mrisr.io import load_volume
from mrisr.metrics import normalise_pair, psnr

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", required=True)
parser.add_argument("--lr", required=True)
parser.add_argument("--truth", required=True)
args = parser.parse_args()
model = LoadedModel.load(args.model, "cpu", "fp32")
lr, truth = load_volume(args.lr).data, load_volume(args.truth).data
results = {}
for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
    start = time.perf_counter()
    sr = model.super_resolve(lr, dtype=dtype)
    seconds = time.perf_counter() - start
    reference, prediction = normalise_pair(truth, sr, model.percentile)
    results[name] = sr
    print(f"{name}: {seconds:.1f} s, PSNR {psnr(prediction, reference):.3f} dB")
scale = np.percentile(truth, 99.9)
largest = np.abs(results["bf16"] - results["fp32"]).max() / scale
print(f"largest difference bf16 - fp32: {largest:.4f} of the truth's 99.9th percentile")
