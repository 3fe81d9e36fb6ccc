"""Peak memory of streamed inference on a large volume against the ``--max-memory-gb`` bound.

    python benchmarks/memory_large.py [--shape 512 512 512] [--max-memory-gb 4] [--width 32]

Runs ``mrisr.inference.writing.super_resolve_file`` with an untrained default-size network in a fresh process, on
random data from and to disk (uncompressed ``.nii``, so that gzip does not dominate the time), and prints
the seconds and the peak resident memory. Memory depends on the in-plane size and the bound (which sets
the slab depth), not on the number of slices: a thin input with a tight bound exercises the same streaming
as 512³ in a fraction of the time.
"""

import argparse
import json

from mrisr.apps.bench import inference_in_subprocess

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--shape", nargs=3, type=int, default=[512, 512, 512])
parser.add_argument("--width", type=int, default=32)
parser.add_argument("--max-memory-gb", type=float, default=4.0)
args = parser.parse_args()
result = inference_in_subprocess(tuple(args.shape), (2, 2, 2), "mrisr", args.max_memory_gb, args.width, ".nii")
output_gib = 4 * 8 * args.shape[0] * args.shape[1] * args.shape[2] / 2**30
print(
    f"{'x'.join(map(str, args.shape))} -> 2x2x2, width {args.width}, bound {args.max_memory_gb:g} GiB: "
    f"{result['seconds']:.0f} s, peak RSS {result['peak_rss_gib']:.2f} GiB (the output alone is {output_gib:.1f} GiB)"
)
print(json.dumps({**result, "shape": args.shape, "width": args.width, "limit_gib": args.max_memory_gb}))
