"""Names still imported from here by modules being rewritten elsewhere (``figures``, ``planes``, their tests);
the forward models live in :mod:`mrisr.acquisition`. New code imports from there."""

from mrisr.acquisition.degradation import FWHM_TO_SIGMA, blur_decimate, gaussian_downsample
from mrisr.acquisition.noise import air_corners

__all__ = ["FWHM_TO_SIGMA", "air_corners", "blur_decimate", "gaussian_downsample"]
