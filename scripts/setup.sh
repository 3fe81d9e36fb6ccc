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
python -m pip install -q torch==2.13.0  # the CPU wheel; an open range could pull a multi-GB CUDA build
python -m pip install -q -e ".[test]"
python -m pip install -q --no-deps nilearn==0.14.1 nimare==0.22.1 pydeface==2.1.0 heudiconv==1.5.1  # data only
python -m pip install -q pydicom==3.0.2  # reads the epi-b0 DICOM of examples/epi_b0.py
