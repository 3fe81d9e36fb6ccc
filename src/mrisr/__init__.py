"""mrisr: unpaired 3D MRI super-resolution with contrastive learning (arXiv 2310.15767)."""

__version__ = "0.1.0"


class MRISRError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits non-zero."""
