#include "blas/lt_algos.h"
#include "blas/lt_enum_tables.h"
#include "common/check.h"

namespace accelkern {

namespace {

// Each attribute has one storage size; asking with another size fails, so each read names its type.
template <typename T>
int64_t config_attr(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attr) {
  T v{};
  size_t written = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&algo, attr, &v, sizeof(v), &written) != CUBLAS_STATUS_SUCCESS)
    return -1;
  return static_cast<int64_t>(v);
}

template <typename T>
void set_config_attr(cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attr, int64_t v) {
  if (v < 0) return;
  const T t = static_cast<T>(v);
  AK_CUBLAS_CHECK(cublasLtMatmulAlgoConfigSetAttribute(&algo, attr, &t, sizeof(t)));
}

}  // namespace

LtAlgoRaw set_algo_config(const LtAlgoRaw& raw, const LtAlgoConfig& c) {
  cublasLtMatmulAlgo_t algo = from_raw(raw);
  set_config_attr<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_TILE_ID, c.tile_id);
  set_config_attr<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, c.stages_id);
  set_config_attr<int32_t>(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, c.splitk);
  set_config_attr<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, c.reduction);
  set_config_attr<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, c.swizzle);
  set_config_attr<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, c.custom_option);
  set_config_attr<uint16_t>(algo, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID, c.inner_shape_id);
  set_config_attr<uint16_t>(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, c.cluster_id);
  return to_raw(algo);
}

LtAlgoConfig read_algo_config(const LtAlgoRaw& raw) {
  const cublasLtMatmulAlgo_t algo = from_raw(raw);
  LtAlgoConfig c;
  c.algo_id = config_attr<int32_t>(algo, CUBLASLT_ALGO_CONFIG_ID);
  c.tile_id = config_attr<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_TILE_ID);
  c.stages_id = config_attr<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID);
  c.splitk = config_attr<int32_t>(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM);
  c.reduction = config_attr<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME);
  c.swizzle = config_attr<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING);
  c.custom_option = config_attr<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION);
  c.inner_shape_id = config_attr<uint16_t>(algo, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID);
  c.cluster_id = config_attr<uint16_t>(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID);
  uint64_t flags = 0;
  size_t written = 0;
  if (cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_NUMERICAL_IMPL_FLAGS, &flags, sizeof(flags),
                                        &written) == CUBLAS_STATUS_SUCCESS)
    c.impl_flags = static_cast<int64_t>(flags & 0x7fffffffffffffffull);
  return c;
}

std::vector<LtEnumRow> lt_tile_table() {
  std::vector<LtEnumRow> out;
  for (const auto& e : kLtTiles) out.push_back({e.id, e.rows, e.cols, 0});
  return out;
}

std::vector<LtEnumRow> lt_stages_table() {
  std::vector<LtEnumRow> out;
  for (const auto& e : kLtStages) out.push_back({e.id, e.k, e.count, 0});
  return out;
}

std::vector<LtEnumRow> lt_cluster_table() {
  std::vector<LtEnumRow> out;
  for (const auto& e : kLtClusters) out.push_back({e.id, e.x, e.y, e.z});
  return out;
}

int lt_enum_header_version() { return kLtEnumHeaderVersion; }

// A few ids from every cuBLAS 12/13 header, checked whatever header this compiles against.
static_assert(CUBLASLT_MATMUL_TILE_128x256 == 23, "cublasLtMatmulTile_t changed");
static_assert(CUBLASLT_MATMUL_STAGES_64x3 == 15, "cublasLtMatmulStages_t changed");
static_assert(CUBLASLT_CLUSTER_SHAPE_2x1x1 == 3, "cublasLtClusterShape_t changed");

}  // namespace accelkern
