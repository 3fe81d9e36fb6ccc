import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mrisr.losses import PatchNCELoss, ProjectionHead, charbonnier, lsgan_discriminator_loss, lsgan_generator_loss
from mrisr.losses.contrastive import gather_locations, sample_locations


def unit(*shape):
    return F.normalize(torch.randn(*shape), dim=-1)


def test_identical_features_give_a_low_loss():
    keys = unit(2, 64, 128)
    assert PatchNCELoss(0.07)(keys.clone(), keys).item() < 0.01


def test_unrelated_features_give_about_log_n():
    n = 64
    loss = PatchNCELoss(temperature=1.0)(unit(4, n, 512), unit(4, n, 512))
    assert loss.item() == pytest.approx(math.log(n), rel=0.05)


def test_negatives_across_the_batch_make_the_task_harder():
    queries = keys = unit(3, 16, 8)
    same = PatchNCELoss(0.5)(queries, keys).item()
    across = PatchNCELoss(0.5, negatives_across_batch=True)(queries, keys).item()
    assert across > same


def test_gradient_flows_to_queries_not_keys():
    queries, keys = unit(1, 8, 16).requires_grad_(), unit(1, 8, 16).requires_grad_()
    PatchNCELoss()(queries, keys).backward()
    assert queries.grad is not None and keys.grad is None


def test_locations_are_gathered_consistently_from_both_maps():
    features = torch.randn(2, 5, 4, 4, 4)
    index = sample_locations(64, 10, np.random.default_rng(0))
    assert len(set(index.tolist())) == 10 and int(index.max()) < 64
    vectors = gather_locations(features, index)
    assert vectors.shape == (2, 10, 5)
    flat = int(index[3])
    torch.testing.assert_close(vectors[1, 3], features[1, :, flat // 16, (flat // 4) % 4, flat % 4])


def test_projection_gives_unit_vectors():
    out = ProjectionHead(5, dim=32)(torch.randn(2, 7, 5))
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(2, 7))


def test_charbonnier_and_lsgan_values():
    assert charbonnier(torch.zeros(4), torch.full((4,), 3.0)).item() == pytest.approx(3.0, abs=1e-3)
    assert lsgan_generator_loss(torch.ones(3)).item() == 0
    assert lsgan_discriminator_loss(torch.ones(3), torch.zeros(3)).item() == 0
