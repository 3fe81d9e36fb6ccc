"""Super-resolving scans with a trained model, by concept: :mod:`~mrisr.inference.loaded` (the model, its
device, precision and checkpoint), :mod:`~mrisr.inference.memory` (the plan within a memory bound),
:mod:`~mrisr.inference.running` (slabs, windows, flips), :mod:`~mrisr.inference.orient` (a model turned to a
scan), :mod:`~mrisr.inference.writing` (the SR with its maps and sidecar, all or nothing),
:mod:`~mrisr.inference.sidecar` and :mod:`~mrisr.inference.batch` (many scans, shards)."""
