"""The per-rank state file (DIR/fleet.rank<R>.state.json): pid, host, phase. Rewritten atomically at every
phase, so a launcher that sees a rank die can say which one, and where it was."""
from __future__ import annotations

import json
import os
import time

# how a rank's run ended; a file still 'running' after the launcher exited belongs to a rank that died
RUNNING, DONE, FAILED, LOST_PEERS, STOPPED = "running", "done", "failed", "lost-peers", "stopped"


def state_path(directory: str, rank: int) -> str:
    return os.path.join(directory, f"fleet.rank{rank}.state.json")


def rows_path(directory: str, rank: int) -> str:
    return os.path.join(directory, f"fleet.rank{rank}.jsonl")


class RankState:
    def __init__(self, directory: str | None, rank: int, host: str, node: int, local_rank: int):
        self.path = state_path(directory, rank) if directory else None
        self.info = {"rank": rank, "host": host, "node": node, "local_rank": local_rank, "pid": os.getpid()}
        self.state, self.phase = RUNNING, "start"

    def set(self, phase: str | None = None, state: str | None = None, message: str | None = None):
        self.phase = phase or self.phase
        self.state = state or self.state
        if not self.path:
            return
        rec = {**self.info, "state": self.state, "phase": self.phase, "message": message, "time": time.time()}
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.replace(tmp, self.path)


def read_states(directory: str) -> dict[int, dict]:
    """{rank: state record} of every state file in the directory."""
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.startswith("fleet.rank") and name.endswith(".state.json"):
            try:
                with open(os.path.join(directory, name)) as f:
                    rec = json.load(f)
                out[int(rec["rank"])] = rec
            except (OSError, ValueError, KeyError):
                continue
    return out
