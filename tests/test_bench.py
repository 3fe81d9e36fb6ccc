from mrisr.apps.bench import input_shape


def test_the_benchmark_input_shape_follows_every_axis_factor():
    assert input_shape(256, (2, 2, 2)) == (128, 128, 128)
    assert input_shape(256, (1, 1, 4)) == (256, 256, 64)


def test_inference_with_the_trust_maps_runs_and_its_cost_is_reported_as_a_ratio():
    from mrisr.apps.bench import format_report
    from mrisr.apps.bench_child import TRUST_MAPS, inference_child

    row = inference_child((12, 12, 12), (2, 2, 2), TRUST_MAPS, 4.0, width=4)
    assert row["seconds"] > 0 and row["peak_rss_gib"] > 0
    rows = [
        {"method": "mrisr", "output_size": 24, "output_voxels": 24**3, "seconds": 2.0, "peak_rss_gib": 0.5},
        {"method": TRUST_MAPS, "output_size": 24, "output_voxels": 24**3, "seconds": 7.0, "peak_rss_gib": 0.6},
    ]
    report = {
        "machine": {"cpu": "x", "cores": 2, "torch_threads": 2, "torch": "t"},
        "config": {"width": 4, "batch_size": 1},
        "roofline": {"gflops_per_s": 1.0, "size": 16},
        "training": {
            "flops_per_step": 1e9,
            "steps_per_s": 1.0,
            "hr_voxels_per_s": 1e6,
            "gflops_per_s": 1.0,
            "roofline_fraction": 1.0,
            "bf16_steps_per_s": 0.5,
        },
        "inference": rows,
        "window_options": {"default": 1.0},
        "sliding_window_options": {"a": 1.0},
    }
    text = format_report(report)
    assert f"{TRUST_MAPS} at 24^3: 3.50x a plain inference" in text
    assert "0.50 steps/s, 0.50x the fp32 step" in text
