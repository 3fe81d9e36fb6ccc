"""The comparison figure (the paper's Fig. 2): written atomically, LR/cubic panels, head-mask titles, no blank panel."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import OBLIQUE

from mrisr.apps.figures import comparison_figure, comparison_panels, draw_comparison, trust_figure, uncertainty_window
from mrisr.intensity import foreground_mask
from mrisr.metrics import normalise_pair, score
from mrisr.plotting import ERROR_CMAP, SagittalView, zoom_window

SHAPE = (24, 28, 20)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def phantom(shape=SHAPE) -> np.ndarray:
    """A head-like ellipsoid in air, with a brighter core and a little texture, in [0, 1]."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r = np.sqrt(sum(g**2 for g in grids))
    texture = 0.1 * np.sin(7 * grids[1]) * np.cos(5 * grids[2])
    return np.where(r < 0.85, 0.5 + 0.4 * (r < 0.5) + texture, 0.0).astype(np.float32)


def block_mean(volume: np.ndarray, f: int = 2) -> np.ndarray:
    """A crude LR: the mean of f³ blocks."""
    s = [n // f for n in volume.shape]
    return volume.reshape(s[0], f, s[1], f, s[2], f).mean(axis=(1, 3, 5))


@pytest.fixture(scope="module")
def case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A truth, its LR, and a noisy "method" on the truth's grid."""
    truth = phantom()
    method = truth + np.random.default_rng(0).normal(0, 0.03, truth.shape).astype(np.float32)
    return truth, block_mean(truth), method


def error_images(fig) -> list[np.ndarray]:
    """The arrays drawn with the error colour map."""
    return [im.get_array() for ax in fig.axes for im in ax.get_images() if im.get_cmap().name == ERROR_CMAP]


def test_figure_is_a_png_written_atomically(case, tmp_path):
    truth, lr, method = case
    path = tmp_path / "fig.png"
    comparison_figure(truth, {"mrisr": method}, path, affine=np.eye(4), lr=lr)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    import matplotlib.image

    assert matplotlib.image.imread(path).ndim == 3
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no temp file left behind


def test_lr_adds_nearest_and_cubic_panels_in_front(case):
    truth, lr, method = case
    without = comparison_panels(truth, {"mrisr": method})
    with_lr = comparison_panels(truth, {"mrisr": method}, lr=lr)
    assert list(without) == ["mrisr", "truth"]
    assert list(with_lr) == ["LR", "cubic", "mrisr", "truth"]
    assert all(panel.shape == truth.shape for panel in with_lr.values())
    nearest = lr.repeat(2, 0).repeat(2, 1).repeat(2, 2)
    np.testing.assert_allclose(with_lr["LR"], nearest, atol=1e-6)
    assert not np.allclose(with_lr["cubic"], nearest)


def test_reference_goes_last_even_when_named_like_an_image(case):
    truth, _, method = case
    panels = comparison_panels(method, {"mrisr": method, "cubic": truth}, truth_name="mrisr")
    assert list(panels) == ["cubic", "mrisr"]


def test_titles_lead_with_the_given_head_mask_scores(case):
    truth, lr, method = case
    metrics = {"mrisr": {"psnr": 11.0, "ssim": 0.111, "psnr_fg": 23.456, "ssim_fg": 0.789}}
    fig = draw_comparison(truth, {"mrisr": method}, affine=np.eye(4), metrics=metrics, lr=lr)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert [t.splitlines()[0] for t in titles] == ["LR", "cubic", "mrisr", "truth"]
    assert "23.46 dB" in titles[2] and "0.789" in titles[2]
    assert "11.00" not in titles[2]  # the whole-volume numbers are not the headline


def test_missing_scores_are_computed_inside_the_head_mask(case):
    truth, lr, method = case
    fig = draw_comparison(truth, {"mrisr": method}, affine=np.eye(4), metrics={"cubic": {"psnr": 1.0}}, lr=lr)
    titles = {t.splitlines()[0]: t for t in (ax.get_title() for ax in fig.axes) if t}
    gt, pred = normalise_pair(truth, method)  # the units of evaluate(): the truth's 99.9th percentile is 1
    expected = score(pred, gt, foreground_mask(gt))
    assert f"{expected['psnr_fg']:.2f} dB" in titles["mrisr"]
    assert f"{expected['ssim_fg']:.3f}" in titles["mrisr"]
    assert "dB" in titles["cubic"] and "dB" in titles["LR"]


def test_no_blank_error_panel_for_the_reference(case):
    truth, lr, method = case
    fig = draw_comparison(truth, {"mrisr": method}, affine=OBLIQUE, lr=lr)
    errors = error_images(fig)
    assert len(errors) == 3  # LR, cubic, mrisr; not the truth
    assert all(np.asarray(e).max() > 0 for e in errors)


def test_zoom_window_sits_where_the_methods_differ():
    mask = np.zeros((60, 80), bool)
    mask[5:55, 5:75] = True
    quiet = np.full(mask.shape, 0.01)
    loud = quiet.copy()
    loud[35:45, 50:60] = 0.5
    rows, cols = zoom_window([quiet, loud], mask, (16, 16))
    assert rows.stop - rows.start == 16 and cols.stop - cols.start == 16
    assert rows.start <= 40 < rows.stop and cols.start <= 55 < cols.stop
    assert mask[rows, cols].all()


def test_sagittal_view_puts_superior_up_and_anterior_left():
    volume = np.zeros((5, 6, 7))
    volume[2, 5, 6] = 1.0  # most anterior, most superior voxel of a RAS grid
    view = SagittalView.of(volume.shape, np.eye(4))
    plane = view.cut(volume)
    assert plane.shape == (7, 6)
    assert plane[0, 0] == 1.0


def test_the_trust_figure_zooms_where_the_uncertainty_is_highest(tmp_path):
    sr = phantom()
    affine = np.eye(4)
    view = SagittalView.of(sr.shape, affine)
    mask = view.cut(foreground_mask(sr))
    spread = np.full(mask.shape, 0.01, np.float32)
    r, c = np.argwhere(mask).mean(axis=0).astype(int) + (-5, 4)
    spread[r : r + 2, c : c + 2] = 0.5  # a hot spot in the head, far from its centre
    window = uncertainty_window(spread, mask, view)
    assert spread[window][spread[window] == 0.5].size == 4  # the whole hot spot is in the zoom
    uncertainty = np.where(foreground_mask(sr), 0.02, 0.0).astype(np.float32)
    lr_affine = np.diag([1.0, 1.0, 2.0, 1.0])
    consistency = np.zeros((24, 28, 10), np.float32)
    trust_figure(tmp_path / "trust.png", sr, uncertainty, consistency, affine=affine, lr_affine=lr_affine, truth=sr)
    assert (tmp_path / "trust.png").read_bytes()[:8] == PNG_SIGNATURE
