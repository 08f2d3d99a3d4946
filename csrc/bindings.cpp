// accelkern._C: the only translation unit that includes torch/pybind11. It validates tensors,
// takes the current stream and calls the plain launchers of csrc/<family>/. One section per family.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

#include "blas/blas_info.h"
#include "common/device_query.h"
#include "peak/peak.h"
#include "peak/wgmma_desc.h"

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

template <class E>
E op_from_name(const std::string& name, const char* const* names, const char* what) {
  std::string allowed;
  for (int i = 0; i < static_cast<int>(E::kCount); ++i) {
    if (name == names[i]) return static_cast<E>(i);
    allowed += std::string(i ? ", " : "") + names[i];
  }
  TORCH_CHECK(false, what, ": unknown op '", name, "'; allowed: ", allowed);
}

const char* const kSimtOpNames[] = {"fp32", "fp64", "fp16x2", "bf16x2", "int32"};
const char* const kMmaOpNames[] = {"f16.f32", "f16.f16", "bf16.f32", "tf32.f32", "s8.s32", "e4m3.f32", "e5m2.f32",
                                   "f64.f64"};
const char* const kWgmmaOpNames[] = {"f16", "bf16", "tf32", "e4m3", "e5m2", "s8"};
static_assert(sizeof(kSimtOpNames) / sizeof(char*) == int(SimtOp::kCount), "SIMT op names");
static_assert(sizeof(kMmaOpNames) / sizeof(char*) == int(MmaOp::kCount), "mma op names");
static_assert(sizeof(kWgmmaOpNames) / sizeof(char*) == int(WgmmaOp::kCount), "wgmma op names");

py::dict kernel_info_dict(const PeakKernelInfo& k) {
  py::dict r;
  r["regs"] = k.regs;
  r["local_bytes"] = k.local_bytes;
  r["static_smem"] = k.static_smem;
  r["max_threads"] = k.max_threads;
  r["binary_version"] = k.binary_version;
  r["ptx_version"] = k.ptx_version;
  r["max_active_ctas"] = k.max_active_ctas;
  r["steps_per_iter"] = k.steps_per_iter;
  return r;
}

void require_words(const at::Tensor& t, const char* name, int64_t words) {
  require_cuda_tensor(t, name);
  TORCH_CHECK(t.element_size() == 4, name, " must hold 32-bit words (int32), got ", t.scalar_type());
  TORCH_CHECK(t.numel() >= words, name, " needs at least ", words, " words, has ", t.numel());
}

long long* clocks_ptr(const c10::optional<at::Tensor>& clocks, int64_t ctas) {
  if (!clocks.has_value()) return nullptr;
  const at::Tensor& c = *clocks;
  require_cuda_tensor(c, "clocks");
  TORCH_CHECK(c.scalar_type() == at::kLong, "clocks must be int64");
  TORCH_CHECK(c.numel() >= 4 * ctas, "clocks needs 4 int64 per CTA (", 4 * ctas, "), has ", c.numel());
  return reinterpret_cast<long long*>(c.data_ptr<int64_t>());
}

uint32_t* words_ptr(const at::Tensor& t) { return reinterpret_cast<uint32_t*>(t.data_ptr()); }

py::dict peak_simt_info(const std::string& op, int64_t chains, int64_t threads) {
  return kernel_info_dict(simt_peak_info(op_from_name<SimtOp>(op, kSimtOpNames, "peak_simt"), int(chains), int(threads)));
}

void peak_simt(const std::string& op, int64_t chains, int64_t ctas, int64_t threads, int64_t iters, bool check,
               const at::Tensor& params, const at::Tensor& out, const c10::optional<at::Tensor>& clocks) {
  SimtOp o = op_from_name<SimtOp>(op, kSimtOpNames, "peak_simt");
  TORCH_CHECK(simt_chains_supported(int(chains)), "peak_simt: chains must be 4, 8 or 16");
  TORCH_CHECK(ctas > 0 && threads > 0 && iters >= 0 && iters <= INT32_MAX, "peak_simt: bad launch shape or iters");
  const int64_t w = (o == SimtOp::kFp64) ? 2 : 1;
  require_words(params, "params", (chains + 2) * w);
  require_words(out, "out", ctas * threads * (check ? chains * w : 1));
  c10::cuda::CUDAGuard guard(params.device());
  launch_simt_peak(o, int(chains), int(ctas), int(threads), int(iters), check ? 1 : 0, words_ptr(params),
                   words_ptr(out), clocks_ptr(clocks, ctas), stream_of(params));
}

py::dict peak_mma_info(const std::string& op, int64_t chains, int64_t warps) {
  return kernel_info_dict(mma_peak_info(op_from_name<MmaOp>(op, kMmaOpNames, "peak_mma"), int(chains), int(warps)));
}

