"""A BIDS dataset's anatomical scans in, a BIDS derivatives dataset out.

The scans are found by their paths alone (``sub-<label>/[ses-<label>/]anat/sub-<label>_..._<suffix>.nii[.gz]``),
which is all a super-resolution run needs: indexing a whole dataset with pybids would pull a database and
take minutes on thousands of subjects. The outputs are named as the BIDS derivatives specification asks, so
pybids, and the tools after mrisr, index them with ``desc-sr``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mrisr import MRISRError, __version__
from mrisr.io import atomic_write

DEFAULT_SUFFIXES = ("T1w", "T2w", "FLAIR")
"""The anatomical contrasts a thick-slice protocol usually has."""
DESCRIPTION = "sr"
"""The ``desc`` entity of every super-resolved scan."""
NAME = re.compile(r"^(sub-[A-Za-z0-9]+(?:_[a-z]+-[A-Za-z0-9]+)*)_([A-Za-z0-9]+)\.nii(\.gz)?$")


@dataclass(frozen=True)
class BidsScan:
    """One anatomical scan of a BIDS dataset."""

    path: Path
    relative: str  # its path inside the dataset, with forward slashes
    entities: dict[str, str]  # key-value pairs of the name, in their order ("sub", "ses", "acq", ...)
    suffix: str

    @property
    def root(self) -> Path:
        """The dataset's folder."""
        return self.path.parents[len(Path(self.relative).parts) - 1]

    @property
    def stem(self) -> str:
        """Its file name without the extension: ``sub-01_T2w``."""
        return Path(self.relative).name.split(".")[0]

    @property
    def subject(self) -> str:
        return self.entities["sub"]

    @property
    def session(self) -> str | None:
        return self.entities.get("ses")


def parse_name(path: Path, root: Path) -> BidsScan | None:
    """The :class:`BidsScan` of a file named as BIDS asks, else ``None``."""
    match = NAME.match(path.name)
    if not match:
        return None
    entities = dict(pair.split("-", 1) for pair in match.group(1).split("_"))
    return BidsScan(path, path.relative_to(root).as_posix(), entities, match.group(2))


def inherited_metadata(scan: BidsScan, root: str | Path) -> dict:
    """The scan's JSON metadata by the BIDS inheritance principle: the sidecars of its suffix from the
    dataset's top down to its own folder whose entities all belong to the scan, the nearer and the more
    specific winning (a top-level ``T2w.json`` holds what every T2w shares)."""
    root = Path(root)
    folder, levels = root, [root]
    for part in Path(scan.relative).parent.parts:
        folder = folder / part
        levels.append(folder)
    found = []
    for depth, level in enumerate(levels):
        for path in level.glob(f"*{scan.suffix}.json"):
            keys = path.name[: -len(f"{scan.suffix}.json")].rstrip("_")
            entities = dict(pair.split("-", 1) for pair in keys.split("_") if "-" in pair) if keys else {}
            if path.name == f"{scan.suffix}.json" or (entities and entities.items() <= scan.entities.items()):
                found.append((depth, len(entities), path))
    merged: dict = {}
    for _, _, path in sorted(found):
        try:
            merged.update(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise MRISRError(f"{path}: not a readable JSON sidecar ({err})") from None
    return merged


def find_scans(
    bids_dir: str | Path,
    participants: Sequence[str] = (),
    sessions: Sequence[str] = (),
    suffixes: Sequence[str] = DEFAULT_SUFFIXES,
) -> list[BidsScan]:
    """The dataset's anatomical scans of ``suffixes``, of the ``participants`` and ``sessions`` given (labels,
    with or without their ``sub-``/``ses-`` prefix; all when empty), sorted by path."""
    root = Path(bids_dir)
    if not (root / "dataset_description.json").is_file():
        raise MRISRError(f"{root}: not a BIDS dataset (no dataset_description.json)")
    wanted_subjects = {label.removeprefix("sub-") for label in participants}
    wanted_sessions = {label.removeprefix("ses-") for label in sessions}
    scans = []
    for path in sorted(root.glob("sub-*/**/anat/*.nii*")):
        scan = parse_name(path, root)
        if scan is None or scan.suffix not in suffixes:
            continue
        if wanted_subjects and scan.subject not in wanted_subjects:
            continue
        if wanted_sessions and scan.session not in wanted_sessions:
            continue
        scans.append(scan)
    missing = wanted_subjects - {scan.subject for scan in scans}
    if missing:
        raise MRISRError(f"{root}: no {'/'.join(suffixes)} scans for participant(s) {', '.join(sorted(missing))}")
    if not scans:
        raise MRISRError(f"{root}: no anatomical {'/'.join(suffixes)} scans found (sub-*/[ses-*/]anat/)")
    return scans


def derivative_path(output_dir: str | Path, scan: BidsScan, suffix: str | None = None) -> Path:
    """Where the SR of ``scan`` goes: its folders and entities, ``desc-sr`` last, then its suffix."""
    entities = {key: value for key, value in scan.entities.items() if key != "desc"}
    name = "_".join(f"{key}-{value}" for key, value in {**entities, "desc": DESCRIPTION}.items())
    folder = Path(output_dir) / Path(scan.relative).parent
    return folder / f"{name}_{suffix or scan.suffix}.nii.gz"


def write_dataset_description(output_dir: str | Path, bids_dir: str | Path) -> Path:
    """``dataset_description.json`` of the derivatives dataset (once; kept when it is there)."""
    path = Path(output_dir) / "dataset_description.json"
    if path.is_file():
        return path
    source = json.loads((Path(bids_dir) / "dataset_description.json").read_text())
    description = {
        "Name": f"mrisr super-resolution of {source.get('Name', Path(bids_dir).name)}",
        "BIDSVersion": source.get("BIDSVersion", "1.9.0"),
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "mrisr", "Version": __version__, "Description": "unpaired MRI super-resolution"}],
        "SourceDatasets": [{"URL": Path(bids_dir).resolve().as_uri()}],
        "DatasetLinks": {"raw": Path(bids_dir).resolve().as_uri()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(description, indent=2) + "\n"))
    (path.parent / ".bidsignore").write_text("models/\nlogs/\ngroup/\n")
    return path
