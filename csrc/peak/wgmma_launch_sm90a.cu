// Launchers for the wgmma peak kernels (sm_90a only; bindings.cpp calls them under ACCELKERN_HAS_SM90A
// and only on a compute capability 9.0 device).
#include "peak/wgmma_peak.cuh"

namespace accelkern {

namespace {

wgmma_detail::WgmmaKernel pick(WgmmaOp op, int n, bool rs, int chains) {
  wgmma_detail::WgmmaKernel k = nullptr;
  switch (op) {
    case WgmmaOp::kF16: case WgmmaOp::kBf16: k = wgmma_detail::pick_16bit(op, n, rs, chains); break;
    case WgmmaOp::kTf32: k = wgmma_detail::pick_tf32(op, n, rs, chains); break;
    case WgmmaOp::kE4m3: case WgmmaOp::kE5m2: case WgmmaOp::kS8: k = wgmma_detail::pick_8bit(op, n, rs, chains); break;
    default: break;
  }
  AK_REQUIRE(k != nullptr, "wgmma peak: unknown op or (N, chains) not in {(64,2), (128,1), (128,2), (256,1)}");
  return k;
}

int dynamic_smem(const WgmmaSmemLayout& lay) {
  return static_cast<int>(lay.a_bytes + lay.b_bytes) + wgmma_detail::kSmemAlign;
}

void check_layout(const WgmmaSmemLayout& lay, int n) {
  AK_REQUIRE(lay.a_bytes == 64 * 128 && lay.b_bytes == uint32_t(n) * 128,
             "wgmma peak: the images must be 64 x 128 bytes (A) and N x 128 bytes (B)");
  AK_REQUIRE(lay.swizzle <= 3, "wgmma peak: swizzle code must be 0..3");
  AK_REQUIRE(lay.a_kstep % 16 == 0 && lay.b_kstep % 16 == 0 && lay.a_lbo % 16 == 0 && lay.a_sbo % 16 == 0 &&
                 lay.b_lbo % 16 == 0 && lay.b_sbo % 16 == 0,
             "wgmma peak: descriptor offsets and k-steps must be multiples of 16 bytes");
}

}  // namespace

bool wgmma_config_supported(int n, int chains) {
  return (n == 64 && chains == 2) || (n == 128 && (chains == 1 || chains == 2)) || (n == 256 && chains == 1);
}

void launch_wgmma_peak(WgmmaOp op, int n, bool a_in_regs, int chains, int ctas, int warpgroups, int iters,
                       int check, const uint8_t* image, const WgmmaSmemLayout& layout, const uint32_t* a_frags,
                       const uint32_t* c_frags, uint32_t* out, long long* clocks, cudaStream_t stream) {
  wgmma_detail::WgmmaKernel k = pick(op, n, a_in_regs, chains);
  check_layout(layout, n);
  AK_REQUIRE(ctas > 0 && warpgroups >= 1 && warpgroups <= wgmma_detail::kMaxWarpgroups,
             "wgmma peak: need ctas > 0 and 1..2 warpgroups per CTA");
  AK_REQUIRE(iters >= 0, "wgmma peak: iters must be >= 0");
  AK_REQUIRE(image != nullptr && c_frags != nullptr && out != nullptr && (!a_in_regs || a_frags != nullptr),
             "wgmma peak: image, c_frags, out (and a_frags for A in registers) must be device pointers");
  const int smem = dynamic_smem(layout);
  if (smem > 48 * 1024) {
    AK_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  }
  k<<<ctas, warpgroups * 128, smem, stream>>>(image, layout, a_frags, c_frags, iters, check, 0u, out, clocks);
  AK_CHECK_LAUNCH();
}

PeakKernelInfo wgmma_peak_info(WgmmaOp op, int n, bool a_in_regs, int chains, int warpgroups,
                               const WgmmaSmemLayout& layout) {
  check_layout(layout, n);
  return peak_detail::kernel_info(pick(op, n, a_in_regs, chains), warpgroups * 128, dynamic_smem(layout),
                                  wgmma_detail::kWgmmaKSteps);
}

}  // namespace accelkern
