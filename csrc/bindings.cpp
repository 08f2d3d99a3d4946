// accelkern._C: the only translation unit that includes torch/pybind11. It validates tensors,
// takes the current stream and calls the plain launchers of csrc/<family>/. One section per family.
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

#include "blas/blas_info.h"
#include "common/device_query.h"

namespace py = pybind11;
using namespace accelkern;

namespace {

void require_cuda_tensor(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.is_cuda(), name, " must be a CUDA tensor (got ", t.device(), ")");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

cudaStream_t stream_of(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}

// ---- common: device facts, clock probe, L2 flush -------------------------------------------

py::dict device_attributes(int device) {
  DeviceAttributes d = query_device_attributes(device);
  py::dict r;
  r["device"] = d.device;
  r["compute_capability"] = py::make_tuple(d.cc_major, d.cc_minor);
  r["sm_count"] = d.sm_count;
  r["max_sm_clock_mhz"] = d.max_sm_clock_khz / 1000.0;
  r["mem_clock_mhz"] = d.mem_clock_khz / 1000.0;
  r["mem_bus_width_bits"] = d.mem_bus_width_bits;
  r["l2_bytes"] = d.l2_bytes;
  r["persisting_l2_max_bytes"] = d.persisting_l2_max_bytes;
  r["smem_per_sm_bytes"] = d.smem_per_sm_bytes;
  r["smem_per_block_bytes"] = d.smem_per_block_bytes;
  r["smem_per_block_optin_bytes"] = d.smem_per_block_optin_bytes;
  r["regs_per_sm"] = d.regs_per_sm;
  r["regs_per_block"] = d.regs_per_block;
  r["max_threads_per_sm"] = d.max_threads_per_sm;
  r["max_threads_per_block"] = d.max_threads_per_block;
  r["max_blocks_per_sm"] = d.max_blocks_per_sm;
  r["warp_size"] = d.warp_size;
  r["copy_engines"] = d.async_engines;
  r["cuda_runtime_version"] = d.runtime_version;
  r["cuda_driver_version"] = d.driver_version;
  return r;
}

py::dict sm_clock_probe(int device, int64_t spin_cycles) {
  cudaStream_t s = c10::cuda::getCurrentCUDAStream(device).stream();
  ClockProbe p = probe_sm_clock(device, spin_cycles, s);
  py::dict r;
  r["cycles"] = p.cycles;
  r["ns"] = p.ns;
  r["mhz"] = p.ns > 0 ? 1000.0 * double(p.cycles) / double(p.ns) : 0.0;
  return r;
}

void l2_flush_tensor(const at::Tensor& buf, int64_t value) {
  require_cuda_tensor(buf, "buf");
  l2_flush(buf.data_ptr(), buf.nbytes(), static_cast<int>(value), stream_of(buf));
}

py::dict build_info() {
  py::dict r;
  r["has_sm90a"] = bool(ACCELKERN_HAS_SM90A);
  r["torch_version"] = TORCH_VERSION;
  r["cuda_compiled"] = CUDART_VERSION;
  return r;
}

// ---- memory (csrc/memory): issue hbm -------------------------------------------------------

// ---- blas (csrc/blas): cuBLASLt / cuBLAS GEMM and the algorithm explorer -------------------------

// ---- peak (csrc/peak): compute-only microkernels -----------------------------------------------

// ---- waves (csrc/waves): synthetic staircase kernel --------------------------------------------

// ---- gemm (csrc/gemm): own GEMM kernels --------------------------------------------------------

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "accelkern CUDA kernels and cuBLAS/cuBLASLt wrappers";

  // common
  m.def("build_info", &build_info, "How this extension was built (sm_90a sources, torch, CUDA).");
  m.def("device_attributes", &device_attributes, py::arg("device") = 0,
        "Device facts torch does not expose (SMs, clocks in MHz, bus width in bits, L2 and smem in bytes, ...).");
  m.def("sm_clock_probe", &sm_clock_probe, py::arg("device") = 0, py::arg("spin_cycles") = 20000000,
        "SM clock while one thread spins: clock64 cycles over %globaltimer ns (mhz).");
  m.def("l2_flush", &l2_flush_tensor, py::arg("buf"), py::arg("value") = 0,
        "memset of buf on the current stream; buf should be at least twice the L2 size.");

  // blas
  m.def("cublaslt_version", &cublaslt_version, "cublasLtGetVersion(), e.g. 130101.");
  m.def("cublas_version", &cublas_version, "cuBLAS version as MAJOR*10000 + MINOR*100 + PATCH.");

  // memory

  // blas gemm

  // peak

  // waves

  // gemm (own kernels)
}
