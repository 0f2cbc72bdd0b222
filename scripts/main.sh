#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job. Extra arguments go to the command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m modeinterp reproduce gaussian2d --quick "$@"
