"""cuBLASLt algorithms as numbers: the tile / stages / cluster enum tables (generated from cublasLt.h into
accelkern._C) and AlgoInfo, one heuristic algorithm for one problem. A tile 'RxC' is R rows (M) by C
columns (N) of D per CTA.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from accelkern import _ext

REDUCTIONS = {0: "none", 1: "inplace", 2: "compute_type", 4: "output_type"}
MMA_KINDS = {0x1: "fma", 0x2: "hmma", 0x4: "imma", 0x8: "dmma"}


@dataclass
class AlgoInfo:
    """One cuBLASLt algorithm for one problem, its enums turned into numbers."""
    index: int               # rank in the heuristic list (0 = heuristic's first choice)
    algo_id: int
    tile: str | None         # '128x256': rows (M) x cols (N) of D per CTA; None if undefined
    tile_m: int | None
    tile_n: int | None
    stages: int | None       # pipeline stages (None: AUTO or undefined)
    cluster: str | None      # '2x1x1' CTAs per cluster (M x N x 1); None: AUTO / no clusters
    cluster_m: int | None
    cluster_n: int | None
    splitk: int              # 1 = none
    reduction: str           # 'none', 'inplace', 'compute_type', 'output_type'
    swizzle: int
    custom_option: int
    workspace_bytes: int
    waves_count: float       # cuBLASLt's wavesCount from the heuristic (or the algo check)
    raw: tuple               # the opaque cublasLtMatmulAlgo_t data (8 x uint64), reusable
    stages_k: int | None = None      # K depth of one stage
    stages_str: str | None = None    # '64x4', '128xAUTO'
    tile_id: int = 0
    stages_id: int = 0
    cluster_id: int = 0
    inner_shape_id: int = 0
    mma: str | None = None           # numerical implementation: hmma, imma, fma, ...

    @property
    def label(self) -> str:
        parts = [f"#{self.index} algo {self.algo_id}", self.tile or "tile ?"]
        if self.stages_str:
            parts.append(f"stages {self.stages_str}")
        if self.cluster:
            parts.append(f"cluster {self.cluster}")
        if self.splitk > 1:
            parts.append(f"splitK {self.splitk} ({self.reduction})")
        return ", ".join(parts)

    def config(self) -> dict:
        """Row.config fields (raw left out: it is only meaningful to the same cuBLASLt build)."""
        d = asdict(self)
        d.pop("raw")
        d["algo_index"] = d.pop("index")
        return d


_TABLES: dict | None = None


def enum_tables() -> dict:
    """cuBLASLt's tile / stages / cluster enum tables from accelkern._C (generated from cublasLt.h)."""
    global _TABLES
    if _TABLES is None:
        _TABLES = dict(_ext.require().lt_enum_tables())
    return _TABLES


def tile_dims(tile_id: int) -> tuple[int, int] | None:
    """CUBLASLT_MATMUL_TILE_<R>x<C> id -> (R, C); None for UNDEFINED or an id this build does not know."""
    v = enum_tables()["tile"].get(int(tile_id))
    return None if v is None else (int(v[0]), int(v[1]))


def stages_dims(stages_id: int) -> tuple[int, int | None] | None:
    """CUBLASLT_MATMUL_STAGES_<K>x<N> id -> (K per stage, N stages; None for AUTO)."""
    v = enum_tables()["stages"].get(int(stages_id))
    return None if v is None else (int(v[0]), int(v[1]) or None)


def cluster_dims(cluster_id: int) -> tuple[int, int, int] | None:
    """CUBLASLT_CLUSTER_SHAPE_<X>x<Y>x<Z> id -> (X, Y, Z); None for AUTO (0) or unknown."""
    v = enum_tables()["cluster"].get(int(cluster_id))
    return None if v is None else (int(v[0]), int(v[1]), int(v[2]))


def mma_kind(impl_flags: int) -> str | None:
    if impl_flags is None or impl_flags < 0:
        return None
    op = impl_flags & 0xFF
    return MMA_KINDS.get(op, f"0x{op:x}" if op else None)


def algo_info(index: int, d: dict) -> AlgoInfo:
    """AlgoInfo from accelkern._C's algorithm dict (ids, workspace, waves)."""
    tile = tile_dims(d["tile_id"]) if d["tile_id"] > 0 else None
    st = stages_dims(d["stages_id"]) if d["stages_id"] > 0 else None
    cl = cluster_dims(d["cluster_id"]) if d["cluster_id"] > 0 else None
    if st:
        stages_str = f"{st[0]}x{st[1] if st[1] else 'AUTO'}"
    elif d["stages_id"] > 0:
        stages_str = f"id {d['stages_id']}"
    else:
        stages_str = None
    return AlgoInfo(
        index=int(index), algo_id=int(d["algo_id"]),
        tile=f"{tile[0]}x{tile[1]}" if tile else (f"id {d['tile_id']}" if d["tile_id"] > 0 else None),
        tile_m=tile[0] if tile else None, tile_n=tile[1] if tile else None,
        stages=st[1] if st else None, cluster=f"{cl[0]}x{cl[1]}x{cl[2]}" if cl else None,
        cluster_m=cl[0] if cl else None, cluster_n=cl[1] if cl else None,
        splitk=max(1, int(d["splitk"])), reduction=REDUCTIONS.get(int(d["reduction_id"]), f"id {d['reduction_id']}"),
        swizzle=int(d["swizzle"]), custom_option=int(d["custom_option"]),
        workspace_bytes=int(d.get("workspace_bytes", 0)), waves_count=float(d.get("waves_count", 0.0)),
        raw=tuple(int(x) for x in d["raw"]), stages_k=st[0] if st else None, stages_str=stages_str,
        tile_id=int(d["tile_id"]), stages_id=int(d["stages_id"]), cluster_id=int(d["cluster_id"]),
        inner_shape_id=int(d["inner_shape_id"]), mma=mma_kind(d.get("impl_flags", -1)))
