"""The experiment's grid: the simulated acquisitions (panels), the methods as config overrides, n_HR, seeds."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mrisr import MRISRError
from mrisr.acquisition.forward import SimulationParams, default_fwhm
from mrisr.config import PAPER_LOSS, PAPER_MODEL, PAPER_TRAIN
from mrisr.io import first_line


@dataclass
class DegradationSpec:
    """One simulated target acquisition of Colin27 (a panel of the report)."""

    name: str
    kind: str = "gaussian"
    scale: tuple[int, int, int] = (2, 2, 2)
    noise_sigma: float = 0.0

    def params(self) -> SimulationParams:
        return SimulationParams(scale=tuple(self.scale), kind=self.kind, noise_sigma=self.noise_sigma)


@dataclass
class ExperimentConfig:
    degradations: list[DegradationSpec] = field(
        default_factory=lambda: [
            DegradationSpec("kspace-2x2x2", "kspace"),
            DegradationSpec("gaussian-rician-2x2x2", "gaussian", (2, 2, 2), 0.02),
            DegradationSpec("thick-1x1x4", "gaussian", (1, 1, 4), 0.0),
        ]
    )
    methods: list[str] = field(default_factory=lambda: ["mrisr", "mrisr-nonce", "supervised-assumed", "oracle"])
    n_hr: list[int] = field(default_factory=lambda: [1, 2, 3])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    minutes: float | None = 2.0
    steps: int | None = None

    @classmethod
    def quick(cls) -> ExperimentConfig:
        """A tiny grid (3 training steps per run, about a minute) that checks the pipeline, not the numbers."""
        return cls(
            degradations=[DegradationSpec("gaussian-rician-2x2x2", "gaussian", (2, 2, 2), 0.02)],
            methods=["mrisr", "oracle"],
            n_hr=[1],
            seeds=[0],
            minutes=None,
            steps=3,
        )

    @classmethod
    def load(cls, path: str | Path) -> ExperimentConfig:
        """Read a grid YAML; omitted keys keep the defaults, unknown keys are an error."""
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
            data["degradations"] = [
                DegradationSpec(**{**d, "scale": tuple(d.get("scale", (2, 2, 2)))})
                for d in data.get("degradations", [])
            ] or cls().degradations
            return cls(**data)
        except (OSError, yaml.YAMLError, TypeError, AttributeError) as err:
            raise MRISRError(f"{path}: not a valid experiment config ({first_line(err)})") from None


def method_config(method: str, spec: DegradationSpec, true_sigma: float) -> dict[str, dict[str, Any]]:
    """Config overrides that turn the default config into each method of the experiment.

    ``mrisr`` and its ``mrisr-*`` variants, the oracle and the supervised baselines are the paper's 3D
    unpaired model with its losses, batch and a Gaussian profile (``architecture: unpaired``,
    :data:`mrisr.config.PAPER_LOSS`, :data:`mrisr.config.PAPER_MODEL` and :data:`mrisr.config.PAPER_TRAIN`,
    the ``paper`` preset), so the report's rows keep their meaning whatever the defaults; ``default`` is
    ``mrisr train`` with no options (the sinc profile of k-space truncation when the spectra say so).
    ``planar`` is the thick-slice model (:mod:`mrisr.models.planar`) trained on pairs from the scan and the
    HR volumes; ``planar-scan-only`` from the scan alone (no HR volume), ``planar-templates-only`` from the HR volumes
    alone, ``planar-external-0.5`` with half the pairs from the HR volumes (the default takes a fifth),
    ``planar-oracle`` from the scan alone with the true slice profile and noise. The loss ablations:
    ``mrisr-nonce`` (no InfoNCE), ``mrisr-nofeat`` (no feature alignment), ``mrisr-norec`` (no HR-encoder
    reconstruction), ``mrisr-ssim`` (an SSIM term on the cycle).

    The supervised baselines are the same network trained on (HR, known degradation(HR)) pairs only: the
    slice profile is frozen, the noise is fixed, and the adversarial and contrastive terms are off, so that
    the cycle loss is a plain supervised loss. ``oracle`` knows the true degradation (the sinc profile on a
    k-space panel); ``supervised-assumed`` assumes a profile half as wide and no noise (what one would do
    without unpaired training); ``supervised-estimated-noise`` takes the noise level from the LR air and the
    same assumed profile; ``supervised-estimated`` is trained on the very degradation ``mrisr`` estimates
    (profile and noise).
    """
    supervised_loss = {"lr_adversarial": 0.0, "feature_adversarial": 0.0, "nce": 0.0, "internal": 0.0}
    assumed_fwhm = [0.5 * f if f > 1 else 0.0 for f in spec.scale]
    unpaired = {
        "mrisr": {},
        "mrisr-nonce": {"loss": {"nce": 0.0}},
        "mrisr-nofeat": {"loss": {"feature_adversarial": 0.0}},  # no feature alignment (the paper's L_align)
        "mrisr-norec": {"loss": {"rec": 0.0}},  # no HR-encoder reconstruction path
        "mrisr-ssim": {"loss": {"ssim": 1.0}},  # an SSIM term on the cycle
        "mrisr-free": {"model": {"degradation": "free"}},
        "mrisr-hybrid": {"model": {"degradation": "hybrid"}},
        "mrisr-wide": {"model": {"width": 64}},
        "mrisr-contrast": {"model": {"contrast": True}},
        "mrisr-true-profile": {"model": {"fixed_fwhm": list(default_fwhm(spec.scale))}},  # diagnostic
        "mrisr-learned-profile": {"model": {"profile": "learn"}},
        "mrisr-nonce-learned-profile": {"model": {"profile": "learn"}, "loss": {"nce": 0.0}},
        "oracle": {
            "model": {
                "fixed_fwhm": list(default_fwhm(spec.scale)),
                "noise_sigma": true_sigma,
                "profile_shape": "sinc" if spec.kind == "kspace" else "gaussian",
            },
            "loss": supervised_loss,
        },
        "supervised-assumed": {"model": {"fixed_fwhm": assumed_fwhm, "noise_sigma": 0.0}, "loss": supervised_loss},
        "supervised-estimated-noise": {"model": {"fixed_fwhm": assumed_fwhm}, "loss": supervised_loss},
        "supervised-estimated": {"loss": supervised_loss},  # the same estimated degradation as mrisr, supervised
    }
    planar = {
        "planar": {},
        "planar-scan-only": {"train": {"hr": []}},
        "planar-templates-only": {"train": {"external_fraction": 1.0}},
        "planar-external-0.5": {"train": {"external_fraction": 0.5}},  # the default takes a fifth
        "planar-oracle": {  # the scan's own pairs made with the true profile and noise
            "model": {"fixed_fwhm": list(default_fwhm(spec.scale)), "noise_sigma": true_sigma},
            "train": {"hr": []},
        },
    }
    methods = {
        name: {
            **c,
            "model": {"architecture": "unpaired", **PAPER_MODEL, **c.get("model", {})},
            "loss": {**PAPER_LOSS, **c.get("loss", {})},
            "train": {**PAPER_TRAIN, **c.get("train", {})},
        }
        for name, c in unpaired.items()
    }
    methods.update(
        {name: {**c, "model": {"architecture": "planar", **c.get("model", {})}} for name, c in planar.items()}
    )
    methods["default"] = {}
    methods["default-supervised"] = {"loss": supervised_loss}  # the default network on its estimated degradation
    methods["default-nointernal"] = {"loss": {"internal": 0.0}}  # without the scan's own coarser scale (ZSSR)
    methods["default-internal3"] = {"loss": {"internal": 3.0}}  # the scan's own coarser scale weighted 3 times
    methods["default-transpose"] = {"train": {"transpose": True}}  # patches seen from six sides
    methods["default-synthetic"] = {"train": {"hr_synthetic": 0.5}}  # half the HR patches repainted from labels
    methods["default-wide"] = {"model": {"width": 48}}  # 48 channels instead of 32
    methods["default-bf16"] = {"train": {"precision": "bf16"}}  # the step's forward passes under bf16 autocast
    # the batch: 4 at 5e-4 (the paper's configuration's, the default's before 2 at 7e-4), with twice and four
    # times the learning rate, or without the HR-encoder reconstruction (nor its decoding); and 1
    b4 = {"batch_size": 4, "learning_rate": 5e-4}
    methods["default-b4"] = {"train": b4}
    methods["default-b4-lr1e3"] = {"train": {**b4, "learning_rate": 1e-3}}
    methods["default-b4-lr2e3"] = {"train": {**b4, "learning_rate": 2e-3}}
    methods["default-b4-norec"] = {"train": b4, "loss": {"rec": 0.0}}
    methods["default-b1"] = {"train": {"batch_size": 1}}
    # the batch of 2 at other rates than the default's 7e-4 (5e-4: the default's before)
    rates = {"3e4": 3e-4, "5e4": 5e-4, "7e4": 7e-4, "1e3": 1e-3}
    methods.update({f"default-lr{name}": {"train": {"learning_rate": rate}} for name, rate in rates.items()})
    # a diagnostic, not a method: the default network supervised on the true profile (the noise estimated from
    # the air, as by default) with the scan's own HR truth as its only HR source (method_run_config puts it
    # in): what this network reaches with perfect data
    methods["truth-supervised"] = {
        "model": {
            "fixed_fwhm": list(default_fwhm(spec.scale)),
            "profile_shape": "sinc" if spec.kind == "kspace" else "gaussian",
        },
        "loss": {"nce": 0.0, "internal": 0.0},
    }
    if method not in methods:
        raise MRISRError(f"unknown method {method!r}; choose from {sorted(methods)}")
    return methods[method]


def grid_part(
    config: ExperimentConfig,
    *,
    degradations: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    n_hr: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    steps: int | None = None,
) -> ExperimentConfig:
    """A part of the grid: only these panels, methods, numbers of HR volumes and seeds (e.g. one part per
    parallel process), or the same grid at another budget in ``steps`` (into another output folder: rows
    resume by name, not by budget)."""
    part: dict[str, Any] = {
        name: value for name, value in (("methods", methods), ("n_hr", n_hr), ("seeds", seeds)) if value
    }
    if steps:
        part.update(steps=steps, minutes=None)
    if degradations:
        part["degradations"] = [d for d in config.degradations if d.name in degradations]
    return dataclasses.replace(config, **part)
