#!/usr/bin/env bash
# Install what `python3 bench/run.py` needs, idempotently and quietly when it is all there:
#   - valgrind (callgrind), a C compiler, libssl-dev (the floor signs with libcrypto) and
#     libcurl4-openssl-dev (the floor + libcurl reference), via apt;
#   - AWS's Runtime Interface Emulator at .tools/aws-lambda-rie (tools/fetch-rie.sh);
#   - .build-bench/venv: the interpreter environment the Python baseline runs in, with the pinned
#     bench/requirements.txt (awslambdaric, boto3) and nothing else (no pip, no setuptools .pth
#     hooks, no system site-packages: what the baseline imports is exactly the deployable set);
#   - .build-bench/python-deps: the same packages as `pip install --target` lays them out for a
#     Lambda zip, only to measure the Python package size.
# The release package itself (dist/) comes from `make package`, which `make bench` runs first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tools/apt-install.sh valgrind libssl-dev libcurl4-openssl-dev gcc libc6-dev

tools/fetch-rie.sh >/dev/null

# Rebuild the Python environments only when the pins or the interpreter changed: the stamp
# holds both.
python=$(command -v python3)
stamp_text="$(python3 -c 'import sys; print(sys.version)') $(sha256sum bench/requirements.txt | cut -d' ' -f1)"
venv=.build-bench/venv
deps=.build-bench/python-deps
if [[ -f .build-bench/python.stamp && "$(cat .build-bench/python.stamp)" == "$stamp_text" \
      && -x "$venv/bin/python3" && -d "$deps/awslambdaric" ]]; then
    exit 0
fi
echo "bench/setup: installing bench/requirements.txt into $venv and $deps"
rm -rf "$venv" "$deps" .build-bench/python.stamp
mkdir -p .build-bench
pip_flags=(-q --disable-pip-version-check --root-user-action=ignore --no-warn-script-location)
# --without-pip: the venv gets only the pinned packages, installed by the outer pip.
"$python" -m venv --without-pip "$venv"
"$python" -m pip --python "$venv/bin/python3" install "${pip_flags[@]}" -r bench/requirements.txt
# As one deploys to Lambda: `pip install --target`, byte-code compiled (pip's default). Run for
# the venv's interpreter too, so a distribution's "externally managed" Python is no obstacle.
"$python" -m pip --python "$venv/bin/python3" install "${pip_flags[@]}" --no-deps --target "$deps" -r bench/requirements.txt
echo "$stamp_text" > .build-bench/python.stamp
