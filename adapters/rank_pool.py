"""A persistent pool of torch.distributed ranks (gloo on 127.0.0.1) that runs calls on every rank.

Why subprocesses and not ``torch.multiprocessing.spawn``: spawn re-imports the user's main
module in every child (a ``pytest`` or ``adamspec`` entry point, or a user's script), which can
start work there; ``python -m adamspec.adapters.rank_pool`` starts nothing but a rank. Each rank
connects back to the parent over a ``multiprocessing.connection`` socket (an authkey handed over
stdin), joins a gloo process group and builds its handler from ``module:factory``.

A call runs ``handler.<op>(*args)`` on every rank; afterwards every rank gathers every rank's
outcome (``all_gather_object``), so that one rank's exception reaches the parent as a
``RankError`` naming each rank that raised and never leaves the others waiting. A rank that dies
or misses the deadline ends the whole pool (``RankFailure``); the next call starts a fresh one.
A rank exits when its connection closes or its parent dies (a watchdog thread checks the parent's
pid), so a pool never outlives the process that started it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import traceback
import weakref
from multiprocessing.connection import Client, Connection, Listener, wait


class RankError(Exception):
    """One or more ranks raised during ``op``: ``errors`` maps rank → (kind, message, traceback)."""

    def __init__(self, op: str, errors: dict[int, tuple[str, str, str]]):
        self.op, self.errors = op, errors
        lines = "; ".join(f"rank {r}: {kind}: {msg}" for r, (kind, msg, _) in sorted(errors.items()))
        super().__init__(f"{op} raised on {len(errors)} rank(s): {lines}")

    @property
    def kinds(self) -> set[str]:
        return {kind for kind, _, _ in self.errors.values()}


class RankFailure(Exception):
    """A rank died or missed the deadline: the pool was ended, the next call starts a new one."""


_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _end_all():
    for pool in list(_LIVE):
        pool.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RankPool:
    """``world`` rank processes, each running the handler ``factory(rank, world)``.

    ``deadline`` bounds each call (seconds, from sending to the last reply); ``start_deadline``
    bounds start-up (process start, torch import, process group).
    """

    def __init__(self, world: int, factory: str, deadline: float = 20.0, start_deadline: float = 90.0):
        if not 1 <= world <= 8:
            raise ValueError(f"world size must be 1 … 8, got {world}")
        if factory.count(":") != 1:
            raise ValueError(f"factory must be 'module:attr', got {factory!r}")
        self.world, self.factory = world, factory
        self.deadline, self.start_deadline = deadline, start_deadline
        self.starts = 0  # how many times the pool was started (restarts after failures count)
        self._procs: list[subprocess.Popen] = []
        self._conns: list[Connection] = []
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return bool(self._procs) and all(p.poll() is None for p in self._procs)

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def start(self) -> None:
        """Start the ranks, if they are not running; idempotent."""
        with self._lock:
            if not self.alive:
                self._start()

    def _start(self) -> None:
        self._kill()
        authkey = secrets.token_bytes(32)
        listener = Listener(("127.0.0.1", 0), authkey=authkey)
        env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)))
        config = {"address": list(listener.address), "authkey": authkey.hex(), "world": self.world,
                  "init": f"tcp://127.0.0.1:{_free_port()}", "factory": self.factory, "parent": os.getpid()}
        self.starts += 1
        try:
            for rank in range(self.world):
                proc = subprocess.Popen([sys.executable, "-m", "adamspec.adapters.rank_pool"],
                                        stdin=subprocess.PIPE, env=env)
                proc.stdin.write(json.dumps({**config, "rank": rank}).encode() + b"\n")
                proc.stdin.close()
                self._procs.append(proc)
            conns: dict[int, Connection] = {}
            accepted = threading.Thread(target=self._accept, args=(listener, conns), daemon=True)
            accepted.start()
            end = time.monotonic() + self.start_deadline
            while accepted.is_alive() and time.monotonic() < end:
                self._raise_if_dead("start-up")
                accepted.join(0.05)
            if len(conns) < self.world:
                raise RankFailure(f"only {len(conns)} of {self.world} ranks connected within "
                                  f"{self.start_deadline:.0f} s")
            self._conns = [conns[r] for r in range(self.world)]
            ready = self._gather("start-up", end, self.start_deadline)  # "ok" once its handler is built
            if ready[0][0] == "error":
                raise RankError("start-up", ready[0][1])
        except BaseException:
            self._kill()
            raise
        finally:
            listener.close()
        _LIVE.add(self)

    def _accept(self, listener, conns):
        try:
            while len(conns) < self.world:
                conn = listener.accept()
                conns[conn.recv()] = conn
        except OSError:  # the listener was closed: start-up gave up
            pass

    def _raise_if_dead(self, what: str):
        dead = [(r, p.returncode) for r, p in enumerate(self._procs) if p.poll() is not None]
        if dead:
            codes = ", ".join(f"rank {r} exited with {code}" for r, code in dead)
            raise RankFailure(f"{what}: {codes}")

    def _gather(self, op: str, end: float, seconds: float) -> list:
        replies: dict[int, tuple] = {}
        pending = dict(enumerate(self._conns))
        while pending:
            left = end - time.monotonic()
            if left <= 0:
                raise RankFailure(f"{op}: rank(s) {sorted(pending)} missed the deadline of "
                                  f"{seconds:.0f} s")
            for conn in wait(list(pending.values()), timeout=min(left, 0.2)):
                rank = next(r for r, c in pending.items() if c is conn)
                try:
                    replies[rank] = conn.recv()
                except (EOFError, OSError):
                    self._procs[rank].wait(5)
                    raise RankFailure(f"{op}: rank {rank} died (exit code "
                                      f"{self._procs[rank].returncode})") from None
                del pending[rank]
            if pending:
                self._raise_if_dead(op)
        return [replies[r] for r in range(self.world)]

    def call(self, op: str, *args) -> list:
        """Run ``handler.op(*args)`` on every rank; return each rank's result, in rank order."""
        with self._lock:
            if not self.alive:
                self._start()
            try:
                for conn in self._conns:
                    conn.send((op, args))
                replies = self._gather(op, time.monotonic() + self.deadline, self.deadline)
            except (RankFailure, OSError) as exc:
                self._kill()
                if isinstance(exc, RankFailure):
                    raise
                raise RankFailure(f"{op}: a rank's connection broke: {exc}") from exc
            except BaseException:  # e.g. KeyboardInterrupt while ranks work: never leave them
                self._kill()
                raise
        if replies[0][0] == "error":  # every rank sends the same gathered errors
            raise RankError(op, replies[0][1])
        return [result for _, result in replies]

    def close(self) -> None:
        """End every rank: ask politely, then kill what is left."""
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.send(("__close__", ()))
            end = time.monotonic() + 5
            for p in self._procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(max(0.0, end - time.monotonic()))
            self._kill()

    def _kill(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                p.kill()
        for p in self._procs:
            p.wait()
        for c in self._conns:
            c.close()
        self._procs, self._conns = [], []
        _LIVE.discard(self)


# --- the rank side ----------------------------------------------------------------------------

def _watch_parent(parent: int) -> None:
    """Exit as soon as the parent is gone (reparented), whatever the rank is doing."""
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(3)


def _outcome(call, *args):
    try:
        return call(*args), None
    except Exception as exc:  # every rank reports, so that none waits on a failed one
        return None, (type(exc).__name__, str(exc), traceback.format_exc())


def _serve(config: dict) -> None:
    import importlib

    rank, world = config["rank"], config["world"]
    threading.Thread(target=_watch_parent, args=(config["parent"],), daemon=True).start()
    conn = Client(tuple(config["address"]), authkey=bytes.fromhex(config["authkey"]))
    conn.send(rank)
    import datetime

    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=config["init"], rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    module, _, attr = config["factory"].partition(":")
    handler, error = _outcome(lambda: getattr(importlib.import_module(module), attr)(rank, world))
    errors = [None] * world
    dist.all_gather_object(errors, error)
    conn.send(("error", {r: e for r, e in enumerate(errors) if e is not None}) if any(errors) else ("ok", None))
    if any(errors):
        return
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        if op == "__close__":
            close = getattr(handler, "close", None)
            if close is not None:
                _outcome(close)
            return
        fn = getattr(handler, op, None)
        result, error = _outcome(fn, *args) if fn is not None else (
            None, ("AttributeError", f"the handler has no operation {op!r}", ""))
        dist.all_gather_object(errors, error)
        if any(errors):
            conn.send(("error", {r: e for r, e in enumerate(errors) if e is not None}))
        else:
            conn.send(("ok", result))


if __name__ == "__main__":
    _cfg = json.loads(sys.stdin.readline())
    try:
        _serve(_cfg)
    finally:
        try:
            import torch.distributed as _dist

            if _dist.is_initialized():
                _dist.destroy_process_group()
        except Exception:
            pass
    os._exit(0)
