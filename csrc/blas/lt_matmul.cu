#include "blas/lt_matmul.h"
#include "common/check.h"

namespace accelkern {

namespace {

template <typename T>
void set_op(cublasLtMatmulDesc_t op, cublasLtMatmulDescAttributes_t attr, const T& v) {
  AK_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, attr, &v, sizeof(v)));
}

template <typename T>
void set_layout(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t attr, const T& v) {
  AK_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, attr, &v, sizeof(v)));
}

cublasLtMatrixLayout_t make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                                   int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  AK_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, uint64_t(rows), uint64_t(cols), ld));
  if (batch > 1) {
    set_layout(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, int32_t(batch));
    set_layout(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, int64_t(stride));
  }
  return l;
}

std::string status_name(cublasStatus_t st) { return cublasLtGetStatusName(st); }

}  // namespace

LtMatmulPlan::LtMatmulPlan(const BlasGemmDesc& desc) : desc_(desc), types_(blas_types(desc.dtype, desc.out)) {
  validate_desc(desc_);
  AK_REQUIRE(desc_.m < (int64_t(1) << 31) && desc_.n < (int64_t(1) << 31) && desc_.k < (int64_t(1) << 31) &&
                 desc_.batch < (int64_t(1) << 31),
             "cuBLASLt sizes must fit in int32");
  scalars_ = blas_scalars(types_.scale);
  try {
    AK_CUBLAS_CHECK(cublasLtCreate(&handle_));
    AK_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op_, types_.compute, types_.scale));
    set_op(op_, CUBLASLT_MATMUL_DESC_TRANSA, int32_t(desc_.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N));
    set_op(op_, CUBLASLT_MATMUL_DESC_TRANSB, int32_t(desc_.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N));
    if (types_.fp8) {
      set_op(op_, CUBLASLT_MATMUL_DESC_FAST_ACCUM, int8_t(desc_.fast_accum ? 1 : 0));
      // per-tensor scales (device floats); a D scale applies to fp8 outputs only, which are not offered
      if (desc_.a_scale) set_op(op_, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, desc_.a_scale);
      if (desc_.b_scale) set_op(op_, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, desc_.b_scale);
    }
    a_ = make_layout(types_.a, rows_a(desc_), cols_a(desc_), desc_.lda, desc_.batch, desc_.stride_a);
    b_ = make_layout(types_.b, rows_b(desc_), cols_b(desc_), desc_.ldb, desc_.batch, desc_.stride_b);
    d_ = make_layout(types_.d, desc_.m, desc_.n, desc_.ldd, desc_.batch, desc_.stride_d);
  } catch (...) {
    destroy();
    throw;
  }
}

LtMatmulPlan::~LtMatmulPlan() { destroy(); }

void LtMatmulPlan::destroy() {
  // destructors must not throw: statuses ignored
  if (d_) cublasLtMatrixLayoutDestroy(d_), d_ = nullptr;
  if (b_) cublasLtMatrixLayoutDestroy(b_), b_ = nullptr;
  if (a_) cublasLtMatrixLayoutDestroy(a_), a_ = nullptr;
  if (op_) cublasLtMatmulDescDestroy(op_), op_ = nullptr;
  if (handle_) cublasLtDestroy(handle_), handle_ = nullptr;
}

std::vector<LtAlgoResult> LtMatmulPlan::heuristic(int top_k, size_t workspace_limit) const {
  AK_REQUIRE(top_k >= 1 && top_k <= 1024, "top_k must be in 1..1024");
  cublasLtMatmulPreference_t pref = nullptr;
  AK_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  std::vector<cublasLtMatmulHeuristicResult_t> res(top_k);
  int found = 0;
  cublasStatus_t st;
  try {
    const uint64_t ws = workspace_limit;
    AK_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                         sizeof(ws)));
    // the real alignments of our pointers and leading dimensions: kernels needing more are left out
    const uint32_t al[4] = {desc_.align_a, desc_.align_b, desc_.align_d, desc_.align_d};
    const cublasLtMatmulPreferenceAttributes_t which[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; ++i)
      AK_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, which[i], &al[i], sizeof(al[i])));
    st = cublasLtMatmulAlgoGetHeuristic(handle_, op_, a_, b_, d_, d_, pref, top_k, res.data(), &found);
  } catch (...) {
    cublasLtMatmulPreferenceDestroy(pref);
    throw;
  }
  cublasLtMatmulPreferenceDestroy(pref);
  std::vector<LtAlgoResult> out;
  if (st == CUBLAS_STATUS_NOT_SUPPORTED) return out;  // no kernel for this problem on this GPU
  AK_CUBLAS_CHECK(st);
  for (int i = 0; i < found; ++i) {
    if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
    LtAlgoResult r;
    r.raw = to_raw(res[i].algo);
    r.workspace_bytes = res[i].workspaceSize;
    r.waves_count = res[i].wavesCount;
    r.status = int(res[i].state);
    r.status_name = status_name(res[i].state);
    out.push_back(r);
  }
  return out;
}

LtAlgoResult LtMatmulPlan::check(const LtAlgoRaw& raw) const {
  const cublasLtMatmulAlgo_t algo = from_raw(raw);
  cublasLtMatmulHeuristicResult_t res{};
  const cublasStatus_t st = cublasLtMatmulAlgoCheck(handle_, op_, a_, b_, d_, d_, &algo, &res);
  LtAlgoResult r;
  r.raw = raw;
  r.status = int(st);
  r.status_name = status_name(st);
  if (st == CUBLAS_STATUS_SUCCESS) {
    r.workspace_bytes = res.workspaceSize;
    r.waves_count = res.wavesCount;
  }
  return r;
}

void LtMatmulPlan::run(const void* a, const void* b, void* d, cudaStream_t stream) const {
  AK_REQUIRE(has_algo_, "no algorithm chosen (set_algo) before run");
  AK_CUBLAS_CHECK(cublasLtMatmul(handle_, op_, scalars_.one, a, a_, b, b_, scalars_.zero, d, d_, d, d_, &algo_,
                                 workspace_, workspace_bytes_, stream));
}

}  // namespace accelkern
