"""The work of each command, as functions a test can call: run, infer, evaluate and simulate, the demo, the
benchmark, the BIDS App and the paper's experiment, and the figures they draw."""
