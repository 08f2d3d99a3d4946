// cuBLASLt algorithm descriptors: their configuration read back as plain ids, and the enum tables
// that turn tile / stages / cluster-shape ids into numbers.
#pragma once

#include <cublasLt.h>

#include <array>
#include <cstdint>
#include <vector>

namespace accelkern {

using LtAlgoRaw = std::array<uint64_t, 8>;  // cublasLtMatmulAlgo_t::data, reusable with the same library

inline LtAlgoRaw to_raw(const cublasLtMatmulAlgo_t& a) {
  LtAlgoRaw r;
  for (int i = 0; i < 8; ++i) r[i] = a.data[i];
  return r;
}
inline cublasLtMatmulAlgo_t from_raw(const LtAlgoRaw& r) {
  cublasLtMatmulAlgo_t a;
  for (int i = 0; i < 8; ++i) a.data[i] = r[i];
  return a;
}

// Configuration of one algorithm; -1 where the library did not answer (an older cuBLASLt).
struct LtAlgoConfig {
  int64_t algo_id = -1;
  int64_t tile_id = -1;
  int64_t stages_id = -1;
  int64_t splitk = -1;
  int64_t reduction = -1;       // cublasLtReductionScheme_t
  int64_t swizzle = -1;
  int64_t custom_option = -1;
  int64_t inner_shape_id = -1;
  int64_t cluster_id = -1;
  int64_t impl_flags = -1;      // cublasLtNumericalImplFlags_t (capability), -1 if unknown
};

LtAlgoConfig read_algo_config(const LtAlgoRaw& raw);
// A copy of `raw` with the fields of `change` that are >= 0 set (algo_id and impl_flags are read-only),
// e.g. another tile or split-K for an algorithm the heuristic returned. Throws if the library refuses a
// value; whether the result can run a problem is for cublasLtMatmulAlgoCheck to say.
LtAlgoRaw set_algo_config(const LtAlgoRaw& raw, const LtAlgoConfig& change);

struct LtEnumRow { unsigned id; int v0, v1, v2; };
std::vector<LtEnumRow> lt_tile_table();     // id, rows, cols
std::vector<LtEnumRow> lt_stages_table();   // id, k per stage, stage count (0 = AUTO)
std::vector<LtEnumRow> lt_cluster_table();  // id, x, y, z
int lt_enum_header_version();               // CUBLAS_VERSION of the header the tables came from

}  // namespace accelkern
