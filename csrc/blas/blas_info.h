#pragma once
#include <cstddef>

namespace accelkern {
size_t cublaslt_version();  // e.g. 130101 for 13.1.1
int cublas_version();       // MAJOR*10000 + MINOR*100 + PATCH
}  // namespace accelkern
