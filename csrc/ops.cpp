// The op schemas, declared once for every device (implementations: csrc/cpu, csrc/cuda), and the
// Python module _C, whose import loads and registers them.
#include <pybind11/pybind11.h>
#include <torch/library.h>

namespace py = pybind11;

TORCH_LIBRARY(modeinterp, m) {
  // One reverse diffusion step fused with the running (Welford) variance of x̂0; DESIGN.md.
  // mean/m2 are updated in place; the second output is x̂0 when return_x0, else empty.
  m.def(
      "fused_step(Tensor x, Tensor out, float a, float b, float c0, float c1, float c2, "
      "float sigma, float clip, Tensor? noise, int seed, int step, int offset, "
      "Tensor(a!)? mean, Tensor(b!)? m2, int count, bool return_x0) -> (Tensor, Tensor)");
  // Fills a float32 tensor with the fused step's noise stream.
  m.def("philox_fill_(Tensor(a!) self, int seed, int step, int offset) -> ()");
  // Per-sample mean over non-batch dims of m2 / count.
  m.def("trajectory_score(Tensor m2, int count) -> Tensor");
}

namespace {

py::list cuda_arch_list() {
  py::list archs;
#ifdef MODEINTERP_CUDA_ARCHS
  std::string s = MODEINTERP_CUDA_ARCHS;
  size_t start = 0;
  while (start < s.size()) {
    const size_t end = s.find(';', start);
    archs.append(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
#endif
  return archs;
}

py::dict build_info() {
  py::dict info;
  info["version"] = MODEINTERP_VERSION;
  info["torch_version"] = MODEINTERP_TORCH_VERSION;
#ifdef MODEINTERP_WITH_CUDA
  info["cuda"] = true;
  info["cuda_version"] = MODEINTERP_CUDA_VERSION;
#else
  info["cuda"] = false;
  info["cuda_version"] = py::none();
#endif
  info["cuda_archs"] = cuda_arch_list();
  info["compiler"] = MODEINTERP_CXX_COMPILER;
  info["build_type"] = MODEINTERP_BUILD_TYPE;
  return info;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "modeinterp's compiled ops (registered under torch.ops.modeinterp on import)";
  m.def("build_info", &build_info,
        "How this extension was built: version, torch it was built against, CUDA and arches.");
}
