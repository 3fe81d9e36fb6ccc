import numpy as np
import pytest
from conftest import blob, world_centroid

from mrisr import MRISRError
from mrisr.acquisition.forward import gaussian_downsample
from mrisr.evaluation import evaluate, format_table, interpolate
from mrisr.io import Volume, coarsen_affine, refine_affine

AFFINE = np.diag([1.0, 1.2, 0.9, 1.0])


@pytest.mark.parametrize("order", [0, 1, 3])
@pytest.mark.parametrize("scale", [(2, 2, 2), (1, 1, 4)])
def test_baselines_are_on_the_refined_grid(order, scale):
    lr = blob((14, 15, 12), (6.2, 7.3, 5.1), sigma=2.5)
    up = interpolate(lr, scale, order)
    assert up.shape == tuple(n * f for n, f in zip(lr.shape, scale))
    np.testing.assert_allclose(world_centroid(up, refine_affine(AFFINE, scale)), world_centroid(lr, AFFINE), atol=0.02)


def test_evaluate_scores_prediction_and_baselines():
    truth = blob((32, 32, 32), (15, 16, 17), sigma=5)
    lr = gaussian_downsample(truth, (2, 2, 2))
    results = evaluate(
        Volume(truth, AFFINE, path="truth"),
        {"mrisr": truth.copy()},
        lr=Volume(lr, coarsen_affine(AFFINE, (2, 2, 2)), path="lr"),
    )
    assert set(results) == {"mrisr", "cubic", "trilinear"}
    assert results["mrisr"]["psnr"] == float("inf")
    assert results["cubic"]["psnr"] > results["trilinear"]["psnr"] > 20
    assert results["mrisr"]["consistency_psnr"] > 40
    assert "cubic" in format_table(results)


def test_lr_on_another_grid_is_refused():
    truth = Volume(np.random.rand(16, 16, 16), AFFINE, path="truth")
    shifted = coarsen_affine(AFFINE, (2, 2, 2))
    shifted[:3, 3] += 0.5
    with pytest.raises(MRISRError, match="does not match"):
        evaluate(truth, {}, lr=Volume(np.random.rand(8, 8, 8), shifted, path="lr"))
