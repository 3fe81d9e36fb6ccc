"""Applications built on the library: the demo, the benchmark and the paper's experiment."""
