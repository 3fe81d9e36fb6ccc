import warnings

import pytest

from mrisr.console import NORMAL, QUIET, VERBOSE, console, headline, log, showing_progress, warn

LONG = "the estimate is a bound; the references are smoother than the scan; set model.fixed_fwhm"


def test_a_warning_headline_is_what_happened():
    assert headline(LONG) == "the estimate is a bound"
    assert headline("no clause") == "no clause"


def test_information_goes_to_stdout_and_warnings_to_stderr_one_line_each(capsys):
    with console(NORMAL):
        log.info("scanner report")
        log.debug("a detail")
        warn(LONG, details="run/degradation.json")
        warn("diverged; train again with a lower rate")  # kept nowhere else: shown whole
    out, err = capsys.readouterr()
    assert out == "scanner report\n"
    assert err.splitlines() == [
        "warning: the estimate is a bound (more: run/degradation.json)",
        "warning: diverged; train again with a lower rate",
    ]


def test_verbose_shows_details_and_whole_warnings_and_quiet_only_warnings(capsys):
    with console(VERBOSE):
        log.debug("a detail")
        warn(LONG, details="run/degradation.json")
        assert showing_progress()
    out, err = capsys.readouterr()
    assert out == "a detail\n" and err == f"warning: {LONG}\n"
    with console(QUIET):
        log.info("scanner report")
        log.error("scan.nii.gz: not a NIfTI file")
        assert not showing_progress()
    out, err = capsys.readouterr()
    assert out == "" and err == "error: scan.nii.gz: not a NIfTI file\n"


def test_python_warnings_become_one_line_and_the_console_is_left_as_it_was(capsys):
    level = log.level
    with console(NORMAL):
        warnings.warn("scan.nii.gz: set 3 NaN/Inf voxels to 0", stacklevel=1)
    assert capsys.readouterr().err == "warning: scan.nii.gz: set 3 NaN/Inf voxels to 0\n"
    assert log.level == level and not log.handlers
    with pytest.warns(UserWarning, match="outside"):
        warnings.warn("outside the console", stacklevel=1)
