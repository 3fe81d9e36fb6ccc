import json

import numpy as np
import pytest

from mrisr import MRISRError
from mrisr.apps.experiment.grid import DegradationSpec, ExperimentConfig, method_config
from mrisr.apps.experiment.report import read_rows
from mrisr.apps.experiment.run import run_experiment
from mrisr.cli import main
from mrisr.config import PRESETS


def test_quick_grid_runs_scores_and_reports(tmp_path, small_datasets):
    assert main(["experiment", "--quick", "--out", str(tmp_path)]) == 0
    report = tmp_path / "REPORT_TABLES.md"
    rows = read_rows(tmp_path / "runs.csv")
    assert {r["method"] for r in rows} == {"mrisr", "oracle"}
    assert all(15 < float(r["psnr"]) < 45 and r["steps"] == "3" for r in rows)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["gaussian-rician-2x2x2"]["oracle"]["1"]["runs"] == 1
    assert (tmp_path / "fig3_gaussian-rician-2x2x2.png").stat().st_size > 10_000
    assert (tmp_path / "fig2_gaussian-rician-2x2x2.png").stat().st_size > 10_000
    assert "cubic" in report.read_text()
    run_experiment(ExperimentConfig.quick(), tmp_path)  # a rerun finds every row done and trains nothing
    assert len(read_rows(tmp_path / "runs.csv")) == len(rows)


def test_supervised_baselines_freeze_the_degradation():
    spec = DegradationSpec("thick", "gaussian", (1, 1, 4), 0.0)
    oracle = method_config("oracle", spec, true_sigma=0.01)
    assert oracle["model"] == {
        "architecture": "unpaired",
        "profile_shape": "gaussian",
        "upsampler": "trilinear",
        "nominal_floor": False,
        "fixed_fwhm": [0.0, 0.0, 4.0],
        "noise_sigma": 0.01,
    }
    kspace = DegradationSpec("kspace", "kspace", (2, 2, 2), 0.0)
    assert method_config("oracle", kspace, 0.0)["model"]["profile_shape"] == "sinc"
    assert method_config("default", kspace, 0.0) == {}  # mrisr train with no options
    assert method_config("default-supervised", kspace, 0.0) == {"loss": oracle["loss"]}
    assert oracle["loss"] == {"lr_adversarial": 0.0, "feature_adversarial": 0.0, "nce": 0.0, "internal": 0.0}
    assert method_config("supervised-assumed", spec, 0.01)["model"]["fixed_fwhm"] == [0.0, 0.0, 2.0]
    nonce = {
        "loss": {"feature_adversarial": 0.1, "nce": 0.0, "internal": 0.0},
        "model": {
            "architecture": "unpaired",
            "profile_shape": "gaussian",
            "upsampler": "trilinear",
            "nominal_floor": False,
        },
        "train": {"batch_size": 4, "learning_rate": 5e-4},  # the paper rows: batch and rate as measured
    }
    assert method_config("mrisr-nonce", spec, 0.01) == nonce
    with pytest.raises(MRISRError, match="unknown method"):
        method_config("magic", spec, 0.01)


def test_the_paper_methods_stay_3d_and_the_planar_ones_choose_their_sources():
    """The report's mrisr rows keep meaning the paper's model whatever the default architecture."""
    spec = DegradationSpec("thick", "gaussian", (1, 1, 4), 0.0)
    assert method_config("mrisr", spec, 0.0) == PRESETS["paper"]  # the --preset paper of mrisr train
    assert PRESETS["paper"]["model"]["architecture"] == "unpaired"
    assert method_config("planar-scan-only", spec, 0.0) == {"train": {"hr": []}, "model": {"architecture": "planar"}}
    assert method_config("planar-templates-only", spec, 0.0)["train"] == {"external_fraction": 1.0}


def test_a_bad_grid_config_is_one_clear_error(tmp_path):
    (tmp_path / "grid.yaml").write_text("methods: [mrisr]\nseeds: [0]\nepochs: 3\n")
    with pytest.raises(MRISRError, match="grid.yaml: not a valid experiment config"):
        ExperimentConfig.load(tmp_path / "grid.yaml")


