// Error checks for CUDA runtime and cuBLAS/cuBLASLt calls. A failed call becomes a
// std::runtime_error naming the call text, the status and file:line; pybind11 turns it into a
// Python RuntimeError. CUDA headers only: this file never sees torch.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <sstream>
#include <stdexcept>
#include <string>

namespace accelkern {

[[noreturn]] inline void throw_call_error(const char* call, const std::string& status, const char* file,
                                          int line) {
  std::ostringstream msg;
  msg << call << " failed: " << status << " at " << file << ":" << line;
  throw std::runtime_error(msg.str());
}

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear a sticky-free error so the next call starts clean
    throw_call_error(call, std::string(cudaGetErrorString(err)) + " (" + cudaGetErrorName(err) + ")", file,
                     line);
  }
}

inline void check_cublas(cublasStatus_t st, const char* call, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) {
    throw_call_error(call, std::string(cublasGetStatusString(st)) + " (status " + std::to_string(int(st)) + ")",
                     file, line);
  }
}

}  // namespace accelkern

#define AK_CUDA_CHECK(call) ::accelkern::check_cuda((call), #call, __FILE__, __LINE__)
#define AK_CUBLAS_CHECK(call) ::accelkern::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: a bad launch configuration shows up here, not at the next call.
#define AK_CHECK_LAUNCH() ::accelkern::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
// Argument checks in launchers, reported like the call checks.
#define AK_REQUIRE(cond, what)                                                   \
  do {                                                                           \
    if (!(cond)) ::accelkern::throw_call_error(#cond, (what), __FILE__, __LINE__); \
  } while (0)
