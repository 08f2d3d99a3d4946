// wgmma peak kernels for 8-bit inputs (m64nNk32): e4m3 and e5m2 (f32 accumulate), s8 (s32); sm_90a only.
#include "peak/wgmma_peak.cuh"

namespace accelkern {
namespace wgmma_detail {

WgmmaKernel pick_8bit(WgmmaOp op, int n, bool rs, int chains) {
  switch (op) {
    case WgmmaOp::kE4m3: return pick_config<WgE4m3>(n, rs, chains);
    case WgmmaOp::kE5m2: return pick_config<WgE5m2>(n, rs, chains);
    case WgmmaOp::kS8: return pick_config<WgS8>(n, rs, chains);
    default: return nullptr;
  }
}

}  // namespace wgmma_detail
}  // namespace accelkern
