// cuBLASLt matmul for one GEMM problem (gemm_desc.h): descriptors built once, the heuristic's top-K
// algorithms, a check of any algorithm against this problem, and the call itself.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "blas/gemm_desc.h"
#include "blas/lt_algos.h"

namespace accelkern {

struct LtAlgoResult {
  LtAlgoRaw raw{};
  size_t workspace_bytes = 0;
  float waves_count = 0.0f;
  int status = 0;               // cublasStatus_t of the heuristic entry or of cublasLtMatmulAlgoCheck
  std::string status_name;
};

class LtMatmulPlan {
 public:
  explicit LtMatmulPlan(const BlasGemmDesc& desc);
  ~LtMatmulPlan();
  LtMatmulPlan(const LtMatmulPlan&) = delete;
  LtMatmulPlan& operator=(const LtMatmulPlan&) = delete;

  // Up to top_k algorithms, best first, that need at most workspace_limit bytes (empty: none fits).
  std::vector<LtAlgoResult> heuristic(int top_k, size_t workspace_limit) const;
  // cublasLtMatmulAlgoCheck of any algorithm against this problem; status != 0 means it cannot run.
  LtAlgoResult check(const LtAlgoRaw& raw) const;
  void set_algo(const LtAlgoRaw& raw) { algo_ = from_raw(raw), has_algo_ = true; }
  void set_workspace(void* ptr, size_t bytes) { workspace_ = ptr, workspace_bytes_ = bytes; }
  // D = op(A) op(B) with the chosen algorithm on `stream`.
  void run(const void* a, const void* b, void* d, cudaStream_t stream) const;

  const BlasGemmDesc& desc() const { return desc_; }
  const BlasTypes& types() const { return types_; }

 private:
  BlasGemmDesc desc_;
  BlasTypes types_;
  BlasScalars scalars_;
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, d_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  bool has_algo_ = false;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  void destroy();
};

}  // namespace accelkern
