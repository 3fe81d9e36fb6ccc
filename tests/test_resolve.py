"""Settling a run's acquisition: the profile estimate is used only where it measures something, and said so."""

import json

import numpy as np
import pytest
from scipy import ndimage

from mrisr import MRISRError, datasets
from mrisr.acquisition.forward import SimulationParams, crop_to_multiple, degrade
from mrisr.acquisition.profile import on_search_bound
from mrisr.config import Config
from mrisr.console import console
from mrisr.intensity import intensity_scale
from mrisr.io import Volume, load_volume
from mrisr.sampling.volumes import prepare_volume
from mrisr.training.scanner_report import acquisition_report, format_report, write_acquisition_report
from mrisr.training.settle import BOX_FWHM, Settled, settle


@pytest.fixture(scope="module")
def colin() -> np.ndarray:
    data = load_volume(datasets.colin27()).data
    return crop_to_multiple(data / intensity_scale(data, 99.9), (2, 2, 2))


def training_volume(data: np.ndarray, voxel_mm: float = 1.0):
    return prepare_volume(Volume(np.asarray(data, np.float32), np.diag([voxel_mm] * 3 + [1.0])), 99.9, (1, 1, 1))


def test_estimates_at_either_end_of_the_search_are_flagged():
    assert on_search_bound((1.0, 2.0, 4.0), (2, 2, 2)) == [0, 2]
    assert on_search_bound((0.0, 0.0, 2.05), (1, 1, 4)) == [2]
    assert on_search_bound((0.0, 0.0, 3.9), (1, 1, 4)) == []


def test_a_reference_smoother_than_the_scan_gives_a_bound_that_training_does_not_use(colin):
    """Against a heavily blurred reference the scan looks sharper than any profile in the search. With a
    Gaussian profile each such axis trains with the nominal FWHM (the factor) and the warning names the
    axis, the bound and the mm; with the ``auto`` shape it trains with the sinc of k-space truncation, the
    sharpest physical profile, and one warning says why."""
    lr = degrade(colin, SimulationParams(scale=(2, 2, 2), fwhm=(2.0, 2.0, 2.0)))
    smooth = ndimage.gaussian_filter(colin, 3.0)
    model = {"scale": [2, 2, 2], "architecture": "unpaired", "profile_shape": "gaussian"}
    config = Config().override({"model": model})
    acquisition = settle(config, [training_volume(smooth)], [training_volume(lr, 2.0)])
    assert acquisition.config.model.fixed_fwhm == (2.0, 2.0, 2.0)
    assert len(acquisition.warnings) == 3
    assert all("a bound, not a measurement" in w and "nominal 2.00 mm" in w for w in acquisition.warnings)
    assert config.model.fixed_fwhm is None  # the caller's config is not changed

    auto = settle(
        Config().override({"model": {**model, "profile_shape": "auto"}}),
        [training_volume(smooth)],
        [training_volume(lr, 2.0)],
    )
    assert auto.config.model.profile_shape == "sinc"
    assert auto.profile_source.startswith("k-space truncation (sinc), estimated")
    assert len(auto.warnings) == 1 and "sharper along every axis than any Gaussian" in auto.warnings[0]


def test_an_estimate_below_the_nominal_against_another_subject_is_a_lower_bound(colin):
    """A reference a little smoother than the scan (as templates are) puts the estimate of a 2 mm profile
    inside the search but below the nominal (1.65-1.75 mm): each such axis trains with the nominal and a
    warning calls the estimate a lower bound. A thick-slice scan is its own reference: no such rule."""
    from mrisr.training.settle import below_nominal

    lr = degrade(colin, SimulationParams(scale=(2, 2, 2), fwhm=(2.0, 2.0, 2.0)))
    model = {"scale": [2, 2, 2], "architecture": "unpaired", "profile_shape": "gaussian"}
    acquisition = settle(
        Config().override({"model": model}),
        [training_volume(ndimage.gaussian_filter(colin, 0.5))],
        [training_volume(lr, 2.0)],
    )
    assert acquisition.config.model.fixed_fwhm == (2.0, 2.0, 2.0)
    assert len(acquisition.warnings) == 3
    assert all("lower bound" in w and "nominal 2.00 mm" in w for w in acquisition.warnings)
    as_found = settle(
        Config().override({"model": {**model, "nominal_floor": False}}),  # the paper preset's rule
        [training_volume(ndimage.gaussian_filter(colin, 0.5))],
        [training_volume(lr, 2.0)],
    )
    assert all(w < 1.8 for w in as_found.config.model.fixed_fwhm) and as_found.warnings == []
    assert below_nominal((1.85, 1.7, 2.6), (2, 2, 2)) == [1]
    assert below_nominal((0.0, 0.0, 2.0), (1, 1, 4)) == []