py::tuple peak_mma_fragment_words(const std::string& op) {
  int a = 0, b = 0, c = 0;
  mma_fragment_words(op_from_name<MmaOp>(op, kMmaOpNames, "peak_mma"), &a, &b, &c);
  return py::make_tuple(a, b, c);
}

void peak_mma(const std::string& op, int64_t chains, int64_t ctas, int64_t warps, int64_t iters, bool check,
              const at::Tensor& frags, const at::Tensor& out, const c10::optional<at::Tensor>& clocks) {
  MmaOp o = op_from_name<MmaOp>(op, kMmaOpNames, "peak_mma");
  TORCH_CHECK(mma_chains_supported(int(chains)), "peak_mma: chains must be 2, 4 or 8");
  TORCH_CHECK(ctas > 0 && warps > 0 && iters >= 0 && iters <= INT32_MAX, "peak_mma: bad launch shape or iters");
  int a = 0, b = 0, c = 0;
  mma_fragment_words(o, &a, &b, &c);
  require_words(frags, "frags", 32 * (a + 2 * b + c));
  require_words(out, "out", check ? ctas * warps * chains * 32 * c : ctas * warps * 32);
  c10::cuda::CUDAGuard guard(frags.device());
  launch_mma_peak(o, int(chains), int(ctas), int(warps), int(iters), check ? 1 : 0, words_ptr(frags), words_ptr(out),
                  clocks_ptr(clocks, ctas), stream_of(frags));
}

uint64_t wgmma_descriptor_host(int64_t addr, int64_t lbo, int64_t sbo, int64_t swizzle, int64_t base_offset) {
  TORCH_CHECK(addr >= 0 && lbo >= 0 && sbo >= 0 && swizzle >= 0 && swizzle <= 3 && base_offset >= 0 && base_offset <= 7,
              "wgmma_descriptor: negative field, swizzle outside 0..3 or base offset outside 0..7");
  return wgmma_descriptor(uint32_t(addr), uint32_t(lbo), uint32_t(sbo), uint32_t(swizzle), uint32_t(base_offset));
}

#if ACCELKERN_HAS_SM90A
WgmmaSmemLayout layout_from_dict(const py::dict& d) {
  auto get = [&](const char* k) {
    TORCH_CHECK(d.contains(k), "wgmma layout: missing '", k, "'");
    int64_t v = d[k].cast<int64_t>();
    TORCH_CHECK(v >= 0 && v <= (1 << 20), "wgmma layout: '", k, "' out of range: ", v);
    return uint32_t(v);
  };
  WgmmaSmemLayout l;
  l.a_bytes = get("a_bytes");
  l.b_bytes = get("b_bytes");
  l.a_lbo = get("a_lbo");
  l.a_sbo = get("a_sbo");
  l.b_lbo = get("b_lbo");
  l.b_sbo = get("b_sbo");
  l.a_kstep = get("a_kstep");
  l.b_kstep = get("b_kstep");
  l.swizzle = get("swizzle");
  return l;
}
#endif

// wgmma kernels exist only in the sm_90a binary: refuse elsewhere instead of failing in the driver.
void require_sm90(int device) {
#if ACCELKERN_HAS_SM90A
  int major = 0, minor = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  TORCH_CHECK(major == 9 && minor == 0, "wgmma needs an sm_90 GPU (the sm_90a kernels do not run on sm_", major, minor,
              ")");
#else
  (void)device;
  TORCH_CHECK(false, "this accelkern._C was built without sm_90a kernels (ACCELKERN_CUDA_ARCHS lacks 90a): no wgmma");
#endif
}

py::dict peak_wgmma_info(const std::string& op, int64_t n, bool a_in_regs, int64_t chains, int64_t warpgroups,
                         const py::dict& layout, int64_t device) {
  WgmmaOp o = op_from_name<WgmmaOp>(op, kWgmmaOpNames, "peak_wgmma");
  require_sm90(int(device));
#if ACCELKERN_HAS_SM90A
  c10::cuda::CUDAGuard guard(c10::Device(c10::kCUDA, c10::DeviceIndex(device)));
  return kernel_info_dict(wgmma_peak_info(o, int(n), a_in_regs, int(chains), int(warpgroups), layout_from_dict(layout)));
#else
  (void)o; (void)n; (void)a_in_regs; (void)chains; (void)warpgroups; (void)layout;
  return py::dict();
#endif
}

