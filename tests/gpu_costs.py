"""What every GPU test costs on one H100/H200, declared, in the order scripts/device_check.sh runs them: most
valuable first (a wrong answer before a missing feature, a whole family before a second case of it).

Key: a test function's name, or NAME[GLOB] for some of its parametrized cases (fnmatch on the case id); the
first key that matches a test decides its cost and its place. Value: (seconds per case, tier). Tier "core"
runs in the default profile's `tests` section, "extended" (the long grids' remaining cases) only in the
`tests_extended` section. Smoke membership is the `smoke` mark in the test files.

Seconds are read from each test's own bounds (a --budget, a max_time, sizes) plus about 0.1 s of set-up per
case; every device run writes the measured seconds beside them (the section's .testlog), so the table is
corrected from a GPU run, never guessed twice.
"""

# seconds for pytest itself in a section on the GPU machine: torch import (~2 s), collecting ~1050 tests
# (~2 s; 4 s on a loaded 2-core CPU machine), the CUDA context and cuBLAS handle (~1 s)
SECTION_OVERHEAD_S = 6.0
# the deadline sits this far inside the section's limit: pytest's exit, the JUnit XML, the summary
SECTION_EXIT_S = 4.0

CORE, EXTENDED = "core", "extended"

COSTS = {
    # ---- the smoke set (one of each family; its marks live in the test files) ----
    "test_device_attributes_match_torch": (0.2, CORE),
    "test_cuda_info_is_complete": (0.5, CORE),
    "test_l2_flush_writes_the_buffer": (0.2, CORE),
    "test_cuda_events_path_and_l2_flush_structure": (1.2, CORE),
    "test_cuda_gemm_correct[bf16]": (0.5, CORE),
    "test_gpu_smoke_one_gemm_per_dtype_family": (1.2, CORE),
    "test_gpu_smoke_torch_cross_check_runs_the_same_layout_and_accumulation": (1.6, CORE),
    "test_gpu_blas_correct[4096x4096x4096-bf16-cublaslt]": (0.6, CORE),
    "test_gpu_smoke_wgmma_bf16_check": (0.4, CORE),
    "test_gpu_smoke_mma_bf16_check": (0.3, CORE),
    "test_gpu_smoke_dmma_16x8x16_check": (0.3, CORE),
    "test_gpu_smoke_simt_fp32_check": (0.3, CORE),
    "test_gpu_smoke_timed_launch_is_checked": (1.0, CORE),
    "test_gpu_smoke_copy_and_read_bit_exact": (0.8, CORE),
    "test_gpu_transfers_bit_exact[ce]": (0.4, CORE),
    "test_gpu_smoke_staircase_point": (1.0, CORE),
    "test_gpu_short_guided_search_finds_a_checked_winner[cublaslt]": (6.0, CORE),
    "test_gpu_smoke_one_rank_fleet": (6.0, CORE),

    # ---- whole answers of every path (tests section) ----
    "test_gpu_blas_correct[4096x4096x4096-*]": (0.3, CORE),
    "test_gpu_blas_correct[127x129x1000-*]": (0.15, CORE),
    "test_gpu_a_wrong_element_in_the_middle_of_any_batch_entry_fails": (0.5, CORE),
    "test_gpu_timed_launch_checked": (0.4, CORE),
    "test_gpu_simt_check": (0.12, CORE),
    "test_gpu_mma_sync_check[4-*]": (0.15, CORE),
    "test_gpu_wgmma_check[sw128-SS-256-1-*]": (0.25, CORE),
    "test_gpu_kernels_correct_on_aligned_and_odd_sizes[stream-16-*]": (0.4, CORE),
    "test_gpu_int8_exact": (0.8, CORE),
    "test_gpu_fp8_exact_on_small_integers": (0.5, CORE),
    "test_gpu_every_layout_and_batch[bf16-*]": (0.6, CORE),
    "test_gpu_torch_backend_correct[*-bf16]": (0.3, CORE),
    "test_gpu_torch_backend_correct[*-fp8]": (0.3, CORE),
    "test_staircase_kernel_computes_exact_values": (0.6, CORE),
    "test_model_occupancy_matches_the_runtime": (0.1, CORE),
    "test_model_occupancy_matches_the_runtime_without_smem": (0.1, CORE),
    "test_gpu_transfers_bit_exact": (0.4, CORE),
    "test_gpu_kernels_do_not_spill": (0.5, CORE),
    "test_clock_probe_is_a_plausible_sm_clock": (0.2, CORE),
    "test_gpu_refusals": (0.3, CORE),
    "test_gpu_wgmma_refused_off_sm90": (0.1, CORE),
    "test_active_clusters_from_the_runtime": (0.2, CORE),
    "test_gpu_heuristic_algos_reused_by_raw_data": (0.8, CORE),
    "test_gpu_every_explored_algorithm_correct[bf16]": (1.5, CORE),

    # ---- structure of the timed paths (tests section) ----
    "test_back_to_back_gemm_reports_busy_fraction_and_criterion": (1.6, CORE),
    "test_graph_mode_rows_converge": (2.3, CORE),
    "test_power_is_attributed_to_the_timed_span": (1.0, CORE),
    "test_gpu_short_sweep_rows[bf16]": (3.5, CORE),
    "test_staircase_steps_fall_at_the_predicted_cta_counts": (4.0, EXTENDED),

    # ---- the rest of the grids and the long end-to-end runs (tests_extended section) ----
    "test_gpu_short_sweep_rows": (3.5, EXTENDED),
    "test_cuda_gemm_correct": (0.5, EXTENDED),
    "test_gpu_blas_correct": (0.15, EXTENDED),
    "test_gpu_mma_sync_check": (0.15, EXTENDED),
    "test_gpu_wgmma_check": (0.2, EXTENDED),
    "test_gpu_kernels_correct_on_aligned_and_odd_sizes": (0.4, EXTENDED),
    "test_gpu_every_layout_and_batch": (0.6, EXTENDED),
    "test_gpu_torch_backend_correct": (0.3, EXTENDED),
    "test_gpu_every_explored_algorithm_correct": (1.5, EXTENDED),
    "test_gpu_kernels_correct_for_other_launch_shapes_and_passes": (1.0, EXTENDED),
    "test_gpu_cli_explorer": (3.0, EXTENDED),
    "test_gpu_cli_rows": (7.0, EXTENDED),
    "test_gpu_cli_every_kernel_ok": (5.0, EXTENDED),
    "test_gpu_tune_tries_every_stage_and_picks_the_measured_maximum": (6.0, EXTENDED),
    "test_gpu_sweep_structure_around_the_l2": (4.0, EXTENDED),
    "test_sweep_with_cublaslt_records_the_algorithm": (1.5, EXTENDED),
    "test_gpu_short_guided_search_finds_a_checked_winner": (6.0, EXTENDED),
    "test_one_rank_fleet_on_the_gpu": (18.0, EXTENDED),
    "test_local_launcher_on_the_gpu": (12.0, EXTENDED),
}
