"""The CUDA paths: training, resume, checkpoints that move between devices, inference in fp32 and bf16.

Skipped where no GPU is present (the CPU CI); run on a GPU machine with ``python -m pytest tests/test_cuda.py``.
"""

import numpy as np
import pytest
import torch
from conftest import straight_and_resumed, tiny_config

from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import super_resolve_file
from mrisr.io import load_volume
from mrisr.metrics import psnr
from mrisr.training import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def cuda_config(real_data, steps=4):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=steps)
    config.train.device = "cuda"
    return config


def test_a_model_trained_on_cuda_infers_alike_on_cuda_and_cpu(tmp_path, real_data):
    model_path = train(cuda_config(real_data), tmp_path / "run")
    lr = load_volume(real_data["colin"]).data
    on_cpu = LoadedModel.load(model_path, "cpu", "fp32").super_resolve(lr)
    gpu = LoadedModel.load(model_path, "cuda", "fp32")
    assert gpu.meta["step"] == 4 and next(gpu.network.parameters()).is_cuda
    fp32 = gpu.super_resolve(lr)
    bf16 = gpu.super_resolve(lr, dtype=torch.bfloat16)
    peak = float(np.percentile(on_cpu, 99.9))
    assert psnr(fp32, on_cpu, data_range=peak) > 50  # TF32 convolutions on the GPU: close, not bit-equal
    assert psnr(bf16, on_cpu, data_range=peak) > 35
    assert psnr(bf16, on_cpu, data_range=peak) < psnr(fp32, on_cpu, data_range=peak)


def test_training_on_cuda_resumes_where_it_stopped(tmp_path, real_data):
    straight, resumed = straight_and_resumed(cuda_config(real_data), tmp_path)
    assert next(resumed.system.generator.parameters()).is_cuda
    for name, value in straight.system.generator.state_dict().items():
        torch.testing.assert_close(resumed.system.generator.state_dict()[name], value, rtol=1e-4, atol=1e-5)


def test_streamed_inference_on_cuda_writes_the_same_volume_as_one_pass(tmp_path, real_data):
    model_path = train(cuda_config(real_data, steps=2), tmp_path / "run")
    model = LoadedModel.load(model_path, "cuda", "fp32")
    out = super_resolve_file(model, real_data["colin"], tmp_path / "sr.nii.gz", max_memory_gb=64)
    whole = model.super_resolve(load_volume(real_data["colin"]).data)
    np.testing.assert_allclose(load_volume(out).data, whole, rtol=1e-5, atol=1e-5)
