"""GEMM through cuBLASLt, cuBLAS and torch for every dtype, and cuBLASLt's algorithm explorer.

Problem convention (cuBLAS's own, column-major): D[M x N] = op(A)[M x K] . op(B)[K x N] over a batch; the
default layout 'tn' stores both operands K-contiguous (torch's `A @ B.T`), and the torch cross-check is
timed in that same layout. FLOPs = 2*M*N*K per batch entry.

  dtypes     dtypes, options, shapes and the documented layout rules (int8: tn, M and K multiples of 4;
             fp8: tn below sm_100, M and K multiples of 16)
  algos      cuBLASLt's algorithm enums as numbers (AlgoInfo)
  workloads  the cuBLASLt / cuBLAS workloads (CublasLtGemm, CublasGemm, heuristic_algos) and their checks
  rows       requests -> rows (GemmRequest, gemm_rows, skipped/failed rows, CPU sizing)
  columns    the gemm table and its row order
  suite      the validate suite 'gemm'
"""
from accelkern.gemm.algos import (AlgoInfo, algo_info, cluster_dims, enum_tables, mma_kind, stages_dims,
                                  tile_dims)
from accelkern.gemm.columns import columns, order_rows, throttle_summary
from accelkern.gemm.dtypes import (ALIASES, BACKENDS, DEFAULT_LAYOUT, DTYPES, FP8_OUTPUTS, LAYOUTS, MAIN_DTYPES,
                                   MAX_DIM, BatchedShape, GemmDtype, _pow2_align, capability_missing,
                                   col_major_op, default_workspace_bytes, gemm_dtype, layout_rule_violation,
                                   parse_backends, parse_dtypes, parse_layout, parse_shapes, storage)
from accelkern.gemm.rows import (GemmRequest, check_requests, default_backends, default_square, failed_row,
                                 gemm_rows, measure_workload, skipped_row, torch_call_cap)
from accelkern.gemm.workloads import CublasGemm, CublasLtGemm, heuristic_algos
from accelkern.gemm import suite as _suite  # noqa: F401  (registers the validate suite)

__all__ = [
    "AlgoInfo", "algo_info", "cluster_dims", "enum_tables", "mma_kind", "stages_dims", "tile_dims", "columns",
    "order_rows", "throttle_summary", "ALIASES", "BACKENDS", "DEFAULT_LAYOUT", "DTYPES", "FP8_OUTPUTS", "LAYOUTS",
    "MAIN_DTYPES", "MAX_DIM", "BatchedShape", "GemmDtype", "capability_missing", "col_major_op",
    "default_workspace_bytes", "gemm_dtype", "layout_rule_violation", "parse_backends", "parse_dtypes",
    "parse_layout", "parse_shapes", "storage", "_pow2_align", "GemmRequest", "check_requests", "default_backends",
    "default_square", "failed_row", "gemm_rows", "measure_workload", "skipped_row", "torch_call_cap", "CublasGemm",
    "CublasLtGemm", "heuristic_algos",
]
