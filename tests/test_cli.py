"""End to end through the command line, on small crops of real MRI."""

import dataclasses
import json
import signal
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
import pytest
import yaml
from conftest import real_crop, tiny_config
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio

from mrisr import datasets
from mrisr.apps.bids.participant import BidsOptions
from mrisr.apps.infer import InferOptions
from mrisr.cli import main
from mrisr.cli.commands import keywords
from mrisr.cli.parser import build_parser
from mrisr.io import refine_affine, save_volume


@pytest.fixture(scope="module")
def trained(tmp_path_factory, real_data):
    root = tmp_path_factory.mktemp("cli")
    lr = root / "colin_lr.nii.gz"
    assert main(["simulate", str(real_data["colin"]), "-o", str(lr), "--noise", "0.02"]) == 0
    config = tiny_config([], [], steps=3).to_dict()
    (root / "tiny.yaml").write_text(yaml.safe_dump(config))
    code = main(
        [
            "train",
            "--hr",
            str(real_data["template"]),
            "--lr",
            str(lr),
            "--scale",
            "2",
            "2",
            "2",
            "--out",
            str(root / "run"),
            "--steps",
            "3",
            "--config",
            str(root / "tiny.yaml"),
        ]
    )
    assert code == 0
    return root, lr


def test_train_infer_evaluate(trained, real_data, capsys):
    root, lr = trained
    assert (root / "run" / "model.pt").is_file()
    sr = root / "colin_sr.nii.gz"
    assert main(["infer", "--model", str(root / "run" / "model.pt"), str(lr), "-o", str(sr), "--quiet"]) == 0
    lr_img, sr_img = nib.load(lr), nib.load(sr)
    assert sr_img.shape == tuple(2 * n for n in lr_img.shape)
    np.testing.assert_allclose(sr_img.affine, refine_affine(lr_img.affine, (2, 2, 2)), atol=1e-4)

    metrics = root / "metrics.json"
    assert (
        main(
            [
                "evaluate",
                "--truth",
                str(real_data["colin"]),
                "--pred",
                f"mrisr={sr}",
                "--lr",
                str(lr),
                "--out",
                str(metrics),
            ]
        )
        == 0
    )
    results = json.loads(metrics.read_text())
    assert set(results) == {"mrisr", "cubic", "trilinear"}
    truth = nib.load(real_data["colin"]).get_fdata()
    peak = np.percentile(truth, 99.9)
    cubic = ndimage.zoom(nib.load(lr).get_fdata(), 2, order=3, grid_mode=True, mode="nearest")
    for name, volume in (("mrisr", nib.load(sr).get_fdata()), ("cubic", cubic)):  # scored by hand, in 99.9% units
        expected = peak_signal_noise_ratio(truth / peak, volume / peak, data_range=1.0)
        assert results[name]["psnr"] == pytest.approx(expected, abs=1e-3)
    assert "cubic" in capsys.readouterr().out


def test_a_thick_slice_scan_beats_cubic_inside_the_head(real_data, tmp_path):
    """The default model, trained from the scan alone for 80 steps through the command line, is sharper than
    cubic interpolation where it matters (the quality gate of the whole pipeline: 2 cores, about 10 s)."""
    colin = real_crop(datasets.colin27(), tmp_path / "colin.nii.gz", corner=(0, 70, 60), size=(64, 48, 40))
    scan, run, sr = tmp_path / "thick.nii.gz", tmp_path / "run", tmp_path / "sr.nii.gz"
    assert main(["simulate", str(colin), "-o", str(scan), "--scale", "1", "1", "4", "--noise", "0.01", "-q"]) == 0
    train = ["train", "--lr", str(scan), "--scale", "1", "1", "4", "--out", str(run), "--steps", "80"]
    assert main([*train, "--device", "cpu", "-q"]) == 0
    assert main(["infer", "--model", str(run / "model.pt"), str(scan), "-o", str(sr), "-q"]) == 0
    metrics = tmp_path / "metrics.json"
    assert main(["evaluate", "--truth", str(colin), "--pred", str(sr), "--lr", str(scan), "--out", str(metrics)]) == 0
    results = json.loads(metrics.read_text())
    assert results["mrisr"]["psnr_fg"] > results["cubic"]["psnr_fg"] + 0.5
    assert results["mrisr"]["ssim_fg"] > results["cubic"]["ssim_fg"]


