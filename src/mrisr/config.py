"""One configuration for a run: everything needed to rerun it, saved as YAML in the run folder."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mrisr import MRISRError
from mrisr.acquisition.forward import PROFILE_SHAPES

DEGRADATION_MODELS = ("free", "physics", "hybrid")
PROFILE_SETTINGS = ("auto", *PROFILE_SHAPES)
"""What ``model.profile_shape`` may say: a shape, or ``auto`` (settled from the spectra)."""
UPSAMPLERS = ("cubic", "trilinear")
PROFILES = ("estimate", "learn")
PRECISIONS = ("auto", "fp32", "bf16")
TRAIN_PRECISIONS = ("fp32", "bf16")
DEFAULT_FLIPS = 4
"""Flipped passes that ``mrisr infer`` and the demo average by default
(:func:`mrisr.inference.running.flip_ensemble`)."""
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {},
    "gpu": {
        "model": {"width": 64, "plane_width": 128, "plane_blocks": 16},
        "train": {
            "batch_size": 8,
            "plane_batch_size": 64,
            "plane_patch": [64, 16],
            "learning_rate": 2e-4,
            "plane_learning_rate": 2e-4,
        },
    },
    "paper": {
        "model": {
            "architecture": "unpaired",
            "profile_shape": "gaussian",
            "upsampler": "trilinear",
            "nominal_floor": False,
        },
        "loss": {"feature_adversarial": 0.1, "nce": 1.0, "internal": 0.0},
        "train": {"batch_size": 4, "learning_rate": 5e-4},
    },
}
"""Named starting configs (``mrisr train --preset``): ``cpu`` (the defaults, sized for a 2-core CPU), ``gpu``
(wider and deeper networks, bigger batches and a lower learning rate for one GPU: at 5e-4 its planar network
diverged on one H100) and ``paper`` (the 3D unpaired model of Li et al.
2023 whatever the factors, with its feature alignment and InfoNCE terms and a Gaussian slice profile: the
configuration that ``results/REPORT.md`` reproduces)."""
PAPER_LOSS = PRESETS["paper"]["loss"]
"""The paper's adversarial feature alignment and InfoNCE weights, and no internal pairs; the default drops the
alignment (it scored lower inside the head over 3 seeds) and adds the internal pairs (the scan's own coarser
scale: higher inside the head on every 2×2×2 panel measured)."""
PAPER_TRAIN = PRESETS["paper"]["train"]
"""The batch of 4 patch pairs and the learning rate that the paper's configuration was measured with; the
default takes 2 at a higher rate."""
PAPER_MODEL = {key: PRESETS["paper"]["model"][key] for key in ("profile_shape", "upsampler", "nominal_floor")}
"""The paper's Gaussian slice profile and trilinear SR base, and slice-profile estimates below the nominal used
as found, for the experiment's rows: the paper's configuration as it was measured."""
SAVED_BEFORE = {
    "model": {"profile_shape": "gaussian", "upsampler": "trilinear", "nominal_floor": False},
    "loss": {"internal": 0.0},
}
"""What a config saved before a key existed ran with (:meth:`Config.from_saved`); new runs get the defaults."""
RENAMED = {"loss": {"sty": "lr_adversarial", "align": "feature_adversarial"}}
"""Old key → new key per section: an old ``config.yaml`` or checkpoint config still reads."""


@dataclass
class ModelConfig:
    """Architecture of the generators and discriminators (see :mod:`mrisr.models`)."""

    # the generator class (mrisr.models.registry.NETWORKS): "unpaired" (the paper's 3D model), "planar" (2D, learns
    # from the scan's own sharp planes; thick slices only) or "auto" (planar where one axis alone is coarse)
    architecture: str = "auto"
    # per-axis factor from the scan's voxels to the SR's; need not be an integer for the planar model (4.5)
    scale: tuple[float, float, float] = (2, 2, 2)
    # slice thickness in mm along the slice axis when the protocol says it (the scan's JSON sidecar or
    # --slice-thickness): the nominal slice profile, apart from the spacing (gaps, overlaps); None: as thick
    # as the spacing, or the first scan's sidecar when it has one
    slice_thickness: float | None = None
    # in-plane voxel size in mm the scans are resampled to before training and inference: their real in-plane
    # resolution where the pixels are finer (a zero-filled 512 matrix; mrisr.acquisition.resolution), or a
    # coarser --spacing; None: the pixels as they are
    in_plane_mm: float | None = None
    width: int = 32  # feature channels of every generator
    encoder_blocks: int = 2  # residual blocks per encoder
    decoder_blocks: int = 2  # residual blocks per decoder
    disc_width: int = 32  # feature channels of the discriminators
    degradation: str = "physics"  # learned degradation: "free" (the paper's D_LR), "physics" or "hybrid"
    profile: str = "estimate"  # slice profile: "estimate" (power spectra, then fixed) or "learn" (LR discriminator)
    init_fwhm: float = 0.75  # starting slice-profile FWHM when learned, relative to the factor of each axis
    noise_sigma: float | None = None  # Rician sigma of the degradation; None: estimated from each LR's air
    fixed_fwhm: tuple[float, float, float] | None = None  # a known slice profile (HR voxels): not learned
    # an estimate against other subjects' HR more than 10% below the nominal FWHM is a lower bound: train with
    # the nominal (mrisr.training.settle.below_nominal); the paper preset keeps such estimates
    nominal_floor: bool = True
    # "gaussian", "sinc" (k-space truncation: an axis sampled in k-space, as in 3D acquisitions) or "auto"
    # (settled from the spectra when the profile is estimated, see mrisr.acquisition.profile.estimate_shape;
    # Gaussian otherwise)
    profile_shape: str = "auto"
    contrast: bool = False  # learn a monotone intensity curve from the HR source's contrast to the target's
    plane_width: int = 64  # planar model: feature channels of its 2D network
    plane_blocks: int = 4  # planar model: residual blocks of its 2D network
    upsampler: str = "cubic"  # 3D model: the interpolation the SR is residual on ("cubic" B-spline, "trilinear")


@dataclass
class LossConfig:
    """Loss weights (docs/METHOD.md §4); ``nce = 0`` is the paper's "w/o contrastive loss" ablation. The
    default has no feature alignment (it scored lower inside the head in the loss ablation of
    ``results/REPORT.md``) and learns from the scan's own coarser scale."""

    rec: float = 1.0  # reconstruction: Ŷ_s of Y_s (and X̂_t of X_t in the free and hybrid models)
    cyc: float = 1.0  # cycle: Y_{s~t~s} of c(Y_s)
    ssim: float = 0.0  # 1 - SSIM of the cycle (Y_{s~t~s} against c(Y_s); MONAI's SSIMLoss, Gaussian window 1.5)
    # internal: the scan's own coarser scale (ZSSR): X_t degraded again by the profile, + noise, SR'd back to X_t
    internal: float = 1.0
    lr_adversarial: float = 0.1  # X_{s~t} made to look like X_t (LR discriminator; only with a learned degradation)
    # f_t made to look like f_s (feature discriminator): the paper's 0.1 (--preset paper); off by default, where
    # it measured lower inside the head over 3 seeds (results/REPORT.md, the loss ablation)
    feature_adversarial: float = 0.0
    nce: float = 1.0  # InfoNCE between source features and those of its degraded-and-re-encoded version
    nce_temperature: float = 0.07  # InfoNCE temperature
    nce_patches: int = 256  # feature locations sampled per InfoNCE term
    nce_negatives_across_batch: bool = False  # negatives from the whole batch, not only the same volume


