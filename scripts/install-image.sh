#!/bin/sh
# The worker image's install steps, in one place: the Dockerfile runs this script, and CI runs
# it outside Docker (tests/image/test_install.py), since no Docker engine runs on our machines.
#   scripts/install-image.sh VENV MODEL_DIR
# Installs the package (not editable, no test extras) into a new virtual environment with
# exactly one OpenCV build, fetches the pinned pose model (the fetch verifies its sha256 and
# writes nothing on a mismatch), and checks that the command starts.
set -eu
venv=$1
models=$2
cd "$(dirname "$0")/.."

python3 -m venv "$venv"
pip="$venv/bin/python -m pip --disable-pip-version-check"
$pip install --quiet --no-deps -r requirements-nodeps.txt
$pip install --quiet .
if $pip show --quiet opencv-contrib-python 2>/dev/null; then
    echo "install-image: opencv-contrib-python got installed beside opencv-python-headless" >&2
    exit 1
fi
"$venv/bin/cricksy-worker" fetch-model --dest "$models"
"$venv/bin/cricksy-worker" --help >/dev/null
