"""``mrisr bids`` on a BIDS dataset made here: 3 subjects, 2 sessions, a thick-slice T2w and a 2 mm T1w."""

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import bids
import nibabel as nib
import numpy as np
import pytest
from conftest import real_crop

from mrisr import MRISRError, datasets
from mrisr.apps.bids.layout import derivative_path, find_scans, inherited_metadata, parse_name
from mrisr.apps.bids.protocols import Protocol, group_by_protocol, same_protocol, slice_direction, training_sample
from mrisr.cli import main
from mrisr.models.checkpoint import load_checkpoint

CORNERS = [(60, 70, 60), (70, 80, 50), (50, 60, 70), (65, 75, 55), (55, 85, 65), (75, 65, 60)]
FAST = ["--steps", "2", "--device", "cpu", "-q"]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """The dataset: sub-0{1,2,3}/ses-{1,2}/anat with a T2w of 4 mm slices every 4 mm (sidecar SliceThickness)
    and a 2 mm isotropic T1w, each a different crop of Colin27 (different "subjects")."""
    root = tmp_path_factory.mktemp("bids") / "raw"
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps({"Name": "test", "BIDSVersion": "1.9.0"}))
    crops = tmp_path_factory.mktemp("crops")
    for k, corner in enumerate(CORNERS):
        sub, ses = f"0{k // 2 + 1}", f"{k % 2 + 1}"
        anat = root / f"sub-{sub}" / f"ses-{ses}" / "anat"
        anat.mkdir(parents=True)
        hr = real_crop(datasets.colin27(), crops / f"{k}.nii.gz", corner=corner, size=(40, 48, 40))
        stem = f"sub-{sub}_ses-{ses}"
        t2 = anat / f"{stem}_T2w.nii.gz"
        assert main(["simulate", str(hr), "-o", str(t2), "--scale", "1", "1", "4", "--noise", "0.01", "-q"]) == 0
        (anat / f"{stem}_T2w.json").write_text(json.dumps({"SliceThickness": 4.0}))
        assert main(["simulate", str(hr), "-o", str(anat / f"{stem}_T1w.nii.gz"), "-q"]) == 0
    return root


def sr_files(out: Path) -> list[Path]:
    return sorted(out.glob("sub-*/ses-*/anat/*_desc-sr_*.nii.gz"))


def test_scans_are_found_by_their_names_and_grouped_by_protocol(raw):
    scans = find_scans(raw, participants=["sub-01", "02"], suffixes=["T2w"])
    assert [s.relative for s in scans] == [
        f"sub-0{s}/ses-{e}/anat/sub-0{s}_ses-{e}_T2w.nii.gz" for s, e in [(1, 1), (1, 2), (2, 1), (2, 2)]
    ]
    groups, unreadable = group_by_protocol(find_scans(raw))
    assert not unreadable
    assert [p.name for p in groups] == ["T1w_2.00x2.00x2.00mm_isotropic", "T2w_1.00x1.00x4.00mm_axial_4.00mm-thick"]
    assert all(len(scans) == 6 for scans in groups.values())
    assert [s.relative for s in training_sample(scans, 3)] == [scans[0].relative, scans[2].relative, scans[3].relative]
    scan = parse_name(raw / "sub-01/ses-1/anat/sub-01_ses-1_acq-fast_run-2_T2w.nii.gz", raw)
    assert derivative_path("/d", scan) == Path("/d/sub-01/ses-1/anat/sub-01_ses-1_acq-fast_run-2_desc-sr_T2w.nii.gz")
    with pytest.raises(MRISRError, match="participant"):
        find_scans(raw, participants=["09"])
    t2 = Protocol("T2w", (1.0, 1.0, 4.0), 4.0, "axial")
    assert same_protocol(Protocol("T2w", (0.98, 0.98, 4.0), 4.0, "axial"), t2)  # a larger field of view
    assert not same_protocol(Protocol("T2w", (1.0, 1.0, 5.0), 4.0, "axial"), t2)  # another spacing
    assert not same_protocol(Protocol("T2w", (1.0, 1.0, 4.0), 3.0, "axial"), t2)  # thinner slices
    assert not same_protocol(Protocol("FLAIR", (1.0, 1.0, 4.0), 4.0, "axial"), t2)
    coronal = np.array([[1.0, 0, 0, 0], [0, 0, 4.0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]])
    assert slice_direction(coronal, 2) == "coronal" and slice_direction(coronal, None) == "isotropic"


