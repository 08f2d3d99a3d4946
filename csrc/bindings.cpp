// accelkern._C: the only translation unit that includes torch/pybind11. It validates tensors,
// takes the current stream and calls the plain launchers of csrc/<family>/. One section per family.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

#include <memory>

#include "blas/blas_info.h"
#include "blas/cublas_gemm.h"
#include "blas/lt_algos.h"
#include "blas/lt_matmul.h"
#include "common/device_query.h"
#include "memory/memory.h"
#include "peak/peak.h"
#include "peak/wgmma_desc.h"
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

LtAlgoRaw raw_from(const py::sequence& seq) {
  TORCH_CHECK(py::len(seq) == 8, "an algorithm's raw data is 8 unsigned 64-bit integers (got ", py::len(seq), ")");
  LtAlgoRaw r;
  for (size_t i = 0; i < 8; ++i) r[i] = seq[i].cast<uint64_t>();
  return r;
}

py::tuple raw_to(const LtAlgoRaw& r) {
  py::tuple t(8);
  for (size_t i = 0; i < 8; ++i) t[i] = py::int_(r[i]);
  return t;
}

py::dict algo_config_dict(const LtAlgoRaw& raw) {
  LtAlgoConfig c = read_algo_config(raw);
  py::dict r;
  r["raw"] = raw_to(raw);
  r["algo_id"] = c.algo_id;
  r["tile_id"] = c.tile_id;
  r["stages_id"] = c.stages_id;
  r["splitk"] = c.splitk;
  r["reduction_id"] = c.reduction;
  r["swizzle"] = c.swizzle;
  r["custom_option"] = c.custom_option;
  r["inner_shape_id"] = c.inner_shape_id;
  r["cluster_id"] = c.cluster_id;
  r["impl_flags"] = c.impl_flags;
  return r;
}

LtAlgoRaw algo_with_config(const py::sequence& raw, const py::dict& change) {
  LtAlgoConfig c;
  auto take = [&](const char* key, int64_t& field) {
    if (change.contains(key)) field = change[py::str(key)].cast<int64_t>();
  };
  for (const auto& item : change) {
    const std::string key = item.first.cast<std::string>();
    TORCH_CHECK(key == "tile_id" || key == "stages_id" || key == "splitk" || key == "reduction_id" ||
                    key == "swizzle" || key == "custom_option" || key == "inner_shape_id" || key == "cluster_id",
                "cannot set '", key, "'; settable: tile_id stages_id splitk reduction_id swizzle custom_option "
                "inner_shape_id cluster_id");
  }
  take("tile_id", c.tile_id);
  take("stages_id", c.stages_id);
  take("splitk", c.splitk);
  take("reduction_id", c.reduction);
  take("swizzle", c.swizzle);
  take("custom_option", c.custom_option);
  take("inner_shape_id", c.inner_shape_id);
  take("cluster_id", c.cluster_id);
  return set_algo_config(raw_from(raw), c);
}

py::dict algo_result_dict(const LtAlgoResult& res) {
  py::dict r = algo_config_dict(res.raw);
  r["workspace_bytes"] = res.workspace_bytes;
  r["waves_count"] = res.waves_count;
  r["status"] = res.status;
  r["status_name"] = res.status_name;
  return r;
}

// GEMM description from a dict (keys of BlasGemmDesc; fp8 scales as CUDA float tensors).
BlasGemmDesc desc_from(const py::dict& d, int device) {
  BlasGemmDesc g;
  auto get = [&](const char* key) { return d[py::str(key)]; };
  g.dtype = get("dtype").cast<std::string>();
  if (d.contains("out")) g.out = get("out").cast<std::string>();
  g.trans_a = get("trans_a").cast<bool>();
  g.trans_b = get("trans_b").cast<bool>();
  g.m = get("m").cast<int64_t>(), g.n = get("n").cast<int64_t>(), g.k = get("k").cast<int64_t>();
  g.lda = get("lda").cast<int64_t>(), g.ldb = get("ldb").cast<int64_t>(), g.ldd = get("ldd").cast<int64_t>();
  if (d.contains("batch")) g.batch = get("batch").cast<int64_t>();
  if (d.contains("stride_a")) g.stride_a = get("stride_a").cast<int64_t>();
  if (d.contains("stride_b")) g.stride_b = get("stride_b").cast<int64_t>();
  if (d.contains("stride_d")) g.stride_d = get("stride_d").cast<int64_t>();
  if (d.contains("align_a")) g.align_a = get("align_a").cast<uint32_t>();
  if (d.contains("align_b")) g.align_b = get("align_b").cast<uint32_t>();
  if (d.contains("align_d")) g.align_d = get("align_d").cast<uint32_t>();
  if (d.contains("fast_accum")) g.fast_accum = get("fast_accum").cast<bool>();
  for (const char* key : {"a_scale", "b_scale"}) {
    if (!d.contains(key) || get(key).is_none()) continue;
    at::Tensor t = get(key).cast<at::Tensor>();
    require_cuda_tensor(t, key);
    TORCH_CHECK(t.scalar_type() == at::kFloat && t.numel() == 1, key, " must be one float32 element");
    TORCH_CHECK(t.device().index() == device, key, " must be on cuda:", device);
    (std::string(key) == "a_scale" ? g.a_scale : g.b_scale) = t.data_ptr();
  }
  return g;
}

