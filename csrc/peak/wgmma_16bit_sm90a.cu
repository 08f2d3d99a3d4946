// wgmma peak kernels for f16 and bf16 inputs (m64nNk16, f32 accumulate); sm_90a only.
#include "peak/wgmma_peak.cuh"

namespace accelkern {
namespace wgmma_detail {

WgmmaKernel pick_16bit(WgmmaOp op, int n, bool rs, int chains) {
  switch (op) {
    case WgmmaOp::kF16: return pick_config<WgF16>(n, rs, chains);
    case WgmmaOp::kBf16: return pick_config<WgBf16>(n, rs, chains);
    default: return nullptr;
  }
}

}  // namespace wgmma_detail
}  // namespace accelkern