def test_beyond_three_hr_sources_come_synthetic_subjects_labelled_as_such(tmp_path):
    from mrisr import datasets
    from mrisr.apps.experiment.subjects import hr_sources
    from mrisr.io import load_volume

    paths = hr_sources(4, tmp_path)
    assert paths[:3] == [datasets.template(name) for name in ("mni2009a", "mni6gen", "pydeface-mean")]
    assert paths[3] == tmp_path / "synthetic-0.nii.gz"
    source, synthetic = load_volume(paths[0]), load_volume(paths[3])
    assert synthetic.data.shape == source.data.shape and (synthetic.affine == source.affine).all()
    correlation = np.corrcoef(source.data.ravel(), synthetic.data.ravel())[0, 1]
    assert 0.6 < correlation < 0.99  # the same anatomy, deformed: neither a copy nor noise
    assert hr_sources(4, tmp_path)[3].stat().st_mtime == paths[3].stat().st_mtime  # made once, then reused


def test_experiment_cli_runs_a_part_of_a_grid(tmp_path, small_datasets):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "degradations:\n  - {name: thick, kind: gaussian, scale: [1, 1, 4], noise_sigma: 0.0}\n"
        "  - {name: other, kind: gaussian, scale: [2, 2, 2], noise_sigma: 0.0}\n"
        "methods: [mrisr, oracle]\nn_hr: [1, 2]\nseeds: [0, 1]\nminutes: null\nsteps: 2\n"
    )
    args = ["--degradations", "thick", "--methods", "oracle", "--n-hr", "1", "--seeds", "1", "--steps", "3"]
    assert main(["experiment", str(grid), "--out", str(tmp_path / "out"), *args, "--no-report"]) == 0
    rows = read_rows(tmp_path / "out" / "runs.csv")
    assert [(r["degradation"], r["method"], r["n_hr"], r["seed"]) for r in rows] == [("thick", "oracle", "1", "1")]
    assert rows[0]["steps"] == "3"  # --steps replaces the grid's budget
    assert not (tmp_path / "out" / "REPORT_TABLES.md").exists()


def test_method_overrides_go_through_the_strict_config(tmp_path, monkeypatch):
    from mrisr.apps.experiment import run

    spec = DegradationSpec("thick", "gaussian", (1, 1, 4), 0.0)
    templates = {name: tmp_path / f"{name}_lr.nii.gz" for name in run.HR_POOL}
    case = run.TestCase(spec, None, None, tmp_path / "lr.nii.gz", tmp_path / "hr.nii.gz", templates, true_sigma=0.01)
    grid = ExperimentConfig(minutes=None, steps=3)
    oracle = run.method_run_config(case, "oracle", 1, 0, grid, tmp_path)
    assert oracle.model.fixed_fwhm == (0.0, 0.0, 4.0) and oracle.model.scale == (1, 1, 4)
    assert oracle.loss.lr_adversarial == 0.0 and oracle.train.steps == 3
    strict = run.method_run_config(case, "mrisr-strict", 1, 0, grid, tmp_path)
    assert strict.train.lr == [str(case.template_lr_paths[name]) for name in run.HR_POOL[1:]]
    with pytest.raises(MRISRError, match="no template is left"):
        run.method_run_config(case, "mrisr-strict", len(run.HR_POOL), 0, grid, tmp_path)
    planar = run.method_run_config(case, "planar-oracle", 1, 0, grid, tmp_path)
    assert planar.model.architecture == "planar" and planar.model.fixed_fwhm == (0.0, 0.0, 4.0)
    assert planar.model.noise_sigma == 0.01 and not planar.train.hr
    truth = run.method_run_config(case, "truth-supervised", 3, 0, grid, tmp_path)
    assert truth.train.hr == [str(tmp_path / "hr.nii.gz")] and truth.loss.internal == 0.0  # the scan's own truth
    monkeypatch.setattr(run, "method_config", lambda *args: {"model": {"widht": 64}})
    with pytest.raises(MRISRError, match="widht"):
        run.method_run_config(case, "mrisr", 1, 0, grid, tmp_path)


def test_the_report_covers_rows_of_a_panel_whose_volumes_are_not_in_the_folder(tmp_path):
    """A clean clone has runs.csv but not the generated data/: the tables are written, Fig. 2 is skipped."""
    from mrisr.apps.experiment.report import write_report
    from mrisr.apps.experiment.run import FIELDS

    row = ["thick", "planar", "1", "0", "35.0", "0.97", "32.6", "0.95", "54.0", "1174.4", "5000"]
    (tmp_path / "runs.csv").write_text(",".join(FIELDS) + "\n" + ",".join(row) + "\n")
    tables = write_report(tmp_path).read_text()
    assert "| planar | 1 | 1 | 35.00 ± 0.00" in tables
    assert not (tmp_path / "fig2_thick.png").exists()
