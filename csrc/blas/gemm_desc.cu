#include "blas/gemm_desc.h"
#include "common/check.h"

#include <cstring>

namespace accelkern {

BlasTypes blas_types(const std::string& dtype, const std::string& out) {
  auto fixed = [&](cudaDataType_t ab, cudaDataType_t d, cublasComputeType_t c, cudaDataType_t s, int ab_bytes,
                   int d_bytes) {
    AK_REQUIRE(out.empty() || out == "default", "an output dtype can be chosen for fp8 only (got out='" + out +
                                                    "' for " + dtype + ")");
    return BlasTypes{ab, ab, d, c, s, ab_bytes, ab_bytes, d_bytes, false};
  };
  if (dtype == "fp32") return fixed(CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUDA_R_32F, 4, 4);
  if (dtype == "tf32") return fixed(CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F, 4, 4);
  if (dtype == "fp16") return fixed(CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F, 2, 2);
  if (dtype == "fp16_acc16") return fixed(CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_16F, CUDA_R_16F, 2, 2);
  if (dtype == "bf16") return fixed(CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F, 2, 2);
  if (dtype == "int8") return fixed(CUDA_R_8I, CUDA_R_32I, CUBLAS_COMPUTE_32I, CUDA_R_32I, 1, 4);
  cudaDataType_t a, b;
  if (dtype == "fp8_e4m3") {
    a = CUDA_R_8F_E4M3, b = CUDA_R_8F_E4M3;
  } else if (dtype == "fp8_e4m3_e5m2") {
    a = CUDA_R_8F_E4M3, b = CUDA_R_8F_E5M2;
  } else if (dtype == "fp8_e5m2_e4m3") {
    a = CUDA_R_8F_E5M2, b = CUDA_R_8F_E4M3;
  } else {
    throw std::runtime_error("dtype '" + dtype + "' unknown; allowed: fp32 tf32 fp16 fp16_acc16 bf16 fp8_e4m3 "
                             "fp8_e4m3_e5m2 fp8_e5m2_e4m3 int8");
  }
  // fp8 (cuBLASLt): fp32 compute and scale; D (and C) bf16, fp16 or fp32
  if (out.empty() || out == "default" || out == "bf16")
    return BlasTypes{a, b, CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F, 1, 1, 2, true};
  if (out == "fp16") return BlasTypes{a, b, CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F, 1, 1, 2, true};
  if (out == "fp32") return BlasTypes{a, b, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUDA_R_32F, 1, 1, 4, true};
  throw std::runtime_error("fp8 output dtype '" + out + "' unknown; allowed: bf16 fp16 fp32");
}

void validate_desc(const BlasGemmDesc& d) {
  AK_REQUIRE(d.m > 0 && d.n > 0 && d.k > 0, "m, n and k must be positive");
  AK_REQUIRE(d.batch >= 1, "batch must be >= 1");
  AK_REQUIRE(d.lda >= rows_a(d) && d.ldb >= rows_b(d) && d.ldd >= d.m,
             "leading dimensions must be at least the stored rows (column-major)");
  if (d.batch > 1) {
    AK_REQUIRE(d.stride_a >= d.lda * cols_a(d) && d.stride_b >= d.ldb * cols_b(d) && d.stride_d >= d.ldd * d.n,
               "batch strides must not overlap the matrices");
  }
  for (uint32_t a : {d.align_a, d.align_b, d.align_d})
    AK_REQUIRE(a >= 1 && a <= 256 && (a & (a - 1)) == 0, "alignments must be powers of two in 1..256 bytes");
}

static int64_t span(int64_t ld, int64_t cols, int64_t rows, int64_t batch, int64_t stride) {
  return (batch - 1) * stride + (cols - 1) * ld + rows;  // elements from the first to past the last
}

int64_t bytes_a(const BlasGemmDesc& d) {
  return span(d.lda, cols_a(d), rows_a(d), d.batch, d.stride_a) * blas_types(d.dtype, d.out).a_bytes;
}
int64_t bytes_b(const BlasGemmDesc& d) {
  return span(d.ldb, cols_b(d), rows_b(d), d.batch, d.stride_b) * blas_types(d.dtype, d.out).b_bytes;
}
int64_t bytes_d(const BlasGemmDesc& d) {
  return span(d.ldd, d.n, d.m, d.batch, d.stride_d) * blas_types(d.dtype, d.out).d_bytes;
}

BlasScalars blas_scalars(cudaDataType_t scale) {
  BlasScalars s;
  std::memset(&s, 0, sizeof(s));
  if (scale == CUDA_R_32F) {
    const float one = 1.0f;
    std::memcpy(s.one, &one, sizeof(one));
  } else if (scale == CUDA_R_32I) {
    const int32_t one = 1;
    std::memcpy(s.one, &one, sizeof(one));
  } else if (scale == CUDA_R_16F) {
    const uint16_t one = 0x3C00;  // 1.0 in IEEE half
    std::memcpy(s.one, &one, sizeof(one));
  } else {
    throw std::runtime_error("unsupported scale type for alpha/beta");
  }
  return s;  // zero is all-zero bits in every type
}

}  // namespace accelkern
