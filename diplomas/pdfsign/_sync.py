"""Run pyHanko's synchronous entry points from anywhere, event loop or not.

pyHanko's `sign_pdf` and `validate_pdf_signature` call `asyncio.run`, which refuses to
start inside a running event loop (an `async def` web handler, say). There the call is
handed to a helper thread and waited for; elsewhere it runs in the caller's thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _helper_threads() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pdfsign")
        return _executor


def outside_event_loop(function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """`function(*args, **kwargs)`, moved to a helper thread if this thread runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args, **kwargs)
    return _helper_threads().submit(function, *args, **kwargs).result()
