"""Who this rank is (from torchrun's environment), the store every rank shares, the process group, and the
store-based barrier and gather that name the ranks that never arrived (a collective that times out only
says that it did). Times in seconds."""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass

from accelkern.errors import AccelkernError

POLL_S = 0.05   # store polling period: check() is silent, a timed-out wait() logs a warning per call


class MissingRanks(RuntimeError):
    """Ranks that did not reach a barrier (or post their results) within the timeout."""

    def __init__(self, missing: list[int], what: str, timeout_s: float):
        self.missing, self.what, self.timeout_s = list(missing), what, timeout_s
        names = ", ".join(str(r) for r in self.missing)
        super().__init__(f"rank(s) {names} did not reach '{what}' within {timeout_s:g} s (dead or hung)")


@dataclass(frozen=True)
class RankEnv:
    """This process's place in the fleet; node = torchrun's node rank (GROUP_RANK), 0 without
    torchrun."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    node: int = 0
    master_addr: str | None = None
    master_port: int | None = None
    agent_store: bool = False
    restart: int = 0
    host: str = ""

    @property
    def launched(self) -> bool:
        return self.master_addr is not None

    @classmethod
    def from_env(cls, env=None) -> RankEnv:
        env = os.environ if env is None else env
        host = socket.gethostname()
        if "RANK" not in env and "WORLD_SIZE" not in env:
            return cls(host=host)
        try:
            rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
            local = int(env.get("LOCAL_RANK", rank))
            return cls(rank=rank, world_size=world, local_rank=local,
                       local_world_size=int(env.get("LOCAL_WORLD_SIZE", world)),
                       node=int(env.get("GROUP_RANK", env.get("NODE_RANK", 0))),
                       master_addr=env["MASTER_ADDR"], master_port=int(env["MASTER_PORT"]),
                       agent_store=env.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true",
                       restart=int(env.get("TORCHELASTIC_RESTART_COUNT", 0)), host=host)
        except (KeyError, ValueError) as exc:
            raise AccelkernError(f"incomplete torch.distributed environment ({exc}): launch with torchrun "
                                 f"(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), or use --local G") from None


def _core_of(cpu: int) -> tuple:
    """(package, core) of a logical CPU from sysfs (SMT siblings share it); (cpu,) when sysfs does not say."""
    base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
    try:
        with open(f"{base}/physical_package_id") as f, open(f"{base}/core_id") as g:
            return int(f.read()), int(g.read())
    except (OSError, ValueError):
        return (cpu,)


def cpu_share(local_rank: int, local_world_size: int) -> list[list[int]] | None:
    """This rank's physical cores (each as its logical CPUs) when CPU ranks of one node run at once: the CPUs
    this process may use, grouped into cores (SMT siblings together) and dealt out in contiguous blocks, so no two
    ranks share a core and none measures another. None when there are fewer cores than ranks."""
    cores: dict = {}
    for c in sorted(os.sched_getaffinity(0)):
        cores.setdefault(_core_of(c), []).append(c)
    groups = list(cores.values())
    if len(groups) < local_world_size:
        return None
    per = len(groups) // local_world_size
    return groups[local_rank * per:(local_rank + 1) * per]


class FleetStore:
    """The key-value store every rank reaches (torchrun's agent store, or one hosted by rank 0)."""

    def __init__(self, store, env: RankEnv, timeout_s: float):
        self.store, self.env, self.timeout_s = store, env, timeout_s

    def _all_there(self, keys) -> bool:
        return self.store.check(keys)

    def _missing(self, prefix: str) -> list[int]:
        return [r for r in range(self.env.world_size) if not self.store.check([f"{prefix}/{r}"])]

    def barrier(self, name: str, timeout_s: float | None = None) -> None:
        """Every rank arrives, or MissingRanks names the ones that did not within the timeout."""
        self.post(f"barrier/{name}", b"1")
        self.wait_for(f"barrier/{name}", name, timeout_s)

    def wait_for(self, prefix: str, what: str, timeout_s: float | None = None,
                 ranks: list[int] | None = None) -> None:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        want = range(self.env.world_size) if ranks is None else ranks
        keys = [f"{prefix}/{r}" for r in want]
        deadline = time.monotonic() + timeout
        while not self._all_there(keys):
            if time.monotonic() > deadline:
                missing = [r for r in want if not self.store.check([f"{prefix}/{r}"])]
                raise MissingRanks(missing, what, timeout)
            time.sleep(POLL_S)

    def post(self, prefix: str, payload: bytes) -> None:
        self.store.set(f"{prefix}/{self.env.rank}", payload)

    def post_json(self, prefix: str, obj) -> None:
        self.post(prefix, json.dumps(obj, default=str).encode())

    def collect_json(self, prefix: str, what: str, timeout_s: float | None = None,
                     skip: tuple = ()) -> tuple[dict, list[int]]:
        """({rank: object}, missing ranks): waits up to the timeout for every rank not in `skip`."""
        want = [r for r in range(self.env.world_size) if r not in skip]
        try:
            self.wait_for(prefix, what, timeout_s, want)
            missing = list(skip)
        except MissingRanks as exc:
            missing = sorted(set(exc.missing) | set(skip))
        got = {}
        for r in range(self.env.world_size):
            if r not in missing:
                got[r] = json.loads(self.store.get(f"{prefix}/{r}").decode())
        return got, missing


def connect(env: RankEnv, backend: str, timeout_s: float, device=None) -> FleetStore:
    """Joins the store (torchrun's agent store when it offers one, else rank 0 hosts it) and the process
    group on it, with `timeout_s` on every collective."""
    from datetime import timedelta

    import torch.distributed as dist
    is_host = env.rank == 0 and not env.agent_store
    store = dist.TCPStore(env.master_addr, env.master_port, env.world_size, is_master=is_host,
                          timeout=timedelta(seconds=timeout_s), wait_for_workers=False)
    prefix = f"accelkern-fleet/{env.restart}"
    kwargs = {"device_id": device} if device is not None and device.type == "cuda" else {}
    dist.init_process_group(backend, store=dist.PrefixStore(prefix + "/pg", store), rank=env.rank,
                            world_size=env.world_size, timeout=timedelta(seconds=timeout_s), **kwargs)
    return FleetStore(dist.PrefixStore(prefix + "/fleet", store), env, timeout_s)
