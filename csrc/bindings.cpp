// accelkern._C: the only translation unit that includes torch/pybind11. It validates tensors,
// takes the current stream and calls the plain launchers of csrc/<family>/. One section per family.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

#include "blas/blas_info.h"
#include "common/device_query.h"
#include "memory/memory.h"

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

MemLaunch mem_launch(int64_t vec, int64_t unroll, int64_t hint, int64_t threads, int64_t blocks, int64_t passes) {
  TORCH_CHECK(threads > 0 && threads <= 1024 && blocks > 0 && blocks <= INT32_MAX && passes > 0 && passes <= INT32_MAX,
              "launch: threads in [1, 1024], blocks and passes positive 32-bit (got ", threads, ", ", blocks, ", ",
              passes, ")");
  MemLaunch l;
  l.vec = static_cast<int>(vec);
  l.unroll = static_cast<int>(unroll);
  l.hint = static_cast<int>(hint);
  l.threads = static_cast<int>(threads);
  l.blocks = static_cast<int>(blocks);
  l.passes = static_cast<int>(passes);
  return l;
}

void require_bytes(const at::Tensor& t, const char* name, int64_t n_bytes) {
  require_cuda_tensor(t, name);
  TORCH_CHECK(n_bytes >= 0 && static_cast<uint64_t>(n_bytes) <= t.nbytes(), name, " holds ", t.nbytes(),
              " bytes, fewer than the ", n_bytes, " asked for");
}

void mem_copy_tensor(const at::Tensor& src, const at::Tensor& dst, int64_t n_bytes, int64_t vec, int64_t unroll,
                     int64_t hint, int64_t threads, int64_t blocks, int64_t passes) {
  require_bytes(src, "src", n_bytes);
  require_bytes(dst, "dst", n_bytes);
  TORCH_CHECK(src.device() == dst.device(), "src and dst must be on the same device");
  c10::cuda::CUDAGuard guard(src.device());
  launch_mem_copy(src.data_ptr(), dst.data_ptr(), static_cast<size_t>(n_bytes),
                  mem_launch(vec, unroll, hint, threads, blocks, passes), stream_of(src));
}

void mem_read_tensor(const at::Tensor& src, int64_t n_bytes, const at::Tensor& partials, int64_t vec, int64_t unroll,
                     int64_t hint, int64_t threads, int64_t blocks, int64_t passes) {
  require_bytes(src, "src", n_bytes);
  require_cuda_tensor(partials, "partials");
  TORCH_CHECK(partials.scalar_type() == at::kInt, "partials must be int32 (the uint32 sums' bits)");
  TORCH_CHECK(partials.numel() >= blocks, "partials needs one entry per block (", blocks, ")");
  TORCH_CHECK(src.device() == partials.device(), "src and partials must be on the same device");
  c10::cuda::CUDAGuard guard(src.device());
  launch_mem_read(src.data_ptr(), static_cast<size_t>(n_bytes), reinterpret_cast<uint32_t*>(partials.data_ptr()),
                  mem_launch(vec, unroll, hint, threads, blocks, passes), stream_of(src));
}

void mem_write_tensor(const at::Tensor& dst, int64_t n_bytes, int64_t pattern, int64_t vec, int64_t unroll,
                      int64_t hint, int64_t threads, int64_t blocks, int64_t passes) {
  require_bytes(dst, "dst", n_bytes);
  TORCH_CHECK(pattern >= 0 && pattern <= 0xffffffffLL, "pattern must fit in 32 bits");
  c10::cuda::CUDAGuard guard(dst.device());
  launch_mem_write(dst.data_ptr(), static_cast<size_t>(n_bytes), static_cast<uint32_t>(pattern),
                   mem_launch(vec, unroll, hint, threads, blocks, passes), stream_of(dst));
}

void mem_triad_tensor(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c, double s, int64_t n_elems,
                      int64_t vec, int64_t unroll, int64_t hint, int64_t threads, int64_t blocks, int64_t passes) {
  for (auto* t : {&a, &b, &c}) {
    require_cuda_tensor(*t, "triad operand");
    TORCH_CHECK(t->scalar_type() == at::kFloat, "triad operands must be float32");
    TORCH_CHECK(n_elems >= 0 && n_elems <= t->numel(), "triad operand holds ", t->numel(), " elements, fewer than ",
                n_elems);
    TORCH_CHECK(t->device() == a.device(), "triad operands must be on one device");
  }
  c10::cuda::CUDAGuard guard(a.device());
  launch_mem_triad(a.data_ptr<float>(), b.data_ptr<float>(), c.data_ptr<float>(), static_cast<float>(s),
                   static_cast<size_t>(n_elems), mem_launch(vec, unroll, hint, threads, blocks, passes), stream_of(a));
}

