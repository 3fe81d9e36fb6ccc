import json

import pytest

from mrisr import MRISRError
from mrisr.cli import main
from mrisr.config import Config
from mrisr.experiment import DegradationSpec, ExperimentConfig, method_config, read_rows, run_experiment


def test_quick_grid_runs_scores_and_reports(tmp_path):
    assert main(["experiment", "--quick", "--out", str(tmp_path)]) == 0
    report = tmp_path / "REPORT_TABLES.md"
    rows = read_rows(tmp_path / "runs.csv")
    assert {r["method"] for r in rows} == {"mrisr", "mrisr-strict", "oracle"}
    assert all(15 < float(r["psnr"]) < 45 and r["steps"] == "3" for r in rows)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["gaussian-rician-2x2x2"]["oracle"]["1"]["runs"] == 1
    strict = Config.load(tmp_path / "runs" / "gaussian-rician-2x2x2_mrisr-strict_n1_s0" / "config.yaml")
    assert len(strict.train.lr) == 2 and not any("colin27" in p for p in strict.train.lr)
    assert (tmp_path / "fig3_gaussian-rician-2x2x2.png").stat().st_size > 10_000
    assert (tmp_path / "fig2_gaussian-rician-2x2x2.png").stat().st_size > 10_000
    assert "cubic" in report.read_text()
    run_experiment(ExperimentConfig.quick(), tmp_path)  # a rerun finds every row done and trains nothing
    assert len(read_rows(tmp_path / "runs.csv")) == len(rows)


def test_supervised_baselines_freeze_the_degradation():
    spec = DegradationSpec("thick", "gaussian", (1, 1, 4), 0.0)
    oracle = method_config("oracle", spec, true_sigma=0.01)
    assert oracle["model"] == {"fixed_fwhm": [0.0, 0.0, 4.0], "noise_sigma": 0.01}
    assert oracle["loss"] == {"sty": 0.0, "align": 0.0, "nce": 0.0}
    assert method_config("supervised-assumed", spec, 0.01)["model"]["fixed_fwhm"] == [0.0, 0.0, 2.0]
    assert method_config("mrisr-nonce", spec, 0.01) == {"loss": {"nce": 0.0}}
    with pytest.raises(MRISRError, match="unknown method"):
        method_config("magic", spec, 0.01)


def test_a_bad_grid_config_is_one_clear_error(tmp_path):
    (tmp_path / "grid.yaml").write_text("methods: [mrisr]\nseeds: [0]\nepochs: 3\n")
    with pytest.raises(MRISRError, match="grid.yaml: not a valid experiment config"):
        ExperimentConfig.load(tmp_path / "grid.yaml")
