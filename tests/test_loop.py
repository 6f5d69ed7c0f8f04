"""The server event loop: busy polling after activity, and nothing when idle."""

from __future__ import annotations

import asyncio
import resource

import mlos.loop
from mlos.loop import BusyPoll, busy_poll_seconds, keep_polling, run


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _CountingBusyPoll(BusyPoll):
    __slots__ = ("ticks",)

    def __init__(self, loop: asyncio.AbstractEventLoop, window: float) -> None:
        super().__init__(loop, window)
        self.ticks = 0

    def _tick(self) -> None:
        self.ticks += 1
        super()._tick()


def test_the_loop_polls_without_sleeping_for_the_window_and_then_sleeps() -> None:
    async def main() -> tuple[int, bool, int, float]:
        busy = _CountingBusyPoll(asyncio.get_running_loop(), 0.02)
        busy.touch()
        busy.touch()  # a touch while spinning extends the window, it adds no second spinner
        await asyncio.sleep(0.06)  # without the window the loop would sleep in its poller
        ticks, running = busy.ticks, busy._running
        before = _cpu_seconds()
        await asyncio.sleep(0.2)
        return ticks, running, busy.ticks - ticks, _cpu_seconds() - before

    ticks, running, later_ticks, idle_cpu = run(main())
    assert ticks > 100  # the loop turned over and over during the 20 ms window
    assert not running and later_ticks == 0
    assert idle_cpu < 0.05  # asleep for 0.2 s: no polling once the window has passed


def test_keep_polling_is_a_no_op_without_a_window() -> None:
    async def main() -> bool:
        keep_polling()
        return mlos.loop._busy_poll is None

    assert run(main())


def test_run_installs_the_window_only_while_it_runs() -> None:
    async def main() -> float:
        keep_polling()
        assert mlos.loop._busy_poll is not None
        return mlos.loop._busy_poll.window

    assert run(main(), busy_poll=0.0005) == 0.0005
    assert mlos.loop._busy_poll is None


def test_busy_poll_windows_from_the_environment() -> None:
    assert busy_poll_seconds("500") == 0.0005
    assert busy_poll_seconds("0") == 0.0
    assert busy_poll_seconds("") == 0.0
    assert busy_poll_seconds("fast") == 0.0
    assert busy_poll_seconds("-5") == 0.0
    assert busy_poll_seconds(10**9) == 1.0