def test_a_thickness_given_once_at_the_top_of_the_dataset_is_inherited(raw, tmp_path):
    data = tmp_path / "raw"
    shutil.copytree(raw, data)
    for sidecar in data.glob("sub-*/ses-*/anat/*_T2w.json"):
        sidecar.unlink()
    (data / "T2w.json").write_text(json.dumps({"SliceThickness": 3.0, "RepetitionTime": 4.0}))
    (data / "sub-01" / "sub-01_T2w.json").write_text(json.dumps({"RepetitionTime": 5.0}))
    scan = find_scans(data, participants=["01"], suffixes=["T2w"])[0]
    assert inherited_metadata(scan, data) == {"SliceThickness": 3.0, "RepetitionTime": 5.0}  # the nearer wins
    groups, _ = group_by_protocol(find_scans(data, suffixes=["T2w"]))
    assert [p.name for p in groups] == ["T2w_1.00x1.00x4.00mm_axial_3.00mm-thick"]


def test_participant_then_group_writes_a_derivatives_dataset_pybids_indexes(raw, tmp_path):
    out = tmp_path / "derivatives" / "mrisr"
    args = ["bids", str(raw), str(out), "participant", "--suffix", "T2w", "--train-scans", "2", *FAST]
    assert main(args) == 0
    assert [p.name for p in (out / "models").iterdir()] == ["T2w_1.00x1.00x4.00mm_axial_4.00mm-thick"]
    layout = bids.BIDSLayout(raw, derivatives=str(out))
    found = layout.get(desc="sr", suffix="T2w", extension=".nii.gz", scope="derivatives")
    assert len(found) == 6 and {f.entities["subject"] for f in found} == {"01", "02", "03"}
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["GeneratedBy"][0]["Name"] == "mrisr"
    sidecar = json.loads((out / "sub-02/ses-1/anat/sub-02_ses-1_desc-sr_T2w.json").read_text())
    assert sidecar["Sources"] == ["bids:raw:sub-02/ses-1/anat/sub-02_ses-1_T2w.nii.gz"]
    assert len(sidecar["ModelTrainedOn"]) == 2 and sidecar["Geometry"]["Factors"][2] == 4
    image = nib.load(out / "sub-02/ses-1/anat/sub-02_ses-1_desc-sr_T2w.nii.gz")
    assert image.shape == (40, 48, 40)
    assert main(["bids", str(raw), str(out), "group", "-q"]) == 0
    table = (out / "group" / "summary.tsv").read_text().splitlines()
    assert len(table) == 7 and all("\tdone\t" in row for row in table[1:])
    assert (out / "group" / "overview.png").stat().st_size > 10_000


def test_a_rerun_redoes_only_what_changed_and_a_bad_scan_is_reported_while_the_rest_finish(raw, tmp_path, capsys):
    data = tmp_path / "raw"
    shutil.copytree(raw, data)
    out = tmp_path / "out"
    args = ["bids", str(data), str(out), "participant", "--suffix", "T2w", *FAST]
    assert main(args) == 0
    times = {p: p.stat().st_mtime_ns for p in sr_files(out)}
    assert main(args) == 0  # nothing to do
    assert {p: p.stat().st_mtime_ns for p in sr_files(out)} == times
    assert json.loads((out / "logs" / "participant.json").read_text())["skipped"].__len__() == 6
    changed = data / "sub-03/ses-2/anat/sub-03_ses-2_T2w.nii.gz"
    image = nib.load(changed)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj) * 1.01, image.affine, image.header), changed)
    broken = data / "sub-04/anat/sub-04_T2w.nii.gz"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x1f\x8b not a NIfTI")
    capsys.readouterr()
    assert main(args) == 1  # the other scans finish; the run says one failed
    err = capsys.readouterr().err
    assert "sub-04/anat/sub-04_T2w.nii.gz" in err and "1 failed" in err
    log = json.loads((out / "logs" / "participant.json").read_text())
    assert log["done"] == ["sub-03/ses-2/anat/sub-03_ses-2_T2w.nii.gz"] and len(log["skipped"]) == 5
    assert list(log["failed"]) == ["sub-04/anat/sub-04_T2w.nii.gz"]
    assert "not a readable NIfTI" in log["failed"]["sub-04/anat/sub-04_T2w.nii.gz"]
    assert main(["bids", str(data), str(out), "group", "-q"]) == 0
    assert "\tfailed\t" in (out / "group" / "summary.tsv").read_text()


