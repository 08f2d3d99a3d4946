#include "blas/blas_info.h"
#include "common/check.h"

namespace accelkern {

size_t cublaslt_version() { return cublasLtGetVersion(); }

int cublas_version() {
  int major = 0, minor = 0, patch = 0;
  AK_CUBLAS_CHECK(cublasGetProperty(MAJOR_VERSION, &major));
  AK_CUBLAS_CHECK(cublasGetProperty(MINOR_VERSION, &minor));
  AK_CUBLAS_CHECK(cublasGetProperty(PATCH_LEVEL, &patch));
  return major * 10000 + minor * 100 + patch;
}

}  // namespace accelkern
