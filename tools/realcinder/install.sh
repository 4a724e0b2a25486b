#!/bin/sh
# Create a separate venv holding a real OpenStack Cinder (from PyPI) for the `realcinder` tests.
# Usage: tools/realcinder/install.sh [VENV_DIR]   (default: .venv-cinder in the repository root)
# Idempotent: does nothing when VENV_DIR/.stamp-installed exists.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${1:-$ROOT/.venv-cinder}
PYTHON=${PYTHON:-python3}
STAMP=$VENV/.stamp-installed

if [ -f "$STAMP" ]; then
    exit 0
fi

start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --upgrade pip
# fixtures: cinder.tests.fake_driver imports a test module that needs it.
"$VENV/bin/pip" install --quiet "cinder==29.0.0" "python-cinderclient==9.10.0" fixtures
# Fail here (not in a test) if the install is unusable.
"$VENV/bin/python" -c 'import cinder.tests.fake_driver, cinderclient.contrib.noauth' >/dev/null 2>&1 || {
    echo "install.sh: cinder installed but cinder.tests.fake_driver does not import" >&2
    "$VENV/bin/python" -c 'import cinder.tests.fake_driver, cinderclient.contrib.noauth'
    exit 1
}
touch "$STAMP"
echo "real Cinder venv ready in $VENV ($(( $(date +%s) - start )) s)"
