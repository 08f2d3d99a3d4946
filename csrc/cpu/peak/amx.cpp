// AMX tile chains (Sapphire Rapids and later): tiles 0..A-1 accumulate, tile 6 holds A, tile 7 holds B
// (every tile 16 rows x 64 bytes).
// One update: tdpbf16ps = 16 x 16 fp32 outputs x 32 bf16 products x 2 = 16,384 FLOP;
//             tdpbssd  = 16 x 16 int32 outputs x 64 s8 products x 2 = 32,768 ops;
//             tdpfp16ps = 16,384 FLOP (AMX-FP16, Granite Rapids).
// Linux grants tile data only on request (arch_prctl), which PeakRun makes before the first run.
#include "common/platform.h"
#include "peak/chain_values.h"
#include "peak/peak.h"

#if AK_HAS_AMX
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_HAS_AMX
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

static TileConfig all_tiles_16x64() {
  TileConfig c;
  for (int t = 0; t < 8; ++t) {
    c.colsb[t] = 64;
    c.rows[t] = 16;
  }
  return c;
}

// Tile numbers are immediates: one branch per accumulator tile, resolved at compile time.
#define AK_TILES_DO(A, STMT) \
  do {                        \
    if constexpr (A > 0) STMT(0); \
    if constexpr (A > 1) STMT(1); \
    if constexpr (A > 2) STMT(2); \
    if constexpr (A > 3) STMT(3); \
    if constexpr (A > 4) STMT(4); \
    if constexpr (A > 5) STMT(5); \
  } while (0)

#define AK_AMX_CHAIN(NAME, TARGET, OP)                                              \
  template <int A, int U>                                                           \
  struct NAME {                                                                     \
    AK_TARGET(TARGET) static void run(uint64_t iters, void* io, const void* ops) {  \
      static_assert(A >= 1 && A <= 6, "tiles 6 and 7 hold the operands");          \
      char* p = static_cast<char*>(io);                                             \
      const char* o = static_cast<const char*>(ops);                                \
      const TileConfig cfg = all_tiles_16x64();                                     \
      _tile_loadconfig(&cfg);                                                       \
      _tile_loadd(6, o, 64);                                                        \
      _tile_loadd(7, o + 1024, 64);                                                 \
      AK_TILES_DO(A, LOAD_ACC);                                                     \
      for (uint64_t i = 0; i < iters; ++i) {                                        \
        _Pragma("GCC unroll 8") for (int u = 0; u < U; ++u) AK_TILES_DO(A, OP);     \
      }                                                                             \
      AK_TILES_DO(A, STORE_ACC);                                                    \
      _tile_release();                                                              \
    }                                                                               \
  };

#define LOAD_ACC(t) _tile_loadd(t, p + 1024 * t, 64)
#define STORE_ACC(t) _tile_stored(t, p + 1024 * t, 64)
#define DP_BF16(t) _tile_dpbf16ps(t, 6, 7)
#define DP_SSD(t) _tile_dpbssd(t, 6, 7)
AK_AMX_CHAIN(AmxBf16, "amx-tile,amx-bf16", DP_BF16)
AK_AMX_CHAIN(AmxInt8, "amx-tile,amx-int8", DP_SSD)
#if AK_HAS_AMX_FP16
#define DP_FP16(t) _tile_dpfp16ps(t, 6, 7)
AK_AMX_CHAIN(AmxFp16, "amx-tile,amx-fp16", DP_FP16)
#endif
#endif

// fp16 operands: A = 1.0, B = 2^-10 (a normal fp16); start of element i is (i mod 64) * 2^-10.
constexpr double kAmxFp16Unit = 1.0 / 1024;

static void fill_amx_fp16(void* acc, int a, void* ops) {
  float* f = static_cast<float*>(acc);
  for (int i = 0; i < 256 * a; ++i) f[i] = float((i % 64) * kAmxFp16Unit);
  auto* o = static_cast<uint16_t*>(ops);
  for (int i = 0; i < 512; ++i) {
    o[i] = 0x3C00;        // 1.0
    o[512 + i] = 0x1400;  // 2^-10
  }
}

void add_amx_kernels(std::vector<PeakKernel>& out) {
  PeakKernel b;
  b.name = "bf16_amx_bf16";
  b.dtype = "bf16";
  b.path = "amx_bf16";
  b.instruction = "tdpbf16ps";
  b.isa = "AMX-BF16";
  b.features = "amx-tile,amx-bf16";
  b.ops_per_update = 16384;
  b.acc_bytes = 1024;
  b.operand_bytes = 2048;
  b.value_type = "f32";
  b.check = "add";
  b.step = 32 * kAddUnit;
  b.step_part = kAddUnit;
  b.needs_amx = true;
  b.init = [](void* acc, int a, void* ops) { fill_bf16_dot(acc, 256 * a, ops, 512); };
  PeakKernel i = b;
  i.name = "int8_amx_int8";
  i.dtype = "int8";
  i.path = "amx_int8";
  i.instruction = "tdpbssd";
  i.isa = "AMX-INT8";
  i.features = "amx-tile,amx-int8";
  i.ops_per_update = 32768;
  i.value_type = "i32";
  i.check = "wrap32";
  i.step = 64.0 * kInt8A * kInt8B;
  i.step_part = 0;
  i.init = [](void* acc, int a, void* ops) { fill_int8(acc, 256 * a, ops, 1024); };
  PeakKernel h = b;
  h.name = "fp16_amx_fp16";
  h.dtype = "fp16";
  h.path = "amx_fp16";
  h.instruction = "tdpfp16ps";
  h.isa = "AMX-FP16";
  h.features = "amx-tile,amx-fp16";
  h.step = 32 * kAmxFp16Unit;
  h.step_part = kAmxFp16Unit;
  h.init = fill_amx_fp16;
#if AK_HAS_AMX
  add_variants<AmxBf16, 2, 1, 2, 4, 6>(b);
  add_variants<AmxInt8, 2, 1, 2, 4, 6>(i);
#else
  b.built = i.built = false;
  b.why_not_built = i.why_not_built = AK_X86 ? "the compiler lacks AMX intrinsics (GCC 11+ or clang 12+ needed)"
                                             : "x86-64 kernel; this build is for another machine";
#endif
#if AK_HAS_AMX_FP16
  add_variants<AmxFp16, 2, 1, 2, 4, 6>(h);
#else
  h.built = false;
  h.why_not_built = AK_X86 ? "the compiler lacks AMX-FP16 intrinsics (GCC 13+ or clang 16+ needed)"
                           : "x86-64 kernel; this build is for another machine";
#endif
  out.push_back(b);
  out.push_back(i);
  out.push_back(h);
}

}  // namespace accelkern_cpu
