"""The per-rank state file (DIR/fleet.rank<R>.state.json): pid, host, phase. Rewritten atomically at every
phase, so a launcher that sees a rank die can say which one, and where it was."""
from __future__ import annotations

import json
import os
import sys
import time

from accelkern import safe_io

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
        self.unwritable = False

    def set(self, phase: str | None = None, state: str | None = None, message: str | None = None,
            signal: str | None = None):
        """Records the phase (and how the run ended); a write the file system refuses is said once and the rank
        goes on (its launcher then knows less about how it ended, nothing more)."""
        self.phase = phase or self.phase
        self.state = state or self.state
        if not self.path:
            return
        rec = {**self.info, "state": self.state, "phase": self.phase, "message": message, "signal": signal,
               "time": time.time()}
        try:
            safe_io.atomic_write(self.path, json.dumps(rec))
        except OSError as exc:
            if not self.unwritable:
                print(f"accelkern fleet: rank {self.info['rank']}: could not write {self.path}: {safe_io.why(exc)}",
                      file=sys.stderr, flush=True)
            self.unwritable = True


def read_states(directory: str) -> dict[int, dict]:
    """{rank: state record} of every state file in the directory."""
    out = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return out
    for name in names:
        if name.startswith("fleet.rank") and name.endswith(".state.json"):
            try:
                with open(os.path.join(directory, name)) as f:
                    rec = json.load(f)
                out[int(rec["rank"])] = rec
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return out
