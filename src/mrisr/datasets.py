"""Real MRI that ships inside Debian and PyPI packages (docs/DATA.md), found without importing the packages."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from mrisr import MRISRError
from mrisr.io import save_volume

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
COLIN27_BRAIN = Path("/usr/share/mricron/templates/ch2bet.nii.gz")

TEMPLATES = {
    "mni2009a": ("nilearn", "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
    "mni6gen": ("nimare", "resources/templates/tpl-MNI152NLin6Asym_res-01_T1w.nii.gz"),
    "pydeface-mean": ("pydeface", "data/mean_reg2mean.nii.gz"),
}

INSTALL_HINT = (
    "install the data packages: apt-get install -y mricron-data; "
    "pip install --no-deps nilearn==0.14.1 nimare==0.22.1 pydeface==2.1.0"
)


def package_file(package: str, relative: str) -> Path:
    """A file inside an installed package, located without importing it (nilearn's import is slow)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MRISRError(f"the package {package} is not installed ({INSTALL_HINT})")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise MRISRError(f"{path}: missing from the installed {package}")
    return path


def template(name: str) -> Path:
    """One of the HR source templates: ``mni2009a``, ``mni6gen`` or ``pydeface-mean``."""
    return package_file(*TEMPLATES[name])


HEADS = ("colin27", "mni2009a", "mni6gen")
"""The packaged heads with a brain mask (:func:`brain_mask`), for tissue fidelity."""
MNI6GEN_BRAIN = "resources/templates/tpl-MNI152NLin6Asym_res-01_desc-brain_mask.nii.gz"


def head(name: str) -> Path:
    """One of :data:`HEADS`: Colin27 with its scalp, or one of the two MNI templates."""
    return colin27() if name == "colin27" else template(name)


def brain_mask(name: str) -> np.ndarray:
    """The brain of one of :data:`HEADS` on its own grid: Colin27's brain-extracted image (``ch2bet``) above
    zero, the MNI152 6th-generation template's brain mask, and the MNI 2009a template itself (nilearn ships
    it brain-only) above zero with its enclosed cavities filled."""
    if name == "colin27":
        return np.asarray(nib.load(colin27(brain_only=True)).dataobj) > 0
    if name == "mni6gen":
        return np.asarray(nib.load(package_file("nimare", MNI6GEN_BRAIN)).dataobj) > 0.5
    if name == "mni2009a":
        return ndimage.binary_fill_holes(np.asarray(nib.load(template(name)).dataobj) > 0)
    raise MRISRError(f"no brain mask for {name!r} (one of {', '.join(HEADS)})")


def colin27(brain_only: bool = False) -> Path:
    """Colin27, the one real person with a high-resolution truth (Debian package mricron-data)."""
    path = COLIN27_BRAIN if brain_only else COLIN27
    if not path.is_file():
        raise MRISRError(f"{path}: not found ({INSTALL_HINT})")
    return path


def epi_b0_nifti(out: Path, repeat: int = 1) -> Path:
    """Write one of the two repeats of the real 3 T b≈0 EPI (a Siemens mosaic in heudiconv's test data) as
    NIfTI, read with nibabel's DICOM wrapper (it warns 'experimental'; it works)."""

    from nibabel.nicom import dicomwrappers  # needs pydicom, installed for this example's data only

    dicom = package_file("heudiconv", f"tests/data/b0dwiForFmap/b0dwi_for_fmap+0000{repeat}.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = dicomwrappers.wrapper_from_file(str(dicom))
        save_volume(out, wrapper.get_data().astype(np.float32), wrapper.affine)
    return out
