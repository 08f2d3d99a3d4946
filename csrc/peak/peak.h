// Compute-only ("speed of light") microkernels: register-resident loops of one instruction kind with
// independent accumulator chains and no memory traffic inside the loop. Launchers take raw device
// pointers and a stream; bindings.cpp validates tensors. All times/clocks come back through `clocks`:
// per CTA {clock64 start, clock64 end, %globaltimer start ns, %globaltimer end ns}.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace accelkern {

// SIMT: one PTX fma/mad per step.  fp32 fma.rn.f32 (FFMA), fp64 fma.rn.f64 (DFMA), fp16x2
// fma.rn.f16x2 (HFMA2), bf16x2 fma.rn.bf16x2 (HFMA2.BF16), int32 mad.lo.s32 (IMAD).
enum class SimtOp : int { kFp32 = 0, kFp64, kFp16x2, kBf16x2, kInt32, kCount };

// mma.sync (sm_80+; e4m3/e5m2 only in the sm_89+ binary, f64 m16n8k16 only in the sm_90+ one): A.B -> D
// shape and types per op. kF64F64 is m8n8k4 (DMMA.884), kF64F64K16 m16n8k16 (DMMA.16x8x16).
enum class MmaOp : int {
  kF16F32 = 0, kF16F16, kBf16F32, kTf32F32, kS8S32, kE4m3F32, kE5m2F32, kF64F64, kF64F64K16, kCount
};

// wgmma.mma_async (sm_90a only): m64nNk16 f16/bf16, m64nNk8 tf32, m64nNk32 e4m3/e5m2/s8.
enum class WgmmaOp : int { kF16 = 0, kBf16, kTf32, kE4m3, kE5m2, kS8, kCount };

// What the runtime knows about one kernel instantiation on the current device.
struct PeakKernelInfo {
  int regs = 0;             // registers per thread
  int local_bytes = 0;      // local memory per thread (spills or stack): must be 0
  int static_smem = 0;      // bytes
  int max_threads = 0;      // per block
  int binary_version = 0;   // arch of the binary the driver picked (80, 90, ...)
  int ptx_version = 0;
  int max_active_ctas = 0;  // per SM, for the given block size and dynamic shared memory
  int steps_per_iter = 0;   // instructions per chain per loop iteration
};

// Shared-memory operand layout of the wgmma kernels (bytes). Each operand is rows x 128 bytes of K
// (one K tile: 64 f16/bf16, 32 tf32 or 128 8-bit elements), consumed in 4 k-steps of 32 bytes.
struct WgmmaSmemLayout {
  uint32_t a_bytes = 0;     // A image size (64 rows); B follows at this offset (multiple of 1024)
  uint32_t b_bytes = 0;     // B image size (N rows)
  uint32_t a_lbo = 0, a_sbo = 0, b_lbo = 0, b_sbo = 0;  // descriptor leading/stride byte offsets
  uint32_t a_kstep = 0, b_kstep = 0;                    // start-address advance per k-step
  uint32_t swizzle = 0;     // descriptor code: 0 none, 1 128B, 2 64B, 3 32B
};

// ---- SIMT --------------------------------------------------------------------------------------
// params: per chain the initial value, then m, then c (each 1 word, 2 words for fp64).
// check != 0: out gets every chain of every thread (chain-minor, words); else one xor word per thread.
void launch_simt_peak(SimtOp op, int chains, int ctas, int threads, int iters, int check, const uint32_t* params,
                      uint32_t* out, long long* clocks, cudaStream_t stream);
PeakKernelInfo simt_peak_info(SimtOp op, int chains, int threads);
bool simt_chains_supported(int chains);

// ---- mma.sync ----------------------------------------------------------------------------------
// frags: per lane (32) the words of A, B0, B1, C (same for every warp). One loop iteration issues per
// chain steps_per_iter mma: alternately with B0 and B1.  check != 0: out gets every chain of every warp
// (per warp, per chain, per lane, C words); else one xor word per thread.
void launch_mma_peak(MmaOp op, int chains, int ctas, int warps, int iters, int check, const uint32_t* frags,
                     uint32_t* out, long long* clocks, cudaStream_t stream);
PeakKernelInfo mma_peak_info(MmaOp op, int chains, int warps);
bool mma_chains_supported(int chains);
// words per lane of A, B (each of B0 and B1) and C for an op
void mma_fragment_words(MmaOp op, int* a_words, int* b_words, int* c_words);

// ---- wgmma (defined in *_sm90a.cu; call only when ACCELKERN_HAS_SM90A) --------------------------
// image: A image then B image (layout.a_bytes + layout.b_bytes bytes), copied verbatim to shared memory.
// a_frags (RS only): per warpgroup thread (128) 16 words = A fragments of the 4 k-steps.
// c_frags: per warpgroup thread the N/2 accumulator words (initial C, same for every chain/warpgroup).
// One iteration issues, per chain, 4 wgmma (k-steps 0..3) then commits; check != 0: out gets every
// accumulator of every chain and warpgroup (per warpgroup, per chain, per thread, N/2 words).
void launch_wgmma_peak(WgmmaOp op, int n, bool a_in_regs, int chains, int ctas, int warpgroups, int iters,
                       int check, const uint8_t* image, const WgmmaSmemLayout& layout, const uint32_t* a_frags,
                       const uint32_t* c_frags, uint32_t* out, long long* clocks, cudaStream_t stream);
PeakKernelInfo wgmma_peak_info(WgmmaOp op, int n, bool a_in_regs, int chains, int warpgroups,
                               const WgmmaSmemLayout& layout);
bool wgmma_config_supported(int n, int chains);

}  // namespace accelkern
