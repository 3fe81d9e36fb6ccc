"""NIfTI input/output: validated loading, atomic writing and the exact super-resolution affine.

Geometry convention (voxel edges aligned, see docs/CONVENTIONS.md §1): a grid refined by an integer
factor ``f`` along an axis covers the same field of view, and coarse voxel ``j`` covers fine voxels
``f*j … f*j+f-1``. So ``A_fine = A_coarse @ S`` with ``S = diag(1/f, 1) + translation (1/f - 1)/2``.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import os
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from mrisr import MRISRError

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass
class Volume:
    """A 3D image in float32 with its voxel-to-world affine and the header it came with."""

    data: np.ndarray
    affine: np.ndarray
    header: nib.Nifti1Header | None = None
    path: str = "<memory>"

    @property
    def zooms(self) -> np.ndarray:
        return nib.affines.voxel_sizes(self.affine)


def is_nifti(path: str | Path) -> bool:
    """True for a ``.nii`` or ``.nii.gz`` file name."""
    return str(path).endswith(NIFTI_SUFFIXES)


def refine_affine(affine: np.ndarray, scale: Sequence[int]) -> np.ndarray:
    """Affine of the grid with ``scale`` times more voxels per axis over the same field of view."""
    f = np.asarray(scale, dtype=float)
    transform = np.eye(4)
    transform[:3, :3] = np.diag(1.0 / f)
    transform[:3, 3] = (1.0 / f - 1.0) / 2.0
    return np.asarray(affine, dtype=float) @ transform


def coarsen_affine(affine: np.ndarray, scale: Sequence[int]) -> np.ndarray:
    """Affine of the grid whose voxel ``j`` covers fine voxels ``f*j … f*j+f-1`` (inverse of refine)."""
    f = np.asarray(scale, dtype=float)
    transform = np.eye(4)
    transform[:3, :3] = np.diag(f)
    transform[:3, 3] = (f - 1.0) / 2.0
    return np.asarray(affine, dtype=float) @ transform


def check_affine(affine: np.ndarray, path: str) -> None:
    """Refuse affines that cannot place voxels in the world: non-finite, singular, zero voxel size."""
    if not np.all(np.isfinite(affine)):
        raise MRISRError(f"{path}: the affine contains NaN or Inf")
    zooms = nib.affines.voxel_sizes(affine)
    if np.any(zooms <= 1e-6) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise MRISRError(f"{path}: the affine is singular (voxel sizes {np.round(zooms, 4).tolist()} mm)")


def load_volume(path: str | Path, *, volume_index: int | None = None, allow_nonfinite: bool = False) -> Volume:
    """Load a 3D NIfTI volume as float32, refusing anything that would give a wrong result silently.

    Args:
        path: a ``.nii`` or ``.nii.gz`` file.
        volume_index: which 3D volume of a 4D file to take (4D files need it unless they hold one).
        allow_nonfinite: replace NaN/Inf voxels by 0 with a warning instead of refusing the file.
    """
    name = str(path)
    if not Path(name).is_file():
        raise MRISRError(f"{name}: no such file")
    try:
        img = nib.load(name)
    except (nib.filebasedimages.ImageFileError, OSError, EOFError, ValueError, zlib.error) as err:
        raise MRISRError(f"{name}: not a readable NIfTI file ({first_line(err)})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise MRISRError(f"{name}: not a NIfTI file ({type(img).__name__})")
    check_affine(img.affine, name)
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        volume_index = 0
    if len(shape) < 3:
        raise MRISRError(f"{name}: a {len(shape)}D image; mrisr needs a 3D volume")
    if len(shape) > 4 or (len(shape) == 4 and volume_index is None):
        raise MRISRError(f"{name}: a {len(shape)}D image of shape {shape}; choose one 3D volume with volume_index")
    if len(shape) == 4 and not 0 <= volume_index < shape[3]:
        raise MRISRError(f"{name}: volume_index {volume_index} is outside 0..{shape[3] - 1}")
    try:
        proxy = img.dataobj if len(shape) == 3 else img.dataobj[..., volume_index]
        data = np.asarray(proxy, dtype=np.float32)
    except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile) as err:
        raise MRISRError(f"{name}: the image data are truncated or corrupt ({first_line(err)})") from None
    bad = ~np.isfinite(data)
    if bad.any():
        if not allow_nonfinite:
            raise MRISRError(f"{name}: {int(bad.sum())} voxels are NaN or Inf (allow_nonfinite sets them to 0)")
        warnings.warn(f"{name}: set {int(bad.sum())} NaN/Inf voxels to 0", stacklevel=2)
        data[bad] = 0.0
    if data.size == 0 or float(data.max()) == float(data.min()):
        raise MRISRError(f"{name}: the volume is constant ({float(data.flat[0]) if data.size else 'empty'})")
    header = img.header.copy() if isinstance(img, nib.Nifti1Image) else None
    return Volume(data=data, affine=np.asarray(img.affine, dtype=float), header=header, path=name)


def first_line(err: BaseException) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0][:160] or type(err).__name__


def check_output_path(path: str | Path, *, overwrite: bool) -> Path:
    """Refuse an existing output (unless ``overwrite``) or a folder we cannot write to, before any work."""
    out = Path(path)
    if out.exists() and not overwrite:
        raise MRISRError(f"{out}: the output exists (use --overwrite to replace it)")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MRISRError(f"{out}: cannot create the output folder {parent} ({first_line(err)})") from None
    if not os.access(parent, os.W_OK):
        raise MRISRError(f"{out}: the output folder {parent} is not writable")
    return out


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``, so readers never see a half-written file."""
    with atomic_files([path]) as (tmp,):
        write(tmp)


