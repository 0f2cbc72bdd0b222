// The Python module _C. Importing it loads this shared library, whose static initialisers register
// the ops (csrc/ops.cpp and the per-device files) under torch.ops.modeinterp; the module itself
// exports nothing. It passes no Python objects and uses only the limited C API (Py_LIMITED_API is
// set by CMake), so one abi3 wheel serves every CPython >= 3.10 for a given torch variant.
#include <Python.h>

namespace {

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "_C",
    "modeinterp's compiled ops, registered under torch.ops.modeinterp when this module loads.",
    0,        // no per-module state
    nullptr,  // no methods: build facts live in modeinterp/_build_config.py
};

}  // namespace

PyMODINIT_FUNC PyInit__C(void) { return PyModuleDef_Init(&module_def); }
