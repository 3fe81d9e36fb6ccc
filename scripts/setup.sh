#!/usr/bin/env bash
# Install mrisr and the packaged real MRI it demonstrates on (docs/DATA.md) into .venv; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f /usr/share/mricron/templates/ch2.nii.gz ]; then
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq mricron-data
fi
[ -d .venv ] || python3 -m venv .venv
source .venv/bin/activate
# The data packages below are installed without their dependency trees (mrisr only reads files inside them),
# so pip would report their missing dependencies as conflicts ("ERROR: pip's dependency resolver ...") after
# any later install touching a package they share; that report is not a failure, and pip exits 0 with it.
# They come last, and the installs before them skip that report (on a rerun they are already there); a real
# failure (a missing wheel, a resolution conflict among mrisr's own requirements) still stops the script.
python -m pip install -q --no-warn-conflicts torch==2.13.0  # the CPU wheel; an open range could pull a multi-GB CUDA build
python -m pip install -q --no-warn-conflicts -e ".[test,tissues]" pydicom==3.0.2  # pydicom reads the epi-b0 DICOM of examples/epi_b0.py
python -m pip install -q --no-deps nilearn==0.14.1 nimare==0.22.1 pydeface==2.1.0 heudiconv==1.5.1  # data only