void require_operand(const at::Tensor& t, const char* name, int device, int64_t need) {
  require_cuda_tensor(t, name);
  TORCH_CHECK(t.device().index() == device, name, " is on ", t.device(), ", the plan on cuda:", device);
  TORCH_CHECK(int64_t(t.nbytes()) >= need, name, " holds ", t.nbytes(), " bytes, the GEMM reads/writes ", need);
}

// Python face of a GEMM plan (cuBLASLt or cuBLAS): owns the plan, keeps the description dict (it holds
// the scale tensors) and the workspace alive, and checks every operand before a call.
template <class Plan>
struct GemmPlanPy {
  int device;
  std::unique_ptr<Plan> plan;
  py::object keep;
  at::Tensor workspace;
  int64_t need_a, need_b, need_d;

  GemmPlanPy(const py::dict& d, int dev) : device(dev), keep(d) {
    c10::cuda::CUDAGuard guard(device);
    BlasGemmDesc g = desc_from(d, device);
    plan = std::make_unique<Plan>(g);
    need_a = bytes_a(g), need_b = bytes_b(g), need_d = bytes_d(g);
  }
  void set_workspace(const at::Tensor& ws) {
    if (ws.numel() == 0) {
      workspace = at::Tensor();
      plan->set_workspace(nullptr, 0);
      return;
    }
    require_operand(ws, "workspace", device, 0);
    workspace = ws;
    plan->set_workspace(ws.data_ptr(), ws.nbytes());
  }
  void run(const at::Tensor& a, const at::Tensor& b, const at::Tensor& d) {
    require_operand(a, "a", device, need_a);
    require_operand(b, "b", device, need_b);
    require_operand(d, "d", device, need_d);
    c10::cuda::CUDAGuard guard(device);
    plan->run(a.data_ptr(), b.data_ptr(), d.data_ptr(), c10::cuda::getCurrentCUDAStream(device).stream());
  }
};

struct LtPlanPy : GemmPlanPy<LtMatmulPlan> {
  using GemmPlanPy::GemmPlanPy;
  py::list heuristic(int top_k, uint64_t workspace_limit) {
    c10::cuda::CUDAGuard guard(device);
    py::list out;
    for (const auto& r : plan->heuristic(top_k, workspace_limit)) out.append(algo_result_dict(r));
    return out;
  }
  py::dict check(const py::sequence& raw) {
    c10::cuda::CUDAGuard guard(device);
    return algo_result_dict(plan->check(raw_from(raw)));
  }
  void set_algo(const py::sequence& raw) { plan->set_algo(raw_from(raw)); }
};

using CublasPlanPy = GemmPlanPy<CublasGemmPlan>;

