#include "blas/cublas_gemm.h"
#include "common/check.h"

namespace accelkern {

CublasGemmPlan::CublasGemmPlan(const BlasGemmDesc& desc) : desc_(desc), types_(blas_types(desc.dtype, desc.out)) {
  validate_desc(desc_);
  AK_REQUIRE(!types_.fp8, "cublasGemmEx has no fp8 inputs; fp8 GEMMs run through cuBLASLt");
  const int64_t lim = int64_t(1) << 31;
  AK_REQUIRE(desc_.m < lim && desc_.n < lim && desc_.k < lim && desc_.lda < lim && desc_.ldb < lim &&
                 desc_.ldd < lim && desc_.batch < lim,
             "cublasGemmEx sizes and leading dimensions must fit in int32");
  scalars_ = blas_scalars(types_.scale);
  AK_CUBLAS_CHECK(cublasCreate(&handle_));
  // alpha/beta from host memory; the compute type alone decides fp32 vs tf32 (no math-mode override)
  cublasStatus_t st = cublasSetPointerMode(handle_, CUBLAS_POINTER_MODE_HOST);
  if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH);
  if (st != CUBLAS_STATUS_SUCCESS) {
    cublasDestroy(handle_);
    handle_ = nullptr;
    AK_CUBLAS_CHECK(st);
  }
}

CublasGemmPlan::~CublasGemmPlan() {
  if (handle_) cublasDestroy(handle_);
}

void CublasGemmPlan::run(const void* a, const void* b, void* d, cudaStream_t stream) {
  if (!stream_set_ || stream != stream_) {
    AK_CUBLAS_CHECK(cublasSetStream(handle_, stream));
    if (workspace_) AK_CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_, workspace_bytes_));
    stream_ = stream, stream_set_ = true;
  }
  const cublasOperation_t ta = desc_.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = desc_.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = int(desc_.m), n = int(desc_.n), k = int(desc_.k);
  if (desc_.batch == 1) {
    AK_CUBLAS_CHECK(cublasGemmEx(handle_, ta, tb, m, n, k, scalars_.one, a, types_.a, int(desc_.lda), b, types_.b,
                                 int(desc_.ldb), scalars_.zero, d, types_.d, int(desc_.ldd), types_.compute,
                                 CUBLAS_GEMM_DEFAULT));
  } else {
    AK_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        handle_, ta, tb, m, n, k, scalars_.one, a, types_.a, int(desc_.lda), desc_.stride_a, b, types_.b,
        int(desc_.ldb), desc_.stride_b, scalars_.zero, d, types_.d, int(desc_.ldd), desc_.stride_d,
        int(desc_.batch), types_.compute, CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace accelkern
