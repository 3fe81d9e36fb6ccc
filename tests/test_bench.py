from mrisr.apps.bench import input_shape


def test_the_benchmark_input_shape_follows_every_axis_factor():
    assert input_shape(256, (2, 2, 2)) == (128, 128, 128)
    assert input_shape(256, (1, 1, 4)) == (256, 256, 64)