def test_a_kspace_truncated_scan_trains_with_the_sinc_profile(colin):
    """The paper's k-space degradation against the scan's own HR: the spectra prefer the sinc to every
    Gaussian, and the run says so in its source, its report and its forward model."""
    lr = degrade(colin, SimulationParams(scale=(2, 2, 2), kind="kspace"))
    config = Config().override({"model": {"scale": [2, 2, 2], "architecture": "unpaired"}})
    acquisition = settle(config, [training_volume(colin)], [training_volume(lr, 2.0)])
    assert acquisition.config.model.profile_shape == "sinc"
    assert acquisition.config.model.fixed_fwhm == (2.0, 2.0, 2.0)
    assert (
        acquisition_report(acquisition, acquisition.acquisition(acquisition.config.model.fixed_fwhm), (2.0, 2.0, 2.0))[
            "profile_shape"
        ]
        == "sinc"
    )


def test_a_gaussian_scan_keeps_the_gaussian_profile(colin):
    lr = degrade(colin, SimulationParams(scale=(2, 2, 2), fwhm=(2.0, 2.0, 2.0), noise_sigma=0.01))
    config = Config().override({"model": {"scale": [2, 2, 2], "architecture": "unpaired"}})
    assert settle(config, [training_volume(colin)], [training_volume(lr, 2.0)]).config.model.profile_shape == "gaussian"


@pytest.mark.parametrize(
    "change", [{"profile": "learn"}, {"architecture": "planar", "scale": [1, 1, 4]}, {"profile_shape": "box"}]
)
def test_a_sinc_profile_needs_an_estimated_3d_model(change):
    config = Config().override({"model": {"profile_shape": "sinc", **change}})
    with pytest.raises(MRISRError, match="profile_shape"):
        settle(config, [], [training_volume(np.ones((8, 8, 8)))])


def test_a_matching_reference_gives_a_measurement_without_warnings(colin):
    lr = degrade(colin, SimulationParams(scale=(2, 2, 2), fwhm=(2.5, 2.5, 2.5), noise_sigma=0.01))
    config = Config().override({"model": {"scale": [2, 2, 2], "architecture": "unpaired"}})
    acquisition = settle(config, [training_volume(colin)], [training_volume(lr, 2.0)])
    np.testing.assert_allclose(acquisition.config.model.fixed_fwhm, 2.5, rtol=0.1)
    assert acquisition.warnings == []
    assert acquisition.profile_source.startswith("estimated")


def test_a_noise_estimate_without_air_is_flagged_unless_the_sigma_is_configured(colin):
    inside = colin[50:90, 60:110, 50:90]  # brain only: no air corner
    config = Config().override({"model": {"scale": [2, 2, 2], "fixed_fwhm": [2.0, 2.0, 2.0]}})
    warnings = settle(config, [], [training_volume(inside)]).warnings
    assert len(warnings) == 1 and "from the signal" in warnings[0]
    assert settle(config, [], [training_volume(colin)]).warnings == []
    configured = config.override({"model": {"noise_sigma": 0.01}})
    assert settle(configured, [], [training_volume(inside)]).warnings == []


