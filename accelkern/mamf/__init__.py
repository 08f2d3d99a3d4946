"""Maximum Achievable Matmul FLOPS (MAMF): the best GEMM throughput this device sustains for a dtype,
found by a model-guided search over wave-aware candidates (or an exhaustive grid) and re-measured so the
headline is reproducible; and the same search replayed on recorded surfaces (mamf-finder logs, our JSONL).

  candidates  wave-aware shapes from the device's tiles, or the lattice of --m/--n/--k
  search      grid, and the guided search (model: the surface model; calibration: how far to trust it;
              stop: the chance left against the price of removing it)
  runner      one shape measured on the device (cold-cache as mamf-finder v2, sustained), device facts
  job         the whole run: warm-up, search, top re-measure, the other mode, the headline row (wall: how
              the run's --budget of wall time is shared)
  replay      a recording as the device (finder_log reads mamf-finder logs); compare: a log beside ours;
              simulate: synthetic surfaces to judge the search on
Times in seconds, throughput in TFLOPS (TOPS for int8), FLOPs = 2*M*N*K.
"""
from accelkern.errors import Unavailable
from accelkern.mamf.budget import Budget, Measured, VirtualClock
from accelkern.mamf.candidates import (DEFAULT_TILES, Candidates, SearchSpace, Shape, lattice_candidates,
                                       parse_tiles, wave_candidates, wave_mn, wave_stats)
from accelkern.mamf.job import (DEFAULT_BUDGET_S, SearchResult, headline, remeasure, run, summarize,
                                winner_row)
from accelkern.mamf.runner import BACKENDS, MAMF_DTYPES, MODES, ColdCache, Runner, default_backend, search_space
from accelkern.mamf.search import Search
from accelkern.results import Row

__all__ = ["run", "headline", "Row", "Unavailable", "MAMF_DTYPES", "MODES", "BACKENDS", "Budget", "Measured",
           "VirtualClock", "Shape", "SearchSpace", "Candidates", "Search", "SearchResult", "Runner", "ColdCache",
           "DEFAULT_TILES", "DEFAULT_BUDGET_S", "lattice_candidates", "wave_candidates", "wave_mn", "wave_stats",
           "parse_tiles", "remeasure", "summarize", "winner_row", "default_backend", "search_space"]


def _register():
    from accelkern.mamf.suite import register
    register()


_register()