void peak_wgmma(const std::string& op, int64_t n, bool a_in_regs, int64_t chains, int64_t ctas, int64_t warpgroups,
                int64_t iters, bool check, const at::Tensor& image, const py::dict& layout, const at::Tensor& a_frags,
                const at::Tensor& c_frags, const at::Tensor& out, const c10::optional<at::Tensor>& clocks) {
  WgmmaOp o = op_from_name<WgmmaOp>(op, kWgmmaOpNames, "peak_wgmma");
  require_cuda_tensor(image, "image");
  require_sm90(image.device().index());
#if ACCELKERN_HAS_SM90A
  TORCH_CHECK(wgmma_config_supported(int(n), int(chains)),
              "peak_wgmma: (N, chains) must be one of (64, 2), (128, 1), (128, 2), (256, 1)");
  TORCH_CHECK(ctas > 0 && warpgroups >= 1 && warpgroups <= 2 && iters >= 0 && iters <= INT32_MAX,
              "peak_wgmma: bad launch shape or iters");
  WgmmaSmemLayout l = layout_from_dict(layout);
  TORCH_CHECK(image.scalar_type() == at::kByte, "image must be uint8");
  TORCH_CHECK(image.numel() >= int64_t(l.a_bytes) + l.b_bytes, "image smaller than the A and B images");
  if (a_in_regs) require_words(a_frags, "a_frags", 128 * 16);
  require_words(c_frags, "c_frags", 128 * (n / 2));
  require_words(out, "out", check ? ctas * warpgroups * chains * 128 * (n / 2) : ctas * warpgroups * 128);
  c10::cuda::CUDAGuard guard(image.device());
  launch_wgmma_peak(o, int(n), a_in_regs, int(chains), int(ctas), int(warpgroups), int(iters), check ? 1 : 0,
                    image.data_ptr<uint8_t>(), l, a_in_regs ? words_ptr(a_frags) : nullptr, words_ptr(c_frags),
                    words_ptr(out), clocks_ptr(clocks, ctas), stream_of(image));
#else
  (void)o; (void)n; (void)a_in_regs; (void)chains; (void)ctas; (void)warpgroups; (void)iters; (void)check;
  (void)layout; (void)a_frags; (void)c_frags; (void)out; (void)clocks;
#endif
}

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
  m.def("peak_simt", &peak_simt, py::arg("op"), py::arg("chains"), py::arg("ctas"), py::arg("threads"), py::arg("iters"),
        py::arg("check"), py::arg("params"), py::arg("out"), py::arg("clocks") = py::none(),
        "SIMT peak loop (op: fp32, fp64, fp16x2, bf16x2, int32); clocks: int64 [ctas, 4] (clock64, globaltimer ns).");
  m.def("peak_simt_info", &peak_simt_info, py::arg("op"), py::arg("chains"), py::arg("threads"),
        "Registers, local bytes, binary arch, max CTAs/SM and steps per iteration of a SIMT peak kernel.");
  m.def("peak_mma", &peak_mma, py::arg("op"), py::arg("chains"), py::arg("ctas"), py::arg("warps"), py::arg("iters"),
        py::arg("check"), py::arg("frags"), py::arg("out"), py::arg("clocks") = py::none(),
        "mma.sync peak loop (op: f16.f32, f16.f16, bf16.f32, tf32.f32, s8.s32, e4m3.f32, e5m2.f32, f64.f64).");
  m.def("peak_mma_info", &peak_mma_info, py::arg("op"), py::arg("chains"), py::arg("warps"),
        "Kernel facts of an mma.sync peak kernel on the current device.");
  m.def("peak_mma_fragment_words", &peak_mma_fragment_words, py::arg("op"),
        "32-bit words per lane of the A, B and C fragments of an mma.sync op.");
  m.def("peak_wgmma", &peak_wgmma, py::arg("op"), py::arg("n"), py::arg("a_in_regs"), py::arg("chains"),
        py::arg("ctas"), py::arg("warpgroups"), py::arg("iters"), py::arg("check"), py::arg("image"), py::arg("layout"),
        py::arg("a_frags"), py::arg("c_frags"), py::arg("out"), py::arg("clocks") = py::none(),
        "wgmma peak loop (sm_90 only; op: f16, bf16, tf32, e4m3, e5m2, s8).");
  m.def("peak_wgmma_info", &peak_wgmma_info, py::arg("op"), py::arg("n"), py::arg("a_in_regs"), py::arg("chains"),
        py::arg("warpgroups"), py::arg("layout"), py::arg("device") = 0,
        "Kernel facts of a wgmma peak kernel (sm_90 only).");
  m.def("wgmma_descriptor", &wgmma_descriptor_host, py::arg("addr"), py::arg("lbo"), py::arg("sbo"),
        py::arg("swizzle"), py::arg("base_offset") = 0,
        "The 64-bit wgmma shared-memory descriptor the kernels build (host copy of the device function).");

  // waves

  // gemm (own kernels)
}
