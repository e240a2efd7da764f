"""Parse untrusted files in a worker process with memory and time limits.

PDF, DOCX and HTML parsers are large C and Python libraries fed with files from anyone who can
upload: a crafted file could use all the memory or spin for hours. They run in one long-lived
worker process (started once, then reused) whose address space is capped; a file that takes
too long gets the worker killed and replaced. Either way the caller gets a :class:`LoadError`
for that file and the server, the chat and the rest of the batch go on.
"""

from __future__ import annotations

import multiprocessing
import resource
import threading
from pathlib import Path

from .errors import LoadError
from .loaders import Extracted

#: Address space of the worker: parsing one communiqué needs a small fraction of it.
WORKER_MEMORY_BYTES = 2 * 1024**3
#: Longest a single file may take to parse.
PARSE_SECONDS = 60
#: Formats parsed by third-party libraries, in the worker. Plain text and JSONL are parsed in
#: process by this project's own linear code.
SANDBOXED_SUFFIXES = (".pdf", ".docx", ".html", ".htm")

_pool = None
_pool_lock = threading.Lock()


def _limit_worker(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _parse(path: str) -> tuple[str, Extracted | str]:
    """In the worker: ``("ok", extracted)`` or ``("error", reason)`` (plain values cross the pipe
    safely, whatever exception a library raised)."""
    from .loaders import READERS

    try:
        return "ok", READERS[Path(path).suffix.lower()](Path(path))
    except LoadError as exc:
        return "error", exc.reason
    except MemoryError:
        return "error", f"needs more than {WORKER_MEMORY_BYTES // 2**30} GiB of memory to parse: refused"
    except Exception as exc:  # the library failed on this file; the worker is fine
        return "error", f"could not be parsed ({type(exc).__name__}: {exc})"


def _get_pool():
    global _pool
    if _pool is None:
        # forkserver: the worker does not inherit the caller's threads, models or open sockets.
        context = multiprocessing.get_context("forkserver")
        _pool = context.Pool(1, initializer=_limit_worker, initargs=(WORKER_MEMORY_BYTES,))
    return _pool


def _discard_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.terminate()
        _pool.join()
        _pool = None


def parse_isolated(path: Path, timeout: float = PARSE_SECONDS) -> Extracted:
    """``READERS[suffix](path)`` run in the worker; a :class:`LoadError` when it fails, runs out
    of memory or time (the worker is then replaced).

    Example:
        >>> parse_isolated(Path("communique.pdf")).text[:40]   # doctest: +SKIP
    """
    with _pool_lock:  # one file at a time through the one worker
        pool = _get_pool()
        pending = pool.apply_async(_parse, (str(path),))
        try:
            status, value = pending.get(timeout)
        except multiprocessing.TimeoutError:
            # Too slow, or the worker died (killed for memory): a new one serves the next file.
            _discard_pool()
            raise LoadError(str(path), f"took more than {timeout:.0f} s to parse, or its parser was killed: "
                                       "refused") from None
    if status == "error":
        raise LoadError(str(path), value)
    return value
