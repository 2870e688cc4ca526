"""The event loops pyHanko's coroutines run on: one per thread, kept, never shared."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from diplomas.pdfsign._sync import run_coroutine


async def _loop_and_thread() -> tuple[asyncio.AbstractEventLoop, int]:
    await asyncio.sleep(0)
    return asyncio.get_running_loop(), threading.get_ident()


def test_a_thread_keeps_its_loop_between_calls() -> None:
    first, thread = run_coroutine(_loop_and_thread)
    second, _ = run_coroutine(_loop_and_thread)
    assert first is second and thread == threading.get_ident()
    assert not first.is_running() and not first.is_closed()


def test_threads_do_not_share_a_loop() -> None:
    here, _ = run_coroutine(_loop_and_thread)
    there: list[asyncio.AbstractEventLoop] = []
    worker = threading.Thread(target=lambda: there.append(run_coroutine(_loop_and_thread)[0]))
    worker.start()
    worker.join()
    assert there and there[0] is not here


def test_inside_a_running_loop_the_coroutine_runs_on_a_helper_thread() -> None:
    async def handler() -> tuple[asyncio.AbstractEventLoop, int, asyncio.AbstractEventLoop]:
        loop, thread = run_coroutine(_loop_and_thread)
        return loop, thread, asyncio.get_running_loop()

    loop, thread, outer = asyncio.run(handler())
    assert loop is not outer and thread != threading.get_ident()


def test_errors_come_back_to_the_caller() -> None:
    async def fails() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        run_coroutine(fails)
    assert run_coroutine(_loop_and_thread)[1] == threading.get_ident()  # loop still usable


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")  # Python 3.12+: threads
def test_a_forked_child_makes_its_own_loop() -> None:
    parent_loop, _ = run_coroutine(_loop_and_thread)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            child_loop, _ = run_coroutine(_loop_and_thread)
            os._exit(0 if child_loop is not parent_loop else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
