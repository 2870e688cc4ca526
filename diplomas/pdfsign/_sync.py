"""Run pyHanko from synchronous code, whether or not the calling thread runs an event loop.

pyHanko's synchronous entry points (`sign_pdf`, `validate_pdf_signature`) call
`asyncio.run`, which refuses to start inside a running event loop (an `async def` web
handler, say), and which creates and tears down a loop for every call: ~0.3 ms, an
eighth of a whole signature. So:

`run_coroutine(make)` runs the coroutine `make()` (pyHanko's async entry point) to
completion on a loop kept for the life of the thread (a helper thread's, if this thread
runs a loop of its own). The loop is never shared between threads, nor inherited across
`fork`: a forked child makes its own.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

_T = TypeVar("_T")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_local = threading.local()


def _helper_threads() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pdfsign")
        return _executor


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's own event loop, made on first use (and again after a fork)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed() or getattr(_local, "pid", None) != os.getpid():
        loop = asyncio.new_event_loop()
        _local.loop, _local.pid = loop, os.getpid()
    return loop


def _run_here(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    return _thread_loop().run_until_complete(make())


def run_coroutine(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """The result of the coroutine `make()`, run on this thread's persistent loop, or on a
    helper thread's if this thread runs a loop. `make` is called in the thread that runs
    the coroutine, so a coroutine is never created without being awaited."""
    if not _in_event_loop():
        return _run_here(make)
    return _helper_threads().submit(_run_here, make).result()
