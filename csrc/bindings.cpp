// accelkern._C: the only translation unit that includes torch/pybind11. It validates tensors,
// takes the current stream and calls the plain launchers of csrc/<family>/. One section per family.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

#include "blas/blas_info.h"
#include "common/device_query.h"
#include "waves/occupancy_calc.h"
#include "waves/staircase.h"

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

py::dict waves_staircase_attributes(int device, int64_t dynamic_smem_bytes) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
  StaircaseAttributes a = staircase_attributes(device, dynamic_smem_bytes);
  py::dict r;
  r["num_regs"] = a.num_regs;
  r["static_smem_bytes"] = a.static_smem_bytes;
  r["local_bytes"] = a.local_bytes;
  r["max_threads_per_block"] = a.max_threads_per_block;
  r["threads_per_cta"] = a.threads_per_cta;
  r["max_dynamic_smem_bytes"] = a.max_dynamic_smem_bytes;
  r["carveout_percent"] = a.carveout_percent;
  r["reserved_smem_per_block"] = a.reserved_smem_per_block;
  r["ctas_per_sm"] = a.ctas_per_sm;
  r["binary_version"] = a.binary_version;
  r["dynamic_smem_bytes"] = dynamic_smem_bytes;
  return r;
}

int64_t waves_max_active_clusters(int device, int64_t cluster_size, int64_t dynamic_smem_bytes) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
  return staircase_max_active_clusters(device, static_cast<int>(cluster_size), dynamic_smem_bytes);
}

void waves_staircase(const at::Tensor& out, int64_t ctas, int64_t iters, int64_t dynamic_smem_bytes, double a,
                     double b, bool store_all) {
  require_cuda_tensor(out, "out");
  TORCH_CHECK(out.scalar_type() == at::kFloat, "out must be float32");
  TORCH_CHECK(!store_all || out.numel() >= ctas * int64_t(kStaircaseThreads),
              "check mode needs out.numel() >= ctas * ", kStaircaseThreads);
  c10::cuda::CUDAGuard guard(out.device());
  staircase_launch(out.device().index(), out.data_ptr<float>(), ctas, iters, dynamic_smem_bytes,
                   static_cast<float>(a), static_cast<float>(b), store_all, stream_of(out));
}

py::dict waves_occupancy_calc(py::dict q) {
  OccupancyQuery o;
  auto get = [&](const char* k, auto& field) {
    if (q.contains(k)) field = q[k].cast<std::decay_t<decltype(field)>>();
  };
  get("cc_major", o.cc_major);
  get("cc_minor", o.cc_minor);
  get("max_threads_per_block", o.max_threads_per_block);
  get("max_threads_per_sm", o.max_threads_per_sm);
  get("regs_per_block", o.regs_per_block);
  get("regs_per_sm", o.regs_per_sm);
  get("warp_size", o.warp_size);
  get("smem_per_block", o.smem_per_block);
  get("smem_per_sm", o.smem_per_sm);
  get("smem_per_block_optin", o.smem_per_block_optin);
  get("reserved_smem_per_block", o.reserved_smem_per_block);
  get("sm_count", o.sm_count);
  get("threads_per_cta", o.threads_per_cta);
  get("regs_per_thread", o.regs_per_thread);
  get("static_smem", o.static_smem);
  get("dynamic_smem", o.dynamic_smem);
  get("max_dynamic_smem", o.max_dynamic_smem);
  get("carveout_percent", o.carveout_percent);
  OccupancyAnswer a = occupancy_calc(o);
  py::dict r;
  r["error"] = a.error;
  r["ctas_per_sm"] = a.ctas_per_sm;
  r["limiting"] = a.limiting;
  r["limit_warps"] = a.limit_warps;
  r["limit_regs"] = a.limit_regs;
  r["limit_smem"] = a.limit_smem;
  r["limit_blocks"] = a.limit_blocks;
  r["limit_barriers"] = a.limit_barriers;
  r["allocated_regs_per_cta"] = a.allocated_regs_per_cta;
  r["allocated_smem_per_cta"] = a.allocated_smem_per_cta;
  return r;
}

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
  m.def("waves_staircase_attributes", &waves_staircase_attributes, py::arg("device"), py::arg("dynamic_smem_bytes"),
        "Staircase kernel facts (registers, static/reserved smem in bytes) and the runtime's CTAs per SM "
        "(cudaOccupancyMaxActiveBlocksPerMultiprocessor) for that dynamic smem per CTA.");
  m.def("waves_staircase", &waves_staircase, py::arg("out"), py::arg("ctas"), py::arg("iters"),
        py::arg("dynamic_smem_bytes"), py::arg("a") = 1.0, py::arg("b") = 1.0, py::arg("store_all") = false,
        "Launches the staircase kernel on the current stream: ctas CTAs x 32 threads, iters dependent FFMAs each; "
        "store_all writes x = tid%16 + iters*b*((tid+cta)%7) (for a = 1) to out[cta*32 + tid].");
  m.def("waves_max_active_clusters", &waves_max_active_clusters, py::arg("device"), py::arg("cluster_size"),
        py::arg("dynamic_smem_bytes"),
        "Clusters of cluster_size x 1 x 1 staircase CTAs (dynamic smem in bytes each) resident at once "
        "(cudaOccupancyMaxActiveClusters; sm_90+).");
  m.def("waves_occupancy_calc", &waves_occupancy_calc, py::arg("query"),
        "CTAs per SM by the toolkit's header-only occupancy calculator (cuda_occupancy.h), on the host, from a "
        "dict of device limits and kernel resources (bytes, registers, threads).");

  // gemm (own kernels)
}
