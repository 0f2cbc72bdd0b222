#!/usr/bin/env bash
# Wheels the lent GPU machine lacks (it has no network; see the device tool's README), saved into
# .whl/ (git-ignored): diffusers, for the scored-vs-stock diffusers table and the U-Net rows of
# gpu_session.sh, and importlib_metadata, the one diffusers needs that the machine lacks. Name .whl
# in the call's carry; gpu_session.sh installs what it finds there into /tmp/site.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(python3 -c 'import diffusers; print(diffusers.__version__)' 2>/dev/null || echo 0.42.1)
rm -rf .whl && mkdir -p .whl
for pkg in "diffusers==$version" importlib_metadata; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 -d .whl "$pkg"
done
ls -l .whl