def test_shards_split_protocols_to_train_then_scans_to_infer_with_no_overlap_and_no_gap(raw, tmp_path):
    out = tmp_path / "out"
    template = real_crop(datasets.template("mni2009a"), tmp_path / "hr.nii.gz", corner=(70, 80, 60))
    common = ["--spacing", "1", "--hr", str(template), *FAST]
    trained = []
    for shard in ("0/2", "1/2"):
        assert main(["bids", str(raw), str(out), "participant", "--stage", "train", "--shard", shard, *common]) == 0
        trained.append(sorted(p.name for p in (out / "models").iterdir()))
    assert trained == [["T1w_2.00x2.00x2.00mm_isotropic"], sorted(trained[1])] and len(trained[1]) == 2
    assert not sr_files(out)
    infer = [sys.executable, "-m", "mrisr", "bids", str(raw), str(out), "participant", "--stage", "infer"]
    command = shlex.join([*infer, "--shard", "{}/2", *common])  # as a user would run the shards on one machine
    subprocess.run(f"printf '0\\n1\\n' | xargs -P 2 -I{{}} {command}", shell=True, check=True)
    logs = [out / "logs" / f"participant_stage-infer_shard-{i}-of-2.json" for i in range(2)]
    done = [set(json.loads(log.read_text())["done"]) for log in logs]
    assert sum(len(d) for d in done) == len(set().union(*done)) == 12  # each scan once, every scan
    assert len(sr_files(out)) == 12 and nib.load(sr_files(out)[0]).shape == (40, 48, 40)


def test_a_protocol_model_adapted_to_each_scan_starts_from_its_weights(raw, tmp_path):
    out = tmp_path / "out"
    common = ["--suffix", "T2w", "--participant-label", "01", *FAST]
    assert main(["bids", str(raw), str(out), "participant", "--stage", "train", *common]) == 0
    protocol_model = next((out / "models").iterdir()) / "model.pt"
    assert main(["bids", str(raw), str(out), "participant", "--stage", "infer", "--adapt-steps", "1", *common]) == 0
    sidecar = json.loads((out / "sub-01/ses-1/anat/sub-01_ses-1_desc-sr_T2w.json").read_text())
    assert sidecar["AdaptedFrom"] == {"Path": str(protocol_model.resolve()), "Steps": 1}
    adapted = load_checkpoint(protocol_model.parent / "adapted" / "sub-01_ses-1_T2w" / "model.pt")
    start = load_checkpoint(protocol_model)
    assert adapted["step"] == 1 and sidecar["Model"]["WeightsSHA256"] == adapted["weights_sha256"]
    assert adapted["weights_sha256"] != start["weights_sha256"]


def test_a_protocol_whose_scans_cannot_fit_the_memory_bound_is_refused_before_its_model_trains(raw, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["bids", str(raw), str(out), "participant", "--suffix", "T2w", "--max-memory-gb", "0.5", *FAST])
    assert code == 1
    record = json.loads((out / "logs" / "participant.json").read_text())
    (status,) = [model["status"] for model in record["models"].values()]
    assert status.startswith("failed:") and "above the limit of 0.5 GiB (raise --max-memory-gb" in status
    assert not list((out / "models").glob("**/checkpoints")) and not sr_files(out)