// cudaMemcpyAsync dst <- src: device-to-device (copy engine or driver kernel, the driver's choice), or between
// a pinned host tensor and a device tensor on that device's current stream.
void mem_memcpy_tensor(const at::Tensor& dst, const at::Tensor& src, int64_t n_bytes) {
  TORCH_CHECK(dst.is_contiguous() && src.is_contiguous(), "memcpy: tensors must be contiguous");
  TORCH_CHECK(dst.is_cuda() || src.is_cuda(), "memcpy: at least one tensor must be on a CUDA device");
  TORCH_CHECK(n_bytes >= 0 && static_cast<uint64_t>(n_bytes) <= dst.nbytes() &&
                  static_cast<uint64_t>(n_bytes) <= src.nbytes(), "memcpy: n_bytes exceeds a tensor");
  for (auto* t : {&dst, &src}) {
    TORCH_CHECK(t->is_cuda() || t->is_pinned(),
                "memcpy: a host tensor must be pinned (pin_memory=True), else the copy is staged and synchronous");
  }
  if (dst.is_cuda() && src.is_cuda()) TORCH_CHECK(dst.device() == src.device(), "memcpy: one device only");
  const at::Tensor& dev = dst.is_cuda() ? dst : src;
  c10::cuda::CUDAGuard guard(dev.device());
  mem_copy_async(dst.data_ptr(), src.data_ptr(), static_cast<size_t>(n_bytes), stream_of(dev));
}

py::dict mem_kernel_info_dict(const std::string& kernel, int64_t vec, int64_t unroll, int64_t hint, int64_t threads) {
  MemKernel k;
  if (kernel == "copy") k = kMemCopy;
  else if (kernel == "read") k = kMemRead;
  else if (kernel == "write") k = kMemWrite;
  else if (kernel == "triad") k = kMemTriad;
  else TORCH_CHECK(false, "unknown memory kernel '", kernel, "' (copy, read, write, triad)");
  MemKernelInfo i = mem_kernel_info(k, static_cast<int>(vec), static_cast<int>(unroll), static_cast<int>(hint),
                                    static_cast<int>(threads));
  py::dict r;
  r["num_regs"] = i.num_regs;
  r["local_bytes"] = i.local_bytes;
  r["max_threads_per_block"] = i.max_threads_per_block;
  r["max_blocks_per_sm"] = i.max_blocks_per_sm;
  return r;
}

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
  m.def("mem_copy", &mem_copy_tensor, py::arg("src"), py::arg("dst"), py::arg("n_bytes"), py::arg("vec"),
        py::arg("unroll"), py::arg("hint"), py::arg("threads"), py::arg("blocks"), py::arg("passes") = 1,
        "dst[:n_bytes] = src[:n_bytes] with the copy kernel (vec bytes per access, hint 0 default / 1 streaming).");
  m.def("mem_read", &mem_read_tensor, py::arg("src"), py::arg("n_bytes"), py::arg("partials"), py::arg("vec"),
        py::arg("unroll"), py::arg("hint"), py::arg("threads"), py::arg("blocks"), py::arg("passes") = 1,
        "partials[b] = block b's share of the checksum (32-bit word sum + tail bytes, mod 2^32) of src[:n_bytes].");
  m.def("mem_write", &mem_write_tensor, py::arg("dst"), py::arg("n_bytes"), py::arg("pattern"), py::arg("vec"),
        py::arg("unroll"), py::arg("hint"), py::arg("threads"), py::arg("blocks"), py::arg("passes") = 1,
        "dst[:n_bytes] = the 32-bit pattern repeated (little-endian).");
  m.def("mem_triad", &mem_triad_tensor, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("s"), py::arg("n_elems"),
        py::arg("vec"), py::arg("unroll"), py::arg("hint"), py::arg("threads"), py::arg("blocks"),
        py::arg("passes") = 1, "a[:n] = b[:n] + s * c[:n] in fp32.");
  m.def("mem_memcpy", &mem_memcpy_tensor, py::arg("dst"), py::arg("src"), py::arg("n_bytes"),
        "cudaMemcpyAsync(dst, src, n_bytes) on the device's current stream (D2D, or pinned host <-> device).");
  m.def("mem_kernel_info", &mem_kernel_info_dict, py::arg("kernel"), py::arg("vec"), py::arg("unroll"),
        py::arg("hint"), py::arg("threads"),
        "Registers, local (spill) bytes, register-limited max threads per block and resident blocks per SM.");

  // blas gemm

  // peak

  // waves

  // gemm (own kernels)
}
