// wgmma peak kernels for tf32 inputs (m64nNk8, f32 accumulate); sm_90a only.
#include "peak/wgmma_peak.cuh"

namespace accelkern {
namespace wgmma_detail {

WgmmaKernel pick_tf32(WgmmaOp op, int n, bool rs, int chains) {
  return op == WgmmaOp::kTf32 ? pick_config<WgTf32>(n, rs, chains) : nullptr;
}

}  // namespace wgmma_detail
}  // namespace accelkern