def test_the_scanner_report_carries_the_warnings_and_prints_them(tmp_path, capsys):
    config = Config().override({"model": {"scale": [2, 2, 2], "fixed_fwhm": [2.0, 2.0, 2.0]}})
    settled = Settled(config, [0.01], "fixed (config)", ["the estimate is a bound"])
    report = acquisition_report(settled, settled.acquisition((2.0, 2.0, 2.0)), (2.0, 2.0, 2.0))
    with console():
        write_acquisition_report(tmp_path, report, np.random.default_rng(0).random((20, 20, 20)) * 0.01)
    assert json.loads((tmp_path / "degradation.json").read_text())["warnings"] == ["the estimate is a bound"]
    assert "warning: the estimate is a bound" in capsys.readouterr().err
    assert (tmp_path / "degradation.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("thickness", "chosen"), [(4.0, "gaussian"), (2.5, "estimate"), (4.4, "estimate"), (5.9, "box")]
)
def test_the_scan_decides_between_its_estimate_and_the_slice_thickness(colin, thickness, chosen):
    """Slices 4 mm thick every 5 mm (a gap, a Gaussian profile): a right header thickness is confirmed by the
    estimate and trained with exactly; one 38% too thin, or 10% too thick (a profile too wide costs more than
    the estimate's error), is contradicted, so training uses the estimate and warns; one whose box reading
    (0.68 x 5.9 = 4.0 mm) matches trains with the box."""
    from mrisr.acquisition.forward import acquire_axis

    scan = acquire_axis(colin[30:150, 30:190, :], 2, 5.0, 4.0)
    volume = prepare_volume(Volume(scan, np.diag([1.0, 1.0, 5.0, 1.0])), 99.9, (1, 1, 1))
    config = Config().override({"model": {"scale": [1, 1, 5], "slice_thickness": thickness}})
    acquisition = settle(config, [], [volume])
    used = acquisition.config.model.fixed_fwhm[2]
    assert used == pytest.approx({"gaussian": 4.0, "box": BOX_FWHM * 5.9}.get(chosen, 4.0), rel=0.15)
    if chosen != "estimate":
        assert used == pytest.approx({"gaussian": 4.0, "box": BOX_FWHM * 5.9}[chosen], abs=1e-9)
    assert acquisition.thickness_source == "model.slice_thickness (the config or --slice-thickness)"
    assert acquisition.profile_source.startswith("decided by the scan: trains with")
    assert (f"read as a {chosen}" in acquisition.profile_source) == (chosen != "estimate")
    assert any("contradicts its protocol" in w for w in acquisition.warnings) == (chosen == "estimate")
    report = acquisition_report(acquisition, acquisition.acquisition(acquisition.config.model.fixed_fwhm), volume.zooms)
    assert report["slice_thickness_mm"] == thickness and report["sr_voxel_mm"] == [1.0, 1.0, 1.0]
    console = format_report(report).splitlines()
    assert len(console) == 5 and f"  thickness      {thickness:g} mm ({acquisition.thickness_source})" in console


def test_an_estimate_on_a_bound_lets_the_spectrum_choose_the_reading_of_the_thickness(colin):
    """Slices binned in pairs (a 2-voxel box) of a scan blurred in-plane, so the estimate ends on its lower
    bound: the box reading explains the slice-axis spectrum better than a Gaussian as wide as the thickness,
    and training uses it with a warning that says why."""
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(colin[20:160, 20:200, :176], (1.2, 1.2, 0))  # in-plane blurrier than slices
    binned = blurred.reshape(*blurred.shape[:2], -1, 2).mean(axis=3)
    volume = prepare_volume(Volume(binned, np.diag([1.0, 1.0, 2.0, 1.0])), 99.9, (1, 1, 1))
    acquisition = settle(Config().override({"model": {"scale": [1, 1, 2], "slice_thickness": 2.0}}), [], [volume])
    assert acquisition.config.model.fixed_fwhm[2] == pytest.approx(BOX_FWHM * 2.0)
    assert any("sits on an end of its search" in w and "better by the box" in w for w in acquisition.warnings)


def test_a_scan_too_short_to_measure_reads_its_thickness_as_a_box(colin):
    volume = training_volume(colin[40:140, 40:180, 60:72].reshape(100, 140, 6, 2).mean(axis=3))
    volume.zooms = (1.0, 1.0, 2.0)
    acquisition = settle(Config().override({"model": {"scale": [1, 1, 2], "slice_thickness": 2.0}}), [], [volume])
    assert acquisition.config.model.fixed_fwhm[2] == pytest.approx(BOX_FWHM * 2.0)
    assert "too few slices (6)" in acquisition.profile_source