@dataclass
class TrainConfig:
    """Optimisation, sampling and budget."""

    hr: list[str] = field(default_factory=list)  # HR volumes of other subjects (the unpaired source)
    lr: list[str] = field(default_factory=list)  # the scans to learn from (the target domain)
    val_lr: list[str] = field(default_factory=list)  # paired validation LR: the best-SSIM model is kept
    val_hr: list[str] = field(default_factory=list)  # their HR truths, in the same order
    seed: int = 0  # one seed for weights, patches and noise: a run is reproducible
    steps: int | None = 2000  # the budget in steps (machine-independent), unless minutes is set
    minutes: float | None = None  # the budget in minutes of training
    # 3D model: patch pairs per step and replica. 2, not 4: on a CPU the step costs about what its patches do,
    # and twice the steps of half the batch scored higher in the same time
    batch_size: int = 2
    lr_patch: tuple[int, int, int] = (16, 16, 16)  # 3D model: LR patch size (the HR patch is scale times larger)
    # 3D model: Adam's rate at the start of the cosine schedule. 7e-4, not 5e-4: with the batch of 2 it scored
    # higher inside the head over 3 seeds (results/REPORT.md, "The batch")
    learning_rate: float = 7e-4
    min_learning_rate: float = 1e-6  # at the end of the cosine schedule
    betas: tuple[float, float] = (0.9, 0.99)  # Adam's
    profile_lr_scale: float = 10.0  # learning-rate multiplier of the slice-profile FWHM
    percentile: float = 99.9  # each volume is divided by this percentile of its intensities
    intensity_jitter: float = 0.1  # random gain of each patch, ± this fraction
    # contrast augmentation of the HR source (a random gamma in this range): its contrast is not the target's
    hr_gamma: tuple[float, float] = (0.6, 1.5)
    # 3D model: patches transposed at random between axes of the same patch and voxel size (and so the same
    # factor): a few HR sources seen from six sides
    transpose: bool = False
    # 3D model: share of HR patches repainted from the HR source's tissue labels with random intensities per
    # label (mrisr.sampling.synthesis): edges as sharp as one person's, not a population average's
    hr_synthetic: float = 0.0
    log_every: int = 25  # steps between TensorBoard scalars
    checkpoint_every: int = 200  # steps between checkpoints (last.pt, for --resume)
    val_every: int = 500  # steps between validations, when val_lr is given
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"
    # autocast of each step's forward passes and losses: "fp32" (none) or "bf16" (weights, gradients and Adam
    # stay fp32). fp32: on a CPU without bf16 matrix units the bf16 step is slower (mrisr bench prints both)
    precision: str = "fp32"
    threads: int | None = None  # CPU threads; None: PyTorch's default
    plane_batch_size: int = 16  # planar model: plane pairs per step and replica
    plane_patch: tuple[int, int] = (48, 12)  # planar model: LR patch, rows x columns along the slice axis
    plane_learning_rate: float = 5e-4  # planar model: Adam's rate at the start of the cosine schedule
    # planar model: share of pairs from the HR volumes when there are some: a fifth keeps the head as sharp as
    # the scan alone gives it (within 0.07 dB; half cost 0.3 dB) and most of the clean background they bring
    external_fraction: float = 0.2
    # a model.pt whose generator weights start the training instead of random ones: a protocol's model
    # adapted to one scan in a few steps
    init: str | None = None


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from a (possibly partial) nested dict; unknown keys are an error, not silently dropped."""
        sections = {}
        for f in dataclasses.fields(cls):
            section_type = {"model": ModelConfig, "loss": LossConfig, "train": TrainConfig}[f.name]
            values = _renamed(f.name, dict(data.get(f.name) or {}))
            known = {g.name: g for g in dataclasses.fields(section_type)}
            unknown = set(values) - set(known)
            if unknown:
                raise MRISRError(f"config: unknown keys in '{f.name}': {sorted(unknown)}")
            for key, value in values.items():
                if isinstance(value, list) and "tuple" in str(known[key].type):
                    values[key] = tuple(value)
            sections[f.name] = section_type(**values)
        extra = set(data) - {"model", "loss", "train"}
        if extra:
            raise MRISRError(f"config: unknown sections {sorted(extra)}")
        return cls(**sections)

    @classmethod
    def from_saved(cls, data: dict[str, Any]) -> Config:
        """A config saved by a run (``config.yaml``, a checkpoint's): keys it lacks take the values runs had
        before they existed (:data:`SAVED_BEFORE`), not today's defaults."""
        merged = dict(data)
        for section, values in SAVED_BEFORE.items():
            merged[section] = {**values, **(data.get(section) or {})}
        train = dict(merged.get("train") or {})
        if "learning_rate" in train:  # one rate once served both models
            train.setdefault("plane_learning_rate", train["learning_rate"])
            merged["train"] = train
        return cls.from_dict(merged)

    def override(self, changes: dict[str, dict[str, Any]]) -> Config:
        """A new config: this one with ``changes`` (``{section: {key: value}}``) applied through
        :meth:`from_dict`, so that a mistyped key is an error; this config is left as it is."""
        data = self.to_dict()
        for section, values in changes.items():
            data[section] = {**data.get(section, {}), **_renamed(section, dict(values))}
        return Config.from_dict(data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path, saved: bool = False) -> Config:
        """A YAML config: a user's (partial; the rest takes the defaults) or, with ``saved``, a run's own
        ``config.yaml`` (see :meth:`from_saved`)."""
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise MRISRError(f"{path}: cannot read the config ({err})") from None
        if not isinstance(data, dict):
            raise MRISRError(f"{path}: the config must be a mapping of sections")
        return cls.from_saved(data) if saved else cls.from_dict(data)


def preset(name: str) -> Config:
    """The config of a named preset (:data:`PRESETS`)."""
    if name not in PRESETS:
        raise MRISRError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return Config().override(PRESETS[name])


def _renamed(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the :data:`RENAMED` keys of ``section`` under their new names."""
    for old, new in RENAMED.get(section, {}).items():
        if old in values:
            if new in values:
                raise MRISRError(f"config: '{section}' has both {old!r} and its new name {new!r}")
            values[new] = values.pop(old)
    return values


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so YAML and torch's weights-only loader both accept the dict."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
