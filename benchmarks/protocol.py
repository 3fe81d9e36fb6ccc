"""One model per protocol against one model per scan, on an unseen subject.

    python benchmarks/protocol.py --steps 2000 --adapt-steps 200 --flips 1 --out results/protocol

Six heads are acquired with one protocol, thick axial slices 4 mm thick every 4 mm with Rician noise 0.01
(:class:`mrisr.acquisition.simulate.SliceParams`), and written as a BIDS dataset with JSON sidecars:
Colin27 (the test subject, the one individual with a truth), the two 1 mm packaged templates and three
synthetic subjects (those templates under random smooth deformations). Then, through ``mrisr bids``:

- **protocol model**: trained on 3 of the 5 other scans (Colin27 held out), then every one of the 6 scans
  super-resolved with it (``--stage train`` on the 5, ``--stage infer`` on all 6);
- **protocol model, adapted**: the same model trained ``--adapt-steps`` more steps on each scan alone
  before super-resolving it (``--adapt-steps``);
- **per scan**: a model trained on Colin27's scan alone with the same budget (``--per-scan``), which is
  what a per-scan tool does for every scan.

Colin27's three SRs are scored against its truth inside the head, beside cubic B-spline interpolation. The
total time for the 6 scans is measured for the protocol model; per scan it is 6 times the Colin27 run
(every scan of the protocol trains the same steps on patches of the same size). Writes
``OUT/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from mrisr import datasets
from mrisr.acquisition.simulate import SliceParams, simulate_slices
from mrisr.apps.bids.layout import derivative_path, find_scans
from mrisr.apps.bids.participant import BidsOptions, run_participant
from mrisr.apps.experiment.subjects import HR_POOL, synthetic_subject
from mrisr.evaluation import evaluate
from mrisr.io import load_volume, save_volume

PROTOCOL = SliceParams(axis=2, spacing=4.0, thickness=4.0, noise_sigma=0.01)


SYNTHETIC = (0, 1, 3)
"""The synthetic subjects (deformed templates) taken: the ones made from the two 1 mm templates."""


def heads(folder: Path) -> dict[str, Path]:
    """The six heads, by BIDS label: Colin27, the two 1 mm templates and three synthetic subjects (the
    pydeface mean head has 0.977 mm voxels, on which slices every 4 mm do not fall on whole voxels)."""
    found = {"colin27": datasets.colin27()}
    found.update({name: datasets.template(name) for name in HR_POOL[:2]})
    found.update({f"synth{k}": synthetic_subject(k, folder) for k in SYNTHETIC})
    return found


def write_dataset(raw: Path, folder: Path) -> Path:
    """The BIDS dataset of the six scans; returns Colin27's truth on its SR grid."""
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "dataset_description.json").write_text(json.dumps({"Name": "protocol benchmark", "BIDSVersion": "1.9.0"}))
    truth_path = folder / "colin27_truth.nii.gz"
    for seed, (label, path) in enumerate(heads(folder).items()):
        params = SliceParams(**{**PROTOCOL.__dict__, "noise_seed": seed, "sidecar": {}})
        case = simulate_slices(load_volume(path), params)
        anat = raw / f"sub-{label}" / "anat"
        anat.mkdir(parents=True, exist_ok=True)
        save_volume(anat / f"sub-{label}_T2w.nii.gz", case.lr.data, case.lr.affine, case.lr.header)
        (anat / f"sub-{label}_T2w.json").write_text(json.dumps(params.sidecar))
        if label == "colin27":
            save_volume(truth_path, case.truth.data, case.truth.affine, case.truth.header)
    return truth_path


def timed(function, *args) -> tuple[object, float]:
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="training steps of every model")
    parser.add_argument("--flips", type=int, default=4, help="flipped passes per SR (bids --flips)")
    parser.add_argument("--adapt-steps", type=int, default=200, help="steps of the adapted arm (bids --adapt-steps)")
    parser.add_argument("--out", type=Path, default=Path("results/protocol"))
    args = parser.parse_args()
    raw = args.out / "raw"
    truth_path = write_dataset(raw, args.out)
    others = [s.subject for s in find_scans(raw) if s.subject != "colin27"]
    budget = {"steps": args.steps, "suffixes": ["T2w"], "seed": 0, "flips": args.flips}

    protocol_out, adapted_out, per_scan_out = (args.out / name for name in ("protocol", "protocol-adapted", "per-scan"))
    train_options = BidsOptions(participants=others, stage="train", **budget)
    _, train_seconds = timed(run_participant, raw, protocol_out, train_options)
    report, infer_seconds = timed(run_participant, raw, protocol_out, BidsOptions(stage="infer", **budget))
    shutil.copytree(protocol_out / "models", adapted_out / "models")  # the same protocol model, adapted per scan
    adapted = BidsOptions(stage="infer", adapt_steps=args.adapt_steps, **budget)
    _, adapted_seconds = timed(run_participant, raw, adapted_out, adapted)
    per_scan = BidsOptions(participants=["colin27"], per_scan=True, **budget)
    _, one_seconds = timed(run_participant, raw, per_scan_out, per_scan)

    colin = find_scans(raw, participants=["colin27"])[0]
    truth, lr = load_volume(truth_path), load_volume(colin.path)
    arms = {"protocol model": protocol_out, "protocol model, adapted": adapted_out, "per-scan model": per_scan_out}
    predictions = {name: load_volume(derivative_path(folder, colin)).data for name, folder in arms.items()}
    scores = evaluate(truth, predictions, lr=lr, fwhm=[0.0, 0.0, PROTOCOL.thickness])
    totals = {
        "protocol model": train_seconds + infer_seconds,
        "protocol model, adapted": train_seconds + adapted_seconds,
        "per-scan model": 6 * one_seconds,
    }
    summary = {
        "protocol": PROTOCOL.__dict__,
        "steps": args.steps,
        "adapt_steps": args.adapt_steps,
        "flips": args.flips,
        "scores_colin27": scores,
        "protocol_model_trained_on": json.loads((protocol_out / "logs" / "participant_stage-train.json").read_text())[
            "models"
        ],
        "seconds": {
            "protocol_train": round(train_seconds, 1),
            "protocol_infer_6_scans": round(infer_seconds, 1),
            "adapt_and_infer_6_scans": round(adapted_seconds, 1),
            "per_scan_one_scan": round(one_seconds, 1),
        },
        "total_seconds_6_scans": {name: round(t, 1) for name, t in totals.items()},
        "done": len(report.done),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    reference = scores["per-scan model"]["psnr_fg"]
    for name, r in scores.items():
        line = f"{name:<24} head {r['psnr_fg']:.2f} dB / SSIM {r['ssim_fg']:.3f}   whole {r['psnr']:.2f} dB"
        if name in totals:
            ratio = totals["per-scan model"] / totals[name]
            gap = r["psnr_fg"] - reference
            line += f"   6 scans {totals[name]:.0f} s ({ratio:.1f}x less than per scan; {gap:+.2f} dB)"
        print(line)


if __name__ == "__main__":
    main()
