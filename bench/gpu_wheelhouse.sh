#!/usr/bin/env bash
# Wheels for the suite's pure dependencies, for a device machine without a package index:
#   bash bench/gpu_wheelhouse.sh            # then run with carry=["wheelhouse"]
# ml_dtypes is binary: wheels for CPython 3.10–3.13 on manylinux x86_64 are fetched.
set -euo pipefail
rm -rf wheelhouse && mkdir wheelhouse
pip download -q -d wheelhouse --no-deps hypothesis mpmath rich attrs sortedcontainers markdown-it-py mdurl pygments
for v in 3.10 3.11 3.12 3.13; do
  pip download -q -d wheelhouse --no-deps --only-binary=:all: --python-version "$v" \
    --platform manylinux2014_x86_64 ml_dtypes
done
du -sh wheelhouse