py::dict lt_enum_tables() {
  py::dict tile, stages, cluster, out;
  for (const auto& e : lt_tile_table()) tile[py::int_(e.id)] = py::make_tuple(e.v0, e.v1);
  for (const auto& e : lt_stages_table()) stages[py::int_(e.id)] = py::make_tuple(e.v0, e.v1);
  for (const auto& e : lt_cluster_table()) cluster[py::int_(e.id)] = py::make_tuple(e.v0, e.v1, e.v2);
  out["tile"] = tile;
  out["stages"] = stages;
  out["cluster"] = cluster;
  out["header_version"] = lt_enum_header_version();
  return out;
}

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
                                   "f64.f64", "f64.f64.k16"};
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
  m.def("mem_copy", &mem_copy_tensor, py::arg("src"), py::arg("dst"), py::arg("n_bytes"), py::arg("vec"),
        py::arg("unroll"), py::arg("hint"), py::arg("threads"), py::arg("blocks"), py::arg("passes") = 1,
        "dst[:n_bytes] = src[:n_bytes] with the copy kernel (vec bytes per access, hint 0 default / 1 streaming / "
        "2 L2 only).");
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
  m.def("lt_enum_tables", &lt_enum_tables,
        "cuBLASLt enum ids as numbers: tile id -> (rows, cols) of D, stages id -> (K per stage, count; 0 = AUTO), "
        "cluster id -> (x, y, z); header_version = the cuBLAS header they came from.");
  m.def("lt_algo_config", [](const py::sequence& raw) { return algo_config_dict(raw_from(raw)); }, py::arg("raw"),
        "Configuration ids (algo, tile, stages, split-K, reduction, swizzle, custom option, cluster) of a raw "
        "cublasLtMatmulAlgo_t (8 uint64).");
  m.def("lt_algo_with_config",
        [](const py::sequence& raw, const py::dict& change) { return raw_to(algo_with_config(raw, change)); },
        py::arg("raw"), py::arg("change"),
        "A raw algorithm with configuration ids changed (cublasLtMatmulAlgoConfigSetAttribute); run it only after "
        "LtMatmulPlan.check says it fits the problem.");
  py::class_<LtPlanPy>(m, "LtMatmulPlan",
                       "cuBLASLt matmul of one problem: D[m,n] = op(A) op(B), column-major (see gemm_desc.h).")
      .def(py::init<const py::dict&, int>(), py::arg("desc"), py::arg("device"))
      .def("heuristic", &LtPlanPy::heuristic, py::arg("top_k"), py::arg("workspace_limit"),
           "cublasLtMatmulAlgoGetHeuristic: up to top_k algorithms (dicts), best first; [] if none fits.")
      .def("check", &LtPlanPy::check, py::arg("raw"), "cublasLtMatmulAlgoCheck of an algorithm for this problem.")
      .def("set_algo", &LtPlanPy::set_algo, py::arg("raw"))
      .def("set_workspace", &LtPlanPy::set_workspace, py::arg("workspace"))
      .def("run", &LtPlanPy::run, py::arg("a"), py::arg("b"), py::arg("d"), "One cublasLtMatmul on the current stream.")
      .def_readonly("bytes_a", &LtPlanPy::need_a)
      .def_readonly("bytes_b", &LtPlanPy::need_b)
      .def_readonly("bytes_d", &LtPlanPy::need_d);
  py::class_<CublasPlanPy>(m, "CublasGemmPlan", "cublasGemmEx (or strided-batched) of one problem, CUBLAS_GEMM_DEFAULT.")
      .def(py::init<const py::dict&, int>(), py::arg("desc"), py::arg("device"))
      .def("set_workspace", &CublasPlanPy::set_workspace, py::arg("workspace"))
      .def("run", &CublasPlanPy::run, py::arg("a"), py::arg("b"), py::arg("d"), "One GEMM on the current stream.")
      .def_readonly("bytes_a", &CublasPlanPy::need_a)
      .def_readonly("bytes_b", &CublasPlanPy::need_b)
      .def_readonly("bytes_d", &CublasPlanPy::need_d);

  // peak
  m.def("peak_simt", &peak_simt, py::arg("op"), py::arg("chains"), py::arg("ctas"), py::arg("threads"), py::arg("iters"),
        py::arg("check"), py::arg("params"), py::arg("out"), py::arg("clocks") = py::none(),
        "SIMT peak loop (op: fp32, fp64, fp16x2, bf16x2, int32); clocks: int64 [ctas, 4] (clock64, globaltimer ns).");
  m.def("peak_simt_info", &peak_simt_info, py::arg("op"), py::arg("chains"), py::arg("threads"),
        "Registers, local bytes, binary arch, max CTAs/SM and steps per iteration of a SIMT peak kernel.");
  m.def("peak_mma", &peak_mma, py::arg("op"), py::arg("chains"), py::arg("ctas"), py::arg("warps"), py::arg("iters"),
        py::arg("check"), py::arg("frags"), py::arg("out"), py::arg("clocks") = py::none(),
        "mma.sync peak loop (op: f16.f32, f16.f16, bf16.f32, tf32.f32, s8.s32, e4m3.f32, e5m2.f32, f64.f64 (m8n8k4), "
        "f64.f64.k16 (m16n8k16, sm_90)).");
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
