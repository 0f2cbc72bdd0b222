#!/usr/bin/env bash
# Set up everything modeinterp needs and build it, idempotently:
#  - keeps an installed torch >= 2.4 (a GPU box keeps its CUDA torch), else installs torch==2.13.0;
#  - installs the build and test requirements that are missing (with the [diffusers] extra);
#  - builds the extension against that torch (no build isolation, see README) as an editable
#    install; the build directory persists, so a second run only re-links what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

if "$PY" - <<'PY'
import sys
try:
    import torch
except ImportError:
    sys.exit(1)
major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
sys.exit(0 if (major, minor) >= (2, 4) else 1)
PY
then
  echo "setup: using installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  echo "setup: installing torch==2.13.0"
  "$PY" -m pip install -q torch==2.13.0
fi

missing=$("$PY" - <<'PY'
import importlib.util
need = {"scikit_build_core": "scikit-build-core>=0.10", "cmake": "cmake>=3.26", "ninja": "ninja",
        "numpy": "numpy", "scipy": "scipy", "tqdm": "tqdm",
        "matplotlib": "matplotlib", "sklearn": "scikit-learn", "pytest": "pytest",
        "pytest_benchmark": "pytest-benchmark", "hypothesis": "hypothesis",
        "diffusers": "diffusers>=0.30", "PIL": "Pillow>=9"}  # the [diffusers] extra: tested too
print(" ".join(req for mod, req in need.items() if importlib.util.find_spec(mod) is None))
PY
)
if [ -n "$missing" ]; then
  echo "setup: installing $missing"
  # shellcheck disable=SC2086
  "$PY" -m pip install -q $missing
fi

echo "setup: building modeinterp (incremental after the first build)"
"$PY" -m pip install -q --no-build-isolation --no-deps -e .
"$PY" -c "import modeinterp, json; print('setup: modeinterp', json.dumps(modeinterp.build_info()))"