@contextlib.contextmanager
def atomic_files(paths: Sequence[str | Path]) -> Iterator[list[str]]:
    """Temp paths to write ``paths`` through; renamed onto them together once the block succeeds.

    A failure (or a kill) anywhere in the block leaves none of ``paths`` written or replaced, so an output
    and its companions (maps, sidecar) appear together. Temp files are hidden (``.name.PID.*.tmp``) next
    to each target; ones left by a process that is gone are removed first, while those of a live process
    writing the same file are left alone.
    """
    targets = [Path(p) for p in paths]
    tmps: list[str] = []
    try:
        for target in targets:
            for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp*"):
                if not _writer_alive(stale.name[len(target.name) + 2 :].split(".")[0]):
                    stale.unlink(missing_ok=True)
            suffix = ".nii.gz" if str(target).endswith(".nii.gz") else target.suffix
            fd, tmp = tempfile.mkstemp(
                prefix=f".{target.name}.{os.getpid()}.", suffix=f".tmp{suffix}", dir=target.parent
            )
            os.close(fd)
            tmps.append(tmp)
        yield list(tmps)
        for tmp in tmps:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())  # the data reach the disk before the name does
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
        for tmp, target in zip(tmps, targets):
            os.replace(tmp, target)
    finally:
        for tmp in tmps:
            Path(tmp).unlink(missing_ok=True)


def _writer_alive(pid: str) -> bool:
    """Whether the process that named a temp file is still running (a malformed name counts as gone)."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output_header(shape: Sequence[int], affine: np.ndarray, header: nib.Nifti1Header | None = None) -> nib.Nifti1Header:
    """A float32 header for ``shape`` with qform = sform = ``affine``, the rest of ``header`` kept."""
    hdr = header.copy() if header is not None else nib.Nifti1Header()
    qcode = int(hdr["qform_code"]) or int(hdr["sform_code"]) or 1
    scode = int(hdr["sform_code"]) or qcode
    hdr.set_data_shape(tuple(int(n) for n in shape))
    hdr.set_data_dtype(np.float32)
    hdr.set_qform(affine, code=qcode)
    hdr.set_sform(affine, code=scode)
    hdr.set_slope_inter(1.0, 0.0)
    hdr["vox_offset"] = 0  # recomputed on writing, after the extensions
    return hdr


class NiftiStream:
    """A float32 NIfTI written slab by slab along its last axis into an open file, one slab in memory.

    NIfTI stores voxels in Fortran order, so slabs along the last axis are contiguous on disk and a
    volume far larger than memory streams straight into the (gzipped) file. Use as a context manager;
    leaving it checks that every slice was written.
    """

    def __init__(self, path: str | Path, shape: Sequence[int], affine: np.ndarray, header: nib.Nifti1Header | None):
        self.shape = tuple(int(n) for n in shape)
        self.header = output_header(shape, affine, header)
        self.path, self.depth = str(path), 0

    def __enter__(self) -> NiftiStream:
        self.file = gzip.open(self.path, "wb", compresslevel=1) if self.path.endswith(".gz") else open(self.path, "wb")
        self.header.write_to(self.file)
        self.file.write(b"\0" * (int(self.header["vox_offset"]) - self.file.tell()))
        return self

    def write(self, slab: np.ndarray) -> None:
        if slab.shape[:2] != self.shape[:2]:
            raise ValueError(f"slab of shape {slab.shape} does not fit a volume of shape {self.shape}")
        self.file.write(np.asarray(slab, dtype=self.header.get_data_dtype()).tobytes(order="F"))
        self.depth += slab.shape[2]

    def __exit__(self, kind, *_) -> None:
        self.file.close()
        if kind is None and self.depth != self.shape[2]:
            raise ValueError(f"slabs hold {self.depth} slices, the volume {self.shape[2]}")


def save_volume_slabs(
    path: str | Path,
    shape: Sequence[int],
    affine: np.ndarray,
    header: nib.Nifti1Header | None,
    slabs: Iterable[np.ndarray],
) -> None:
    """Write a volume given as consecutive slabs along its last axis, atomically (:class:`NiftiStream`)."""
    with atomic_files([path]) as (tmp,), NiftiStream(tmp, shape, affine, header) as stream:
        for slab in slabs:
            stream.write(slab)


def save_volume(path: str | Path, data: np.ndarray, affine: np.ndarray, header: nib.Nifti1Header | None = None) -> None:
    """Write float32 ``data`` atomically, with qform = sform = ``affine`` and the rest of ``header`` kept."""
    save_volume_slabs(path, data.shape, affine, header, [data])


def list_nifti(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand files and folders into a sorted list of NIfTI files; an empty result is an error."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and is_nifti(q))
            if not found:
                raise MRISRError(f"{p}: the folder holds no .nii or .nii.gz files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise MRISRError(f"{p}: no such file or folder")
    if not files:
        raise MRISRError("no input files given")
    return files


def output_name(input_path: Path, suffix: str = "_sr", extension: str = ".nii.gz") -> str:
    """``sub-01_T1w.nii.gz`` → ``sub-01_T1w_sr.nii.gz`` (or another suffix and extension)."""
    name = input_path.name
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name.removesuffix(".nii")
    return f"{stem}{suffix}{extension}"
