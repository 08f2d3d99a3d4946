// The plain cuBLAS path: cublasGemmEx / cublasGemmStridedBatchedEx for one GEMM problem
// (gemm_desc.h) with CUBLAS_GEMM_DEFAULT, i.e. cuBLAS's own choice of kernel.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "blas/gemm_desc.h"

namespace accelkern {

class CublasGemmPlan {
 public:
  explicit CublasGemmPlan(const BlasGemmDesc& desc);  // throws for dtypes cublasGemmEx lacks (fp8)
  ~CublasGemmPlan();
  CublasGemmPlan(const CublasGemmPlan&) = delete;
  CublasGemmPlan& operator=(const CublasGemmPlan&) = delete;

  // cuBLAS's workspace for the calls that follow (cublasSetStream resets it, so run() sets both).
  void set_workspace(void* ptr, size_t bytes) { workspace_ = ptr, workspace_bytes_ = bytes, stream_set_ = false; }
  void run(const void* a, const void* b, void* d, cudaStream_t stream);

  const BlasGemmDesc& desc() const { return desc_; }

 private:
  BlasGemmDesc desc_;
  BlasTypes types_;
  BlasScalars scalars_;
  cublasHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  cudaStream_t stream_ = nullptr;
  bool stream_set_ = false;
};

}  // namespace accelkern
