"""Decoding processes for `classify --workers N`: a small pool of our own, not multiprocessing's.

Why not ProcessPoolExecutor: its workers re-import the caller's `__main__` (a library user's unguarded
script runs again in every worker), one killed worker breaks the whole pool (`BrokenProcessPool`, every
pending chunk lost), and Ctrl-C or SIGTERM can leave workers behind. Here each worker is a fresh
`python -c` that imports only the image pipeline (numpy and Pillow), talks over one socket pair, ignores
SIGINT (the parent decides), and dies with its parent (Linux `PR_SET_PDEATHSIG`; elsewhere it exits when
the socket closes). A worker that dies mid-chunk costs that chunk (its files get an error row each) and
is replaced; the run goes on. The pool lives as long as its owner (a Classifier) and is reused.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from multiprocessing.connection import Connection

import numpy as np

from ._chunk import Classify
from ._read import Segment
from ._sequence import Lines
from .errors import UsageError

JOBS = {task.job: task.prepare for task in (Classify(), Segment(), Lines(0.0))}  # every engine task's decoding
_WORKER_CODE = "import sys; from mnist_onnx._workers import _serve; _serve(int(sys.argv[1]))"


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _serve(fd: int) -> None:
    """Worker main loop: receive (job, items, PreprocessConfig), send the job's result (`JOBS`: a task's
    `prepare`, by the task's `job` name)."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent stops us
    conn = Connection(fd)
    while True:
        try:
            kind, items, config = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(JOBS[kind](items, config))


class _Worker:
    def __init__(self) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER_CODE, str(child.fileno())],
                                     pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, env=env)
        child.close()
        self.conn = Connection(parent.detach())

    def run(self, job: tuple) -> tuple:
        self.conn.send(job)
        return self.conn.recv()

    def stop(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def death(self) -> str:
        try:
            code = self.proc.wait(timeout=2)  # the socket closes a moment before the process is reaped
        except subprocess.TimeoutExpired:
            return "lost contact"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"


class DecoderPool:
    """N decoding processes fed from one queue; `submit` returns a Future of the job's result."""

    def __init__(self, workers: int) -> None:
        self.size = workers
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list[_Worker | None] = [None] * workers
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [threading.Thread(target=self._feed, args=(i,), name=f"mnist-onnx-decoder-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, items: list, config, job: str = "decode") -> Future:
        """Decode and preprocess *items* with *config* (a PreprocessConfig) in one of the processes: for
        classify (`decode`) or read (`plan`)."""
        if self._closed:
            raise UsageError("the decoder pool is closed (the Classifier was closed)")
        done: Future = Future()
        self._jobs.put((done, (job, items, config)))
        return done

    def _feed(self, slot: int) -> None:
        while (job := self._jobs.get()) is not None:
            done, args = job
            if not done.set_running_or_notify_cancel():
                continue
            worker = None
            try:
                with self._lock:
                    if self._closed:
                        raise UsageError("the decoder pool is closed (the Classifier was closed)")
                    worker = self._workers[slot] = self._workers[slot] or _Worker()
                done.set_result(worker.run(args))
            except (EOFError, OSError) as e:  # the worker died mid-chunk: these files fail, the run goes on
                reason = worker.death() if worker else type(e).__name__
                if worker is not None:
                    worker.stop()
                self._workers[slot] = None
                done.set_result(_failed(args[0], args[1], f"decoding worker died ({reason}); "
                                        + ("not read" if args[0] in ("plan", "lines") else "not classified")))
            except BaseException as e:  # noqa: BLE001 -- handed to the waiting caller
                done.set_exception(e)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop every worker now (pending chunks are dropped); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)
        with self._lock:
            for i, w in enumerate(self._workers):
                if w is not None:
                    w.stop()
                    self._workers[i] = None
        for t in self._threads:
            t.join(timeout=5)

def _failed(job: str, items: list, problem: str):
    """What a job returns when every one of its items failed with *problem*."""
    if job == "plan":
        return [problem] * len(items)
    return np.zeros((0, 28, 28), np.float32), [], [problem] * len(items)