def test_a_thick_slice_scan_trains_without_hr_volumes_and_its_sr_overlays_exactly(real_data, tmp_path):
    """Internal learning: the planar model needs only the scan, and its SR lands on the refined grid."""
    lr, run = tmp_path / "thick.nii.gz", tmp_path / "run"
    assert main(["simulate", str(real_data["colin"]), "-o", str(lr), "--scale", "1", "1", "4"]) == 0
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_config([], [], scale=(1, 1, 4), steps=3).to_dict()))
    config = ["--config", str(tmp_path / "tiny.yaml")]
    assert main(["train", "--lr", str(lr), "--scale", "1", "1", "4", "--out", str(run), *config]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["architecture"] == "planar"
    report = json.loads((run / "degradation.json").read_text())
    assert report["model"].startswith("planar") and report["fwhm_hr_voxels"][2] > 0
    sr = tmp_path / "thick_sr.nii.gz"
    assert main(["infer", "--model", str(run / "model.pt"), str(lr), "-o", str(sr), "--quiet"]) == 0
    lr_img, sr_img = nib.load(lr), nib.load(sr)
    assert sr_img.shape == (lr_img.shape[0], lr_img.shape[1], 4 * lr_img.shape[2])
    np.testing.assert_allclose(sr_img.affine, refine_affine(lr_img.affine, (1, 1, 4)), atol=1e-4)


def test_an_isotropic_scan_without_hr_volumes_is_refused(real_data, tmp_path, capsys):
    lr = tmp_path / "iso.nii.gz"
    assert main(["simulate", str(real_data["colin"]), "-o", str(lr)]) == 0
    assert main(["train", "--lr", str(lr), "--out", str(tmp_path / "run")]) == 1
    assert "needs HR volumes (--hr)" in capsys.readouterr().err


def test_resume_continues_a_run(trained):
    root, lr = trained
    assert main(["train", "--out", str(root / "run"), "--resume", "--steps", "5"]) == 0
    import torch

    assert torch.load(root / "run" / "checkpoints" / "last.pt", weights_only=True)["step"] == 5


def test_a_finished_run_is_not_overwritten(trained, real_data, capsys):
    root, lr = trained
    code = main(["train", "--hr", str(real_data["template"]), "--lr", str(lr), "--out", str(root / "run")])
    assert code == 1 and "--resume" in capsys.readouterr().err


def test_folder_inference_continues_past_a_bad_file(trained, tmp_path, capsys):
    root, lr = trained
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.nii.gz").write_bytes(lr.read_bytes())
    (inputs / "broken.nii.gz").write_bytes(b"\x1f\x8b garbage")
    code = main(
        ["infer", "--model", str(root / "run" / "model.pt"), str(inputs), "-o", str(tmp_path / "out"), "--quiet"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "broken.nii.gz" in err and "1 of 2 volumes done" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_sr.json", "a_sr.nii.gz"]
    (inputs / "broken.nii.gz").unlink()
    before = (tmp_path / "out" / "a_sr.nii.gz").stat().st_mtime_ns
    args = ["infer", "--model", str(root / "run" / "model.pt"), str(inputs), "-o", str(tmp_path / "out")]
    assert main([*args, "--skip-existing"]) == 0
    assert (tmp_path / "out" / "a_sr.nii.gz").stat().st_mtime_ns == before
    assert "1 skipped" in capsys.readouterr().out


def test_trust_maps_and_sidecars_one_per_input_and_never_over_an_existing_file(trained, tmp_path, capsys):
    root, lr = trained
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.nii.gz", "b.nii.gz"):
        (inputs / name).write_bytes(lr.read_bytes())
    model = str(root / "run" / "model.pt")
    maps = ["--uncertainty", str(tmp_path / "u"), "--consistency", str(tmp_path / "c"), "--flips", "2", "--quiet"]
    assert main(["infer", "--model", model, str(inputs), "-o", str(tmp_path / "out"), *maps]) == 0
    assert sorted(p.name for p in (tmp_path / "u").iterdir()) == ["a_uncertainty.nii.gz", "b_uncertainty.nii.gz"]
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["a_consistency.nii.gz", "b_consistency.nii.gz"]
    record = json.loads((tmp_path / "out" / "b_sr.json").read_text())
    assert record["Uncertainty"]["Path"].endswith("b_uncertainty.nii.gz")
    assert "--flips 2" in record["GeneratedBy"][0]["Command"] and record["FlipEnsemble"] == 2
    calibration = record["Uncertainty"]["Calibration"]
    assert calibration["TargetCoverage"] == 0.95 and calibration["Pairs"].startswith("cycle")  # a 3D model
    bracket = np.sqrt(calibration["PairScales"]["cycle"] * calibration["PairScales"]["internal"])
    assert calibration["ConformalScale"] == pytest.approx(bracket, rel=1e-3)
    assert nib.load(tmp_path / "c" / "a_consistency.nii.gz").shape == nib.load(lr).shape
    single = ["infer", "--model", model, str(lr), "-o", str(tmp_path / "one.nii.gz"), "--quiet"]
    code = main([*single, "--uncertainty", str(tmp_path / "u" / "a_uncertainty.nii.gz")])
    assert code == 1 and "a_uncertainty.nii.gz: the output exists" in capsys.readouterr().err
    assert not (tmp_path / "one.nii.gz").exists()


def test_inference_killed_mid_write_leaves_no_output_and_reruns_cleanly(trained, tmp_path):
    """SIGKILL while the output streams to disk: no file under the output's name; a rerun replaces the temp."""
    root, _ = trained
    lr = tmp_path / "big.nii.gz"
    rng = np.random.default_rng(0)
    save_volume(lr, rng.random((48, 48, 160)).astype(np.float32) + 1, np.eye(4))
    out = tmp_path / "out" / "big_sr.nii.gz"
    args = ["infer", "--model", str(root / "run" / "model.pt"), str(lr), "-o", str(out), "--quiet"]
    process = subprocess.Popen([sys.executable, "-m", "mrisr", *args, "--max-memory-gb", "0.8"])
    deadline = time.monotonic() + 120
    while not list(out.parent.glob(".big_sr.nii.gz.*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "inference finished before it could be killed"
    assert not out.exists() and list(out.parent.glob(".big_sr.nii.gz.*"))
    assert main([*args, "--max-memory-gb", "0.8"]) == 0
    assert nib.load(out).shape == (96, 96, 320)
    assert sorted(p.name for p in out.parent.iterdir()) == ["big_sr.json", "big_sr.nii.gz"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["infer", "--model", "{model}", "{text}", "-o", "{tmp}/o.nii.gz"], "not a readable NIfTI"),
        (["infer", "--model", "{text}", "{lr}", "-o", "{tmp}/o.nii.gz"], "not an mrisr checkpoint"),
        (["infer", "--model", "{model}", "{lr}", "-o", "{lr}"], "--overwrite"),
        (["infer", "--model", "{model}", "--scale", "1", "1", "4", "{lr}", "-o", "{tmp}/o.nii.gz"], "scale"),
        (["infer", "--model", "{model}", "{tmp}/missing.nii.gz", "-o", "{tmp}/o.nii.gz"], "no such file"),
        (["infer", "--model", "{model}", "{lr}", "-o", "{tmp}/o.nii.gz", "--max-memory-gb", "0.0001"], "GiB"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(trained, tmp_path, capsys, args, message):
    root, lr = trained
    text = tmp_path / "notes.nii.gz"
    text.write_text("hello")
    names = {"model": root / "run" / "model.pt", "text": text, "lr": lr, "tmp": tmp_path}
    before = lr.read_bytes()
    code = main([a.format(**names) for a in args])
    err = capsys.readouterr().err.strip()
    assert code == 1 and message in err and "\n" not in err and "Traceback" not in err
    assert lr.read_bytes() == before and not (tmp_path / "o.nii.gz").exists()


def test_demo_runs_end_to_end(tmp_path, capsys, small_datasets):
    """The default case: an oblique coronal scan with its sidecar, super-resolved from the header alone."""
    demo = tmp_path / "demo"
    assert main(["demo", "--out", str(demo), "--steps", "3", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert "slices 4 mm thick (sidecar SliceThickness)" in out and "scanner report" in out
    assert f"SR            {demo / 'colin27_sr.nii.gz'}" in out and "cubic" in out  # the summary: paths, scores
    report = json.loads((demo / "run" / "degradation.json").read_text())
    for line in err.splitlines():  # each warning one line; its whole text in the run's report
        if line.startswith("warning:") and "(more: " in line:
            assert any(w.startswith(line.split("warning: ")[1].split(" (more: ")[0]) for w in report["warnings"])
    results = json.loads((demo / "metrics.json").read_text())
    assert {"mrisr", "cubic", "trilinear"} <= set(results)
    assert (demo / "comparison.png").stat().st_size > 10_000
    truth, sr = nib.load(demo / "colin27_hr.nii.gz"), nib.load(demo / "colin27_sr.nii.gz")
    assert sr.shape == truth.shape == nib.load(demo / "colin27_uncertainty.nii.gz").shape
    np.testing.assert_allclose(sr.affine, truth.affine, atol=1e-4)
    assert not np.allclose(sr.affine[:3, :3], np.diag(np.diag(sr.affine[:3, :3])))  # oblique, kept
    assert nib.load(demo / "colin27_consistency.nii.gz").shape == nib.load(demo / "colin27_scan.nii.gz").shape
    assert json.loads((demo / "colin27_sr.json").read_text())["Consistency"]["psnr"] > 20
    assert (demo / "trust.png").stat().st_size > 10_000


def test_quiet_keeps_stdout_empty_and_verbose_adds_details(real_data, tmp_path, capsys):
    lr = tmp_path / "lr.nii.gz"
    assert main(["simulate", str(real_data["colin"]), "-o", str(lr), "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["simulate", str(real_data["colin"]), "-o", str(lr), "--overwrite"]) == 0
    assert f"-> {lr}" in capsys.readouterr().out
    run = tmp_path / "run"
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_config([], [], scale=(1, 1, 4), steps=1).to_dict()))
    thick = tmp_path / "thick.nii.gz"
    assert main(["simulate", str(real_data["colin"]), "-o", str(thick), "--scale", "1", "1", "4", "-q"]) == 0
    train = ["train", "--lr", str(thick), "--scale", "1", "1", "4", "--out", str(run)]
    assert main([*train, "--config", str(tmp_path / "tiny.yaml"), "-v"]) == 0
    out = capsys.readouterr().out
    assert "training 1 steps on cpu" in out and "scanner report" in out
    assert f"model   {run / 'model.pt'}" in out and f"tensorboard --logdir {run / 'tensorboard'}" in out


def test_the_papers_demo_is_one_flag_away(tmp_path, small_datasets):
    demo = tmp_path / "paper"
    assert main(["demo", "--paper", "--out", str(demo), "--steps", "2", "--device", "cpu"]) == 0
    lr, sr = nib.load(demo / "colin27_lr.nii.gz"), nib.load(demo / "colin27_sr.nii.gz")
    assert sr.shape == tuple(2 * n for n in lr.shape)
    assert yaml.safe_load((demo / "run" / "config.yaml").read_text())["model"]["architecture"] == "unpaired"
    assert {"mrisr", "cubic"} <= set(json.loads((demo / "metrics.json").read_text()))


def test_report_shows_the_learned_degradation(trained, capsys):
    root, _ = trained
    assert main(["report", str(root / "run")]) == 0
    out = capsys.readouterr().out
    assert "slice profile" in out and "FWHM" in out and "Rician noise sigma" in out
    assert (root / "run" / "degradation.png").stat().st_size > 10_000
    report = json.loads((root / "run" / "degradation.json").read_text())
    (root / "run" / "degradation.json").write_text(json.dumps({**report, "warnings": ["the estimate is a bound"]}))
    assert main(["report", str(root / "run")]) == 0
    assert "warning: the estimate is a bound" in capsys.readouterr().out
    (root / "run" / "degradation.json").write_text(json.dumps(report))


def test_nonfinite_voxels_are_refused_unless_allowed(trained, tmp_path, capsys):
    root, lr = trained
    img = nib.load(lr)
    data = np.asarray(img.dataobj, dtype=np.float32)
    data[3, 4, 5] = np.nan
    bad = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(data, img.affine, img.header), bad)
    args = ["infer", "--model", str(root / "run" / "model.pt"), str(bad), "--quiet"]
    assert main([*args, "-o", str(tmp_path / "a.nii.gz")]) == 1
    assert "allow_nonfinite" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "b.nii.gz"), "--allow-nonfinite"]) == 0
    assert capsys.readouterr().err == f"warning: {bad}: set 1 NaN/Inf voxels to 0\n"  # one line, even when quiet
    assert np.isfinite(nib.load(tmp_path / "b.nii.gz").get_fdata()).all()


def test_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text and "thin layer" not in text


def test_the_demo_help_names_the_demo_budgets(capsys):
    from mrisr.apps.demo import DEMO_STEPS, SCAN_STEPS

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert f"(default {SCAN_STEPS}; {DEMO_STEPS} with --paper)" in " ".join(capsys.readouterr().out.split())


def test_a_scan_with_its_sidecar_trains_and_infers_from_the_header_alone(real_data, tmp_path, capsys):
    """No --scale: slices every 4.5 mm, 3.5 mm thick (the sidecar), give a factor of 4.5 and a thickness prior."""
    from mrisr.acquisition.simulate import SliceParams, simulate_slices
    from mrisr.io import load_volume

    params = SliceParams(axis=1, spacing=4.5, thickness=3.5, noise_sigma=0.01)
    case = simulate_slices(load_volume(real_data["colin"]), params)
    scan, run = tmp_path / "scan.nii.gz", tmp_path / "run"
    save_volume(scan, case.lr.data, case.lr.affine, case.lr.header)
    (tmp_path / "scan.json").write_text(json.dumps(params.sidecar))
    config = tiny_config([], [], steps=3).to_dict()
    del config["model"]["scale"]
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "--lr", str(scan), "--out", str(run), "--config", str(tmp_path / "tiny.yaml")]) == 0
    assert "factors [1, 4.5, 1]" in capsys.readouterr().out
    report = json.loads((run / "degradation.json").read_text())
    assert report["scale"] == [1, 4.5, 1] and report["slice_thickness_mm"] == 3.5
    assert report["slice_thickness_source"] == "sidecar SliceThickness"
    sr = tmp_path / "sr.nii.gz"
    assert main(["infer", "--model", str(run / "model.pt"), str(scan), "-o", str(sr), "--quiet", "--flips", "1"]) == 0
    img = nib.load(sr)
    assert img.shape == case.truth.data.shape
    np.testing.assert_allclose(img.affine, case.truth.affine, atol=1e-4)
    geometry = json.loads((tmp_path / "sr.json").read_text())["Geometry"]
    assert geometry["SliceThicknessmm"] == 3.5 and geometry["Factors"] == [1.0, 4.5, 1.0]


def test_an_isotropic_scan_at_a_non_integer_factor_is_refused_in_one_line(real_data, tmp_path, capsys):
    lr = tmp_path / "iso.nii.gz"
    assert main(["simulate", str(real_data["colin"]), "-o", str(lr)]) == 0  # 2 mm isotropic
    code = main(
        ["train", "--lr", str(lr), "--hr", str(real_data["template"]), "--spacing", "1.5", "--out", str(tmp_path / "r")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and "not all whole numbers" in err and "--spacing" in err and "\n" not in err


def test_run_trains_on_a_folder_of_scans_and_super_resolves_each_and_a_rerun_redoes_nothing(
    real_data, tmp_path, capsys
):
    from mrisr.acquisition.simulate import SliceParams, simulate_slices
    from mrisr.io import load_volume

    scans = tmp_path / "dcm2niix"
    scans.mkdir()
    for seed in (0, 1):
        params = SliceParams(axis=2, spacing=4.0, thickness=3.0, noise_sigma=0.01, noise_seed=seed)
        case = simulate_slices(load_volume(real_data["colin"]), params)
        save_volume(scans / f"sub-0{seed}_T2w.nii.gz", case.lr.data, case.lr.affine, case.lr.header)
        (scans / f"sub-0{seed}_T2w.json").write_text(json.dumps(params.sidecar))
    out = tmp_path / "sr"
    assert main(["run", str(scans), "-o", str(out), "--steps", "2", "--device", "cpu"]) == 0
    assert "2 of 2 volumes done" in capsys.readouterr().out
    for subject in ("sub-00", "sub-01"):
        assert nib.load(out / f"{subject}_T2w_sr.nii.gz").shape == case.truth.data.shape
        assert (out / f"{subject}_T2w_uncertainty.nii.gz").is_file() and (
            out / f"{subject}_T2w_consistency.nii.gz"
        ).is_file()
        assert json.loads((out / f"{subject}_T2w_sr.json").read_text())["Geometry"]["SliceThicknessmm"] == 3.0
    model = (out / "run" / "model.pt").stat().st_mtime_ns
    assert main(["run", str(scans), "-o", str(out), "--steps", "2", "--device", "cpu"]) == 0
    assert "0 of 2 volumes done, 2 skipped" in capsys.readouterr().out
    assert (out / "run" / "model.pt").stat().st_mtime_ns == model


def test_the_reference_is_made_from_the_parser_and_the_config():
    """docs/REFERENCE.md must be what `python -m mrisr.cli.reference` writes today: it cannot drift."""
    from pathlib import Path

    from mrisr.cli.reference import reference

    written = (Path(__file__).parent.parent / "docs" / "REFERENCE.md").read_text()
    assert written == reference(), "docs/REFERENCE.md is stale: python -m mrisr.cli.reference > docs/REFERENCE.md"
    for name in ("train", "infer", "run", "evaluate", "simulate", "demo", "report", "bench", "experiment"):
        assert f"### `mrisr {name}`" in written
    assert "| `slice_thickness` |" in written and "| `--spacing` |" in written


def test_every_option_a_library_call_takes_reaches_it_by_name():
    """The commands map parsed options onto their apps' functions and option dataclasses by name: an option
    renamed in one place but not the other would silently fall back to a default."""
    parser = build_parser()
    infer = parser.parse_args(["infer", "--model", "m.pt", "a.nii.gz", "-o", "o", "--flips", "2", "--shard", "0/2"])
    options = InferOptions(**keywords(infer, InferOptions, command="c"))
    assert (options.flips, options.shard, options.command, options.max_memory_gb) == (2, "0/2", "c", 4.0)
    bids = parser.parse_args(["bids", "in", "out", "participant", "--adapt-steps", "7", "--per-scan"])
    named = keywords(bids, BidsOptions)
    assert named["adapt_steps"] == 7 and named["per_scan"] is True
    bids = parser.parse_args(["bids", "in", "out", "participant", "--max-memory-gb", "6"])
    assert keywords(bids, BidsOptions)["max_memory_gb"] == 6.0
    assert parser.parse_args(["run", "scan.nii.gz", "-o", "o", "--max-memory-gb", "6"]).max_memory_gb == 6.0
    assert set(named) | {"participants", "sessions", "suffixes", "thickness", "hr", "command"} == {
        f.name for f in dataclasses.fields(BidsOptions)
    }


def test_run_refuses_a_scan_that_cannot_fit_the_memory_bound_before_any_training(real_data, tmp_path, capsys):
    scan, out = tmp_path / "thick.nii.gz", tmp_path / "out"
    assert main(["simulate", str(real_data["colin"]), "-o", str(scan), "--scale", "1", "1", "4", "-q"]) == 0
    assert main(["run", str(scan), "-o", str(out), "--steps", "2", "--max-memory-gb", "0.5", "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mrisr run: error:") and "above the limit of 0.5 GiB (raise --max-memory-gb" in err
    assert "\n" not in err and not (out / "run" / "checkpoints").exists() and not list(out.glob("*_sr.nii.gz"))
