// One GEMM problem for the cuBLAS and cuBLASLt paths, in cuBLAS's column-major terms:
//   D[m x n] = op(A)[m x k] * op(B)[k x n], every matrix column-major with its leading dimension,
// optionally a strided batch. dtype names and their type/compute mapping live in gemm_desc.cu.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>

#include <cstdint>
#include <string>

namespace accelkern {

struct BlasGemmDesc {
  std::string dtype;         // fp32 tf32 fp16 fp16_acc16 bf16 fp8_e4m3 fp8_e4m3_e5m2 fp8_e5m2_e4m3 int8
  std::string out;           // fp8 only: bf16 | fp16 | fp32 ("" = the dtype's own output type)
  bool trans_a = true;       // op(A) = A^T: A stored k x m (each column of A^T is a K-run)
  bool trans_b = false;      // op(B) = B:   B stored k x n
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldd = 0;           // elements
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_d = 0;  // elements between batch entries
  uint32_t align_a = 256, align_b = 256, align_d = 256;  // bytes: pointer and leading-dimension alignment
  bool fast_accum = false;   // fp8: CUBLASLT_MATMUL_DESC_FAST_ACCUM
  const void* a_scale = nullptr;  // fp8: device float, per-tensor scale of A (cuBLASLt only)
  const void* b_scale = nullptr;
};

struct BlasTypes {
  cudaDataType_t a, b, d;      // C has D's type (beta = 0, C = D)
  cublasComputeType_t compute;
  cudaDataType_t scale;        // type of alpha and beta
  int a_bytes, b_bytes, d_bytes;
  bool fp8;
};

// Types for a dtype name; throws std::runtime_error naming the allowed names.
BlasTypes blas_types(const std::string& dtype, const std::string& out);

// Stored rows x cols of A, B and D; checks sizes and leading dimensions (throws on a bad desc).
void validate_desc(const BlasGemmDesc& d);
inline int64_t rows_a(const BlasGemmDesc& d) { return d.trans_a ? d.k : d.m; }
inline int64_t cols_a(const BlasGemmDesc& d) { return d.trans_a ? d.m : d.k; }
inline int64_t rows_b(const BlasGemmDesc& d) { return d.trans_b ? d.n : d.k; }
inline int64_t cols_b(const BlasGemmDesc& d) { return d.trans_b ? d.k : d.n; }

// Bytes the call touches from each base pointer (the whole batch).
int64_t bytes_a(const BlasGemmDesc& d);
int64_t bytes_b(const BlasGemmDesc& d);
int64_t bytes_d(const BlasGemmDesc& d);

// alpha = 1 and beta = 0 in the scale type (float, int32 or half bits), 8 bytes each.
struct BlasScalars { alignas(8) unsigned char one[8]; alignas(8) unsigned char zero[8]; };
BlasScalars blas_scalars(cudaDataType_t scale);

}  // namespace accelkern
