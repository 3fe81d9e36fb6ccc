"""Check that behaviour tests can fail: put a known bug into a copy of the package, run the test that should
catch it, and report whether it did. Nothing in the checkout is changed.

    python scripts/mutants.py            # every mutant (about 2 minutes on 2 cores)
    python scripts/mutants.py bias-ones  # one of them
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MUTANTS = {
    # name: (file under src/mrisr, the text, its buggy replacement, the test that must fail)
    "keeps-the-last-model": (
        "training/loop.py",
        "if score > self.progress.best_ssim:",
        "if True:",
        "tests/test_training.py::test_paired_validation_keeps_the_best_ssim_model",
    ),
    "kspace-without-block-centre-shift": (
        "acquisition/degradation.py",
        "* (f - 1) / 2.0)",
        "* 0.0)",
        "tests/test_degradation.py::test_kspace_keeps_the_central_spectrum_only_sampled_at_block_centres",
    ),
    "kspace-keeps-too-much": (
        "acquisition/degradation.py",
        "keep = n // f\n",
        "keep = n // f + 4\n",
        "tests/test_degradation.py::test_kspace_keeps_the_central_spectrum_only_sampled_at_block_centres",
    ),
    "slice-profile-off-centre": (
        "acquisition/degradation.py",
        "centre = (factor - 1) / 2.0",
        "centre = factor / 2.0",
        "tests/test_planar.py::test_in_plane_pairs_are_the_slice_forward_model_voxel_for_voxel",
    ),
    "slice-centres-on-edges": (
        "acquisition/degradation.py",
        "return (np.arange(n_lr) + 0.5) * float(factor) - 0.5",
        "return np.arange(n_lr) * float(factor)",
        "tests/test_planar.py::test_in_plane_pairs_are_the_slice_forward_model_voxel_for_voxel",
    ),
    "bias-field-of-ones": (
        "acquisition/degradation.py",
        "return np.exp(log_field).astype(np.float32) if len(coeffs)",
        "return np.ones(shape, np.float32) if len(coeffs)",
        "tests/test_degradation.py::test_bias_field_is_the_exponential_of_its_polynomial",
    ),
    "evaluate-without-normalisation": (
        "evaluation.py",
        "results[name] = score(pred / peak, gt, mask)",
        "results[name] = score(pred / pred.max(), gt, mask)",
        "tests/test_cli.py::test_train_infer_evaluate",
    ),
    "training-that-learns-nothing": (
        "config.py",
        "plane_learning_rate: float = 5e-4",
        "plane_learning_rate: float = 0.0",
        "tests/test_cli.py::test_a_thick_slice_scan_beats_cubic_inside_the_head",
    ),
    "internal-pairs-without-noise": (
        "models/system.py",
        "if float(self.noise_sigmas.max()) > 0:",
        "if False:",
        "tests/test_training.py::test_internal_pairs_super_resolve_the_scan_from_its_own_coarser_copy",
    ),
}


def passes_on_a_copy(tests: list[str], mutant: str | None = None) -> bool:
    """Whether ``tests`` pass against a copy of the package, with ``mutant``'s bug put in when one is named."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
        if mutant is not None:
            path, text, bug, _ = MUTANTS[mutant]
            target = copy / "mrisr" / path
            source = target.read_text()
            if source.count(text) != 1:
                raise SystemExit(f"{mutant}: the text to mutate is not found once in src/mrisr/{path}")
            target.write_text(source.replace(text, bug))
        env = {**os.environ, "PYTHONPATH": str(copy)}
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False).returncode == 0


def main(names: list[str]) -> int:
    names = names or list(MUTANTS)
    if not passes_on_a_copy(sorted({MUTANTS[name][3] for name in names})):
        raise SystemExit("the tests fail on an unchanged copy: fix them first")
    missed = [name for name in names if not report(name, not passes_on_a_copy([MUTANTS[name][3]], name))]
    return 1 if missed else 0


def report(name: str, caught: bool) -> bool:
    print(f"{'caught' if caught else 'MISSED'}  {name}  ({MUTANTS[name][3]})", flush=True)
    return caught


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
