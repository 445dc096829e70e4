"""Tests for finlab.budget: token buckets, AIMD on 429, threads and asyncio, endpoint keys.

Time is virtual: a `FakeClock` whose sleeps advance it, and for asyncio a `VirtualLoop` whose
selector jumps the clock to the next timer instead of waiting. Only the last test sleeps for real.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import math
import random
import re
import selectors
import statistics
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from finlab.budget import ID, Budget, BudgetStats, endpoint_of
from finlab.client import AsyncClient, RetryPolicy
from finlab.demo.limits import Limits
from finlab.errors import ConfigurationError
from finlab.rate_control import BURST_EARLY, HOLD_FOR, NEAR, NEAR_SHARE, UNTRIED_START, Controller, Curve

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]

ORDERS = "/v1/climate/orders"
PRODUCTS = "/v1/climate/products"


class FakeClock:
    """Monotonic seconds that move only when someone sleeps."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class VirtualSelector(selectors.DefaultSelector):
    """Instead of blocking for ``timeout`` seconds, move the fake clock on by ``timeout``."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> Any:
        if timeout is not None and timeout > 0:
            self.clock.now += timeout
            timeout = 0
        return super().select(timeout)


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop on the fake clock: ``asyncio.sleep`` returns at once, at the right virtual time."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(VirtualSelector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock.now


def run_virtual(clock: FakeClock, main: Coroutine[Any, Any, T]) -> T:
    loop = VirtualLoop(clock)
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


def fake_budget(clock: FakeClock, *args: Any, **kwargs: Any) -> Budget:
    """A budget on ``clock``; cuts halve the rate and hold for 0.5 s unless told (round numbers)."""
    kwargs = {"backoff": 0.5, "hold": 0.5, **kwargs}
    return Budget(*args, clock=clock, sleep=clock.sleep, async_sleep=asyncio.sleep, **kwargs)


def grant_times(budget: Budget, clock: FakeClock, paths: list[str]) -> list[float]:
    """Acquire for each path in turn (one thread) and return the clock after each grant."""
    times = []
    for path in paths:
        budget.acquire(path)
        times.append(clock.now)
    return times


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most grants in any half-open window ``[t, t + window)`` (a hair of float slack)."""
    times = sorted(times)
    return max(sum(1 for u in times if t <= u < t + window - 1e-9) for t in times)


# --- pacing ------------------------------------------------------------------------------------------


def test_one_endpoint_is_spaced_at_its_rate() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=100, endpoint_rate=25, burst=1)

    times = grant_times(budget, clock, [ORDERS] * 30)

    assert gaps(times) == pytest.approx([1 / 25] * 29)
    assert times[0] == 1000.0
    stats = budget.stats()
    assert (stats.granted, stats.rate_limited) == (30, 0)
    assert stats.waited == pytest.approx(29 / 25)


def test_first_request_does_not_wait() -> None:
    clock = FakeClock()
    budget = fake_budget(clock)

    assert budget.acquire(ORDERS) == 0.0
    assert clock.slept == []


@pytest.mark.parametrize(
    ("endpoints", "endpoint_rate", "expected_rate"),
    [
        (2, 25, 50),  # two endpoints at 25/s each: the global 100/s does not bind
        (2, 80, 100),  # two endpoints at 80/s each share the global 100/s
        (8, 25, 100),  # eight endpoints at 25/s each share the global 100/s
    ],
)
def test_endpoints_share_the_global_bucket(
    endpoints: int, endpoint_rate: float, expected_rate: float
) -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=100, endpoint_rate=endpoint_rate, burst=1)
    paths = [f"/v1/resource_{i}" for i in range(endpoints)] * 50

    times = grant_times(budget, clock, paths)

    assert len(times) / (times[-1] - times[0]) == pytest.approx(expected_rate, rel=0.03)
    assert max_in_window(times) <= expected_rate
    for i in range(endpoints):
        own = times[i::endpoints]
        assert min(gaps(own)) >= 1 / endpoint_rate - 1e-9


def test_test_mode_caps_global_at_25_per_second() -> None:
    clock = FakeClock()
    budget = Budget.for_key_mode("test", burst=1, clock=clock, sleep=clock.sleep)
    paths = [ORDERS, PRODUCTS, "/v1/climate/suppliers", "/v1/webhook_endpoints"] * 25

    times = grant_times(budget, clock, paths)

    assert gaps(times) == pytest.approx([1 / 25] * 99)
    assert budget.rates()["global"] == 25.0


def test_key_modes_use_stripes_documented_limits() -> None:
    live, test = Budget.for_key_mode("live"), Budget.for_key_mode("test")

    assert (live.global_rate, live.endpoint_rate) == (100.0, 25.0)
    assert (test.global_rate, test.endpoint_rate) == (25.0, 25.0)
    assert Budget.for_key_mode("live", global_rate=None, burst=2).global_rate is None


def test_burst_goes_at_once_then_paces_and_refills_only_to_its_size() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, burst=5)

    waits = [budget.acquire(ORDERS) for _ in range(8)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([1 / 25] * 3)

    clock.now += 10.0  # a long quiet spell refills 5 tokens, not 250
    waits = [budget.acquire(ORDERS) for _ in range(7)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([1 / 25] * 2)


def test_burst_never_exceeds_burst_plus_rate_in_any_second() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, burst=5)

    times = grant_times(budget, clock, [ORDERS] * 200)

    assert max_in_window(times) <= 25 + 5


# --- 429: AIMD ---------------------------------------------------------------------------------------


def test_429_halves_endpoint_and_global_rates_only() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=100, endpoint_rate=25)
    budget.acquire(PRODUCTS)

    budget.rate_limited(f"{ORDERS}/climorder_1Pgc73B7WZ01zgkWaebIwEZ7")

    assert budget.rates() == {"global": 50.0, PRODUCTS: 25.0, f"{ORDERS}/{ID}": 12.5}
    assert budget.stats().rate_limited == 1


def test_429_slows_the_spacing_then_it_recovers() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=100, endpoint_rate=25, burst=1, recovery=5.0)
    grant_times(budget, clock, [ORDERS] * 3)

    budget.rate_limited(ORDERS)
    cut_at = clock.now
    slow = grant_times(budget, clock, [ORDERS] * 3)
    assert gaps(slow)[0] == pytest.approx(1 / 12.5, rel=0.05)

    clock.now += 1.0  # without admitted answers the ceiling is the rate cut: back at it in 0.5 x 5 s
    assert budget.rates()[ORDERS] == pytest.approx(12.5 + 12.5 / 2.5 * (clock.now - cut_at))
    assert budget.rates()["global"] == pytest.approx(50 + 50 / 2.5 * (clock.now - cut_at))
    clock.now += 5.0
    assert budget.rates() == {"global": 100.0, ORDERS: 25.0}
    assert gaps(grant_times(budget, clock, [ORDERS] * 3)) == pytest.approx([1 / 25] * 2)


def answers(
    budget: Budget, clock: FakeClock, path: str, rate: float, seconds: float, refused: float = 0.0
) -> None:
    """Report ``rate`` answers per second for ``seconds``, every ``1 / refused``-th of them a 429."""
    owed = 0.0
    for _ in range(round(rate * seconds)):
        clock.now += 1 / rate
        owed += refused
        if owed >= 1:
            owed -= 1
            budget.rate_limited(path)
        else:
            budget.admitted(path)


def run_of_429s_then_a_probe(budget: Budget, clock: FakeClock) -> float:
    """Three 429s in a row 10 ms apart (a cluster), then a probe admitted 0.3 s on; the first 429's send."""
    onset = clock.now + 0.01
    for _ in range(3):
        clock.now += 0.01
        budget.rate_limited(ORDERS)
    clock.now += 0.3
    budget.admitted(ORDERS)  # a probe went through: resumed
    return onset


def test_recovery_climbs_slowly_to_the_admitted_rate_then_quickly_to_the_limit() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, recovery=10.0, backoff=0.9, hold=1.0)
    answers(budget, clock, ORDERS, 12, 2.5, refused=1 / 6)  # the server admitted 10/s of 12/s
    controller = budget._endpoints[ORDERS].rate  # type: ignore[union-attr]
    ceiling = controller.ceiling  # the admitted rate: the rate dropped to 0.9 x it
    assert ceiling == pytest.approx(10.0, rel=0.06)

    cut_at, observed = controller.cut_at, []
    for after in (0.0, 2.5, 5.0, 8.0, 9.0, 10.0):
        clock.now = cut_at + after
        observed.append(budget.rates()[ORDERS])

    # 0.9 x the ceiling, slowly back to it at 5 s (0.5 x recovery), within 5% above it until 8 s (0.8 x
    # recovery), then to the limit at 10 s.
    expected = [0.9 * ceiling, 0.95 * ceiling, ceiling, 1.05 * ceiling, (1.05 * ceiling + 25) / 2, 25.0]
    assert observed == pytest.approx(expected)


def test_repeated_429s_cut_again_down_to_the_floor() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=100, endpoint_rate=25, hold=0, min_rate=1.0)

    for _ in range(2):  # 429s between admitted answers (not a cluster): each is a cut
        budget.rate_limited(ORDERS)
        budget.admitted(ORDERS)
    assert budget.rates() == {"global": 25.0, ORDERS: 6.25}

    for _ in range(20):
        budget.rate_limited(ORDERS)
        budget.admitted(ORDERS)
    assert budget.rates() == {"global": 1.0, ORDERS: 1.0}
    assert budget.stats().rate_limited == 22


def test_429s_within_hold_count_as_one_overload() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=100, endpoint_rate=25, hold=0.5, recovery=1e9)

    for _ in range(5):  # in-flight requests, half answered 429 (never three in a run)
        budget.rate_limited(ORDERS)
        budget.admitted(ORDERS)
        budget.admitted(ORDERS)
        budget.rate_limited(ORDERS)
    assert budget.rates() == pytest.approx({"global": 50.0, ORDERS: 12.5})

    clock.now += 0.6
    budget.rate_limited(ORDERS)
    # The global rate (50/s) was above what the server admitted (10 in 0.6 s): half of that.
    assert budget.rates() == pytest.approx({"global": 0.5 * 10 / 0.6, ORDERS: 6.25})
    assert budget.stats().rate_limited == 11


def test_429_does_not_hand_out_a_fresh_burst() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, burst=5, recovery=1e9)
    assert [budget.acquire(ORDERS) for _ in range(5)] == [0.0] * 5  # the burst is spent

    budget.rate_limited(ORDERS)

    assert [budget.acquire(ORDERS) for _ in range(3)] == pytest.approx([1 / 12.5] * 3)


def test_client_reports_429_to_the_budget() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, hold=0, recovery=1e9)
    answers = iter([429, 429, 200])

    def handle(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        body: dict[str, Any] = {"id": "climorder_1", "object": "climate.order"}
        if status == 429:
            body = {"error": {"type": "invalid_request_error", "code": "rate_limit"}}
        return httpx.Response(status, json=body)

    async def main() -> dict[str, Any]:
        transport, retry = httpx.MockTransport(handle), RetryPolicy(base_delay=0.0)
        async with AsyncClient(
            "sk_test_" + "a" * 24, transport=transport, budget=budget, retry=retry
        ) as client:
            return await client.get(f"{ORDERS}/climorder_1Pgc73B7WZ01zgkWaebIwEZ7")

    assert asyncio.run(main())["id"] == "climorder_1"
    assert (budget.stats().granted, budget.stats().rate_limited) == (3, 2)
    assert budget.rates() == {"global": 25.0, f"{ORDERS}/{ID}": 6.25}


def test_429_floor_never_exceeds_a_low_limit() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=0.5, endpoint_rate=None, min_rate=1.0)

    budget.rate_limited(ORDERS)

    assert budget.rates() == {"global": 0.5, ORDERS: None}


# --- sustained 429s (issue #12): no compounding, recovery, fairness ----------------------------------


def test_cuts_do_not_compound_and_a_retry_does_not_queue_behind_them() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, burst=1, recovery=5.0, hold=0)
    granted: list[float] = []

    async def one() -> None:
        await budget.acquire_async(ORDERS)
        granted.append(clock())

    async def main() -> float:
        tasks = [asyncio.ensure_future(one()) for _ in range(200)]  # 8 s of turns at 25/s
        await asyncio.sleep(0.5)
        for _ in range(4):  # four cuts: 25/s -> 1.6/s
            budget.rate_limited(ORDERS)
        await one()  # a retry, booked now
        retried = granted[-1]
        await asyncio.gather(*tasks)
        return retried

    retried = run_virtual(clock, main())

    # The rate is back at 25/s 5 s after the cuts: the ~190 requests queued then go within ~11 s.
    # Stretching the booked queue x16 per the cuts (the old budget) put the retry ~120 s away.
    assert len(granted) == 201
    assert retried < 0.5 + 12.0
    assert max(granted) < 0.5 + 12.0


def test_recovery_within_recovery_seconds_of_the_last_429() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=25, endpoint_rate=25, burst=1, recovery=5.0, hold=0, min_rate=0.1)
    for _ in range(10):
        budget.rate_limited(ORDERS)
        clock.now += 0.3
    last = clock.now - 0.3

    clock.now = last + 5.0

    assert budget.rates() == {"global": 25.0, ORDERS: 25.0}
    assert gaps(grant_times(budget, clock, [ORDERS] * 20)) == pytest.approx([1 / 25] * 19)


def test_endpoints_share_the_global_rate_fairly_while_cut() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=25, endpoint_rate=25, burst=1, recovery=1e9)
    budget.rate_limited(PRODUCTS)  # the global rate is halved to 12.5/s
    granted: dict[str, list[float]] = {ORDERS: [], PRODUCTS: []}

    async def worker(path: str) -> None:
        while clock() < 20.0:
            await budget.acquire_async(path)
            granted[path].append(clock())

    async def main() -> None:
        await asyncio.gather(*(worker(p) for p in [ORDERS] * 8 + [PRODUCTS] * 2))

    run_virtual(clock, main())

    orders, products = (len([t for t in granted[p] if t < 20.0]) for p in (ORDERS, PRODUCTS))
    assert orders + products == pytest.approx(12.5 * 20, abs=3)
    assert orders == pytest.approx(products, abs=2)  # eight workers on one endpoint do not crowd out two


def issue_experiment(p: float, seconds: float = 30.0) -> float:
    """The issue's experiment: 2,000 requests through 64 workers, a random ``p`` of answers 429.

    Returns the successful requests per second over ``seconds`` of virtual time.
    """
    clock = FakeClock(0.0)
    budget = Budget.for_key_mode("test", burst=1, clock=clock, sleep=clock.sleep, async_sleep=asyncio.sleep)
    rng = random.Random(12)
    todo, ok = [2000], []

    async def worker() -> None:
        while todo[0] > 0:
            todo[0] -= 1
            await budget.acquire_async(f"{ORDERS}/climorder_1")
            while rng.random() < p:
                budget.rate_limited(f"{ORDERS}/climorder_1")
                await budget.acquire_async(f"{ORDERS}/climorder_1")
            budget.admitted(f"{ORDERS}/climorder_1")
            ok.append(clock())

    async def main() -> None:
        tasks = [asyncio.ensure_future(worker()) for _ in range(64)]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    run_virtual(clock, main())
    return sum(1 for t in ok if t < seconds) / seconds


@pytest.mark.parametrize(("p", "floor"), [(0.0, 24.9), (0.05, 17.5), (0.10, 12.5)])
def test_issue_experiment_keeps_a_sane_throughput(p: float, floor: float) -> None:
    # Before the fix: 25, 3.0 and 2.9 requests/s over 30 s (each cut stretched every booked turn for
    # good). Now, over 60 s: 19.1 and 14.1, as random 429s at their usual share cut nothing once that
    # share is learned (over the first 30 s: 15.2 and 11.5, as the default recovery is 30 s).
    assert issue_experiment(p, 60.0) >= floor


def competitor_due(elapsed: float, bursty: bool) -> float:
    """Requests the other client has wanted by ``elapsed``: 15/s evenly, or 2 s at 25/s then 3 s at 8.3/s."""
    if not bursty:
        return 15 * elapsed
    cycles, into = divmod(elapsed, 5.0)
    return cycles * 75 + (25 * into if into < 2 else 50 + 25 / 3 * (into - 2))


def contention(
    seconds: float = 60.0,
    *,
    bursty: bool = False,
    seed: int = 12,
    random_429s: float | None = None,
    poll: tuple[float, float] = (0.005, 0.005),
) -> tuple[float, float, list[int]]:
    """finlab (32 workers, 300 ms answers) against another client taking 60% of the test-mode limit.

    The server is `Limits` on the virtual clock, the other client that of `benchmarks/contention.py`.
    A worker answered 429 waits the client's first retry step (0.25-0.5 s). Returns finlab's share of
    the leftover capacity, the share of its requests answered 429 and its admitted answers per minute.
    With ``random_429s``, no other client: that share of answers is 429 at random instead. ``poll``: the
    other client's wait between tries, drawn from that range (on the loopback its thread shares the
    server's interpreter, so it is late now and then, and finlab's requests slip into its bursts).
    """
    clock = FakeClock(0.0)
    budget = Budget.for_key_mode("test", burst=1, clock=clock, sleep=clock.sleep, async_sleep=asyncio.sleep)
    limits = Limits.stripe("test", clock=clock)
    path, rng, polls = f"{ORDERS}/climorder_1", random.Random(seed), random.Random(seed + 1)
    answered = {"ok": 0, "429": 0, "other": 0}
    minutes = [0] * math.ceil(seconds / 60)

    async def competitor() -> None:  # each request tried again every 5 ms (by default) until admitted
        while True:
            due = competitor_due(clock(), bursty)
            while answered["other"] < due and limits.admit(PRODUCTS) is None:
                answered["other"] += 1
            await asyncio.sleep(polls.uniform(*poll))

    async def worker() -> None:
        while True:
            await budget.acquire_async(path)
            sent, refused = budget.now(), limits.admit(path)
            refused = refused or (random_429s is not None and rng.random() < random_429s)
            await asyncio.sleep(0.3 + rng.uniform(-0.05, 0.05))
            answered["429" if refused else "ok"] += 1
            minutes[min(int(sent // 60), len(minutes) - 1)] += not refused
            (budget.rate_limited if refused else budget.admitted)(path, sent)
            if refused:
                await asyncio.sleep(rng.uniform(0.25, 0.5))

    async def main() -> None:
        tasks = [asyncio.ensure_future(worker()) for _ in range(32)]
        if random_429s is None:
            tasks.append(asyncio.ensure_future(competitor()))
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    run_virtual(clock, main())
    leftover = 25 * seconds - answered["other"]
    return answered["ok"] / leftover, answered["429"] / (answered["ok"] + answered["429"]), minutes


def test_a_competing_load_leaves_finlab_most_of_the_leftover() -> None:
    share, refused, minutes = contention(300.0)

    assert share >= 0.85  # 0.89 measured
    # 1.2% measured (1.5% at 9adb268; 3.4% before a single 429 above the ceiling cut, and before cuts
    # that measured no capacity lowered the ceiling to their rate; 1.6% before the climb stayed near the
    # ceiling). AIMD alone answered 9-12%.
    assert refused < 0.03
    assert minutes[-1] >= 0.95 * max(minutes[:-1])  # 536 534 536 541 529: no decline


def test_a_bursty_competing_load_is_kept_out_of_once_its_schedule_is_learned() -> None:
    runs = [contention(300.0, bursty=True, seed=seed) for seed in range(12, 20)]
    shares, refused = [share for share, _, _ in runs], [refused for _, refused, _ in runs]
    minutes = [sum(run[2][minute] for run in runs) for minute in range(5)]

    # One seed is one draw of a chaotic run (0.82 to 0.86 of the leftover here): eight of them. 0.84 of
    # the leftover and 2.99% answered 429 measured (0.82 and 3.49% before an early burst shifted a long
    # spell; 0.81 and 3.69% before a moved spell silenced the rate at once; one seed, reacting alone:
    # 0.63 and 24%; AIMD: 0.81 and 39%). Half of the 429s come in the first minute, before three bursts
    # have shown the schedule.
    assert statistics.mean(shares) >= 0.82
    assert min(shares) >= 0.78
    assert statistics.mean(refused) < 0.0325
    assert minutes[-1] >= 0.95 * max(minutes[:-1])  # 3458 4075 4232 4230 4112


def test_a_late_other_client_whose_bursts_let_requests_through_sends_no_seed_into_a_spiral() -> None:
    # The other client waits 5-20 ms between tries (on the loopback its thread shares the server's
    # interpreter): finlab's requests slip into its bursts, onsets wander, and periods learned from
    # them are off. Seed 15 spiralled to 0.32 of the leftover before periods were fitted through four
    # onsets, replaced when the bursts kept another and halved when bursts came between the spells, and
    # seed 16 to 0.40 before a cut among a few answers kept the ceiling.
    runs = [contention(300.0, bursty=True, seed=seed, poll=(0.005, 0.02)) for seed in range(12, 20)]
    shares = [share for share, _, _ in runs]

    assert min(shares) >= 0.78  # 0.83 measured (0.56 before an early burst shifted a long spell)
    assert statistics.mean(shares) >= 0.82  # 0.85 measured (0.80 before)


def test_random_429s_do_not_hold_the_rate_down() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0)

    answers(budget, clock, ORDERS, 25, 60.0, refused=0.05)  # every 20th answer a 429, at any rate

    # The first 429s cut (nothing says they are random yet); below the ceiling they then come at the
    # same share as before: that share is the background, and 429s at it are chance.
    assert budget.rates()[ORDERS] == 25.0
    controller = budget._endpoints[ORDERS].rate  # type: ignore[union-attr]
    assert 0.01 < controller.background < 0.07


def test_a_schedule_learned_from_random_clusters_does_not_make_random_429s_cut() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0)
    answers(budget, clock, ORDERS, 25, 60.0, refused=0.05)
    controller = budget._endpoints[ORDERS].rate  # type: ignore[union-attr]
    cut_at = controller.cut_at
    for onset in (clock.now - 25, clock.now - 15, clock.now - 5):  # three random runs of 429s, 10 s apart
        controller.bursts.began(onset)
        controller.bursts.ended(onset + 0.5)

    answers(budget, clock, ORDERS, 25, 4.0, refused=0.05)  # up to the quiet spell the schedule predicts

    assert controller.quiet is not None
    assert controller.cut_at == cut_at  # a random 429 between spells is chance, as without a schedule
    assert budget.rates()[ORDERS] == 25.0


def test_429s_above_the_capacity_left_cut_to_just_under_it() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, recovery=10.0)
    # Another client leaves 10/s of the 25: finlab sends 12/s, every sixth answered 429. The first 429
    # comes before a capacity can be measured (a plain cut); the next one, a second on, knows it.
    answers(budget, clock, ORDERS, 12, 2.5, refused=1 / 6)
    controller = budget._endpoints[ORDERS].rate  # type: ignore[union-attr]
    cut_at = controller.cut_at

    ceiling = controller.ceiling
    assert ceiling == pytest.approx(10.0, rel=0.06)  # what the server admitted over the last 2 s
    clock.now = cut_at
    assert budget.rates()[ORDERS] == pytest.approx(0.9 * ceiling)
    clock.now = cut_at + 5.0  # half the recovery: slowly back at the ceiling; the limit at 10 s
    assert budget.rates()[ORDERS] == pytest.approx(ceiling)
    clock.now = cut_at + 10.0
    assert budget.rates()[ORDERS] == 25.0


def test_a_cluster_of_429s_pauses_then_resumes_where_it_was() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, pause=0.25)
    answers(budget, clock, ORDERS, 20, 4.0)  # calm: every answer admitted

    for _ in range(3):  # another client takes the whole limit: three 429s in a row
        clock.now += 0.01
        budget.rate_limited(ORDERS)
    paused_at = clock.now

    assert budget.rates()[ORDERS] == 0.0
    clock.now = paused_at + 0.3  # after the pause, probes at 2/s
    assert 2.0 <= budget.rates()[ORDERS] < 3.0
    budget.admitted(ORDERS)  # a probe went through: back at the full rate (the cut is undone)
    assert budget.rates()[ORDERS] == 25.0


def test_a_cluster_before_any_calm_answer_resumes_below_the_rate() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, pause=0.25)
    answers(budget, clock, ORDERS, 25, 0.5)  # finlab just started: nothing says its rate is fine

    for _ in range(3):  # the account was busy all along, or a burst came: no way to tell yet
        clock.now += 0.04
        budget.rate_limited(ORDERS)
    clock.now += 0.3
    budget.admitted(ORDERS)

    # Taken as finlab's own rate, in an account busy from the start: the climb starts from 0.9 x 0.65 of
    # the rate (from 0.9 x the rate, it met the capacity left over again within a second).
    assert budget.rates()[ORDERS] == pytest.approx(0.9 * UNTRIED_START * 25, rel=0.01)


def test_429s_at_a_quiet_spells_edge_hold_the_climb_near_the_ceiling_for_a_while() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, recovery=10.0)
    answers(budget, clock, ORDERS, 12, 2.5, refused=1 / 6)  # another client leaves 10/s: a cut measures it
    controller = budget._endpoints[ORDERS].rate  # type: ignore[union-attr]
    ceiling, cut_at = controller.ceiling, controller.cut_at
    assert ceiling is not None
    for onset in (cut_at - 7.5, cut_at - 4.5, cut_at - 1.5):  # and bursts every 3 s: a schedule
        controller.bursts.began(onset)
        controller.bursts.ended(onset + 0.5)
    assert controller.base(cut_at + 9.5) > 2 * ceiling  # without more 429s: nearly back at the limit

    def edge_429_at(now: float) -> float:
        """A 429 just before the quiet spell due after ``now`` (the burst came early): when it was sent."""
        clock.now = now
        budget.admitted(ORDERS)  # the next spell is set
        assert controller.quiet is not None
        sent = controller.quiet.start - 0.1
        controller.answer(sent + 0.3, True, sent)
        return sent

    sent = edge_429_at(cut_at + 6.0)

    assert controller.cut_at == cut_at  # the burst's 429: no cut
    assert controller.base(sent + NEAR_SHARE * 10.0 - 0.01) <= NEAR * ceiling + 1e-9
    assert controller.base(sent + 10.0) == 25.0  # the limit `recovery` s after the last 429

    while sent < cut_at + HOLD_FOR * 10.0 + 5.0:  # 429s every spell: they hold for 2 x recovery only
        sent = edge_429_at(sent + 3.0)
    assert controller.base(cut_at + (HOLD_FOR + 1) * 10.0) == 25.0


def test_the_pause_after_a_burst_of_known_length_lasts_until_it_should_be_over() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, pause=0.25)
    controller = budget._endpoint(ORDERS).rate  # type: ignore[union-attr]
    controller.bursts.began(1.0)  # one burst seen already: 2 s long
    controller.bursts.ended(3.0)
    answers(budget, clock, ORDERS, 15, 6.0)  # calm for 6 s: a cluster now is another client's burst

    onset = clock.now
    for k in range(3):
        controller.answer(onset + 0.3 + 0.04 * k, True, onset + 0.04 * k)

    paused = controller.paused
    assert paused is not None
    assert paused.until == pytest.approx(onset + 2.0 - BURST_EARLY)  # not 0.25 s: no probe into the burst
    assert controller.base(onset + 2.0 - BURST_EARLY - 0.01) == 0.0


@pytest.mark.parametrize("a_429_before", [False, True])
def test_a_request_that_slips_through_a_burst_does_not_split_its_run_of_429s(a_429_before: bool) -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, pause=0.25)
    controller = budget._endpoint(ORDERS).rate  # type: ignore[union-attr]
    answers(budget, clock, ORDERS, 15, 4.5)
    if a_429_before:  # one 429 among the 45 answers of the 3 s before (2%): still no crowd of them
        budget.rate_limited(ORDERS)
    answers(budget, clock, ORDERS, 15, 1.5)  # calm for 6 s: a run of 429s now is another client's burst

    onset = clock.now
    controller.answer(onset + 0.34, True, onset + 0.04)  # answers come out of order
    controller.answer(onset + 0.35, True, onset)
    controller.answer(onset + 0.38, False, onset + 0.08)  # one request got in between the other's
    assert controller.paused is None
    controller.answer(onset + 0.42, True, onset + 0.12)

    # Three 429s with one admitted answer between: the pause, and the onset is the earliest send (on the
    # loopback server a split run paused a few 429s later and moved the onset by up to 0.7 s).
    assert controller.paused is not None
    assert controller.bursts.onsets[-1] == onset


def test_two_admitted_answers_in_a_row_end_a_run_of_429s() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, pause=0.25)
    controller = budget._endpoint(ORDERS).rate  # type: ignore[union-attr]
    answers(budget, clock, ORDERS, 15, 6.0)

    onset = clock.now
    for k, limited in enumerate((True, True, False, False, True)):
        controller.answer(onset + 0.3 + 0.04 * k, limited, onset + 0.04 * k)

    assert controller.paused is None  # two runs of 429s, not one cluster


def test_a_spell_whose_end_moves_out_silences_the_rate_until_the_new_end_at_once() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0)
    controller = budget._endpoint(ORDERS).rate  # type: ignore[union-attr]
    for onset in (10.0, 15.0, 20.0):  # bursts of 2 s every 5 s: the next spell is 24.6 to 27.0
        controller.bursts.began(onset)
        controller.bursts.ended(onset + 2.0)
    controller.answer(21.3, False, 21.0)
    controller.answer(27.33, False, 27.03)  # after the spell: the next one is set (29.6 to 31.99)
    spell = controller.quiet
    assert spell is not None

    controller.answer(27.36, True, 27.06)  # a request sent just after the spell: the burst outlasted it

    # The next spell's end moved out, and the rate follows now, not once the old end has passed (then
    # finlab sent into the burst for a round trip after every overrun).
    assert controller.quiet == controller.bursts.spell
    assert controller.quiet is not None
    assert controller.quiet.end > spell.end
    assert controller(spell.end + 0.01) == 0.0


def test_one_429_above_the_capacity_measured_cuts_below_it_does_not() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, recovery=10.0)
    answers(budget, clock, ORDERS, 12, 2.5, refused=1 / 6)  # another client leaves 10/s (as above)
    controller = budget._endpoints[ORDERS].rate  # type: ignore[union-attr]
    ceiling, cut_at = controller.ceiling, controller.cut_at
    assert ceiling is not None

    answers(budget, clock, ORDERS, 9.2, 1.5)  # back under the ceiling, climbing: every answer admitted
    budget.rate_limited(ORDERS)  # one 429 below 0.95 x the ceiling: chance, as far as one can tell
    assert controller.cut_at == cut_at

    answers(budget, clock, ORDERS, 9.6, 3.0)  # at 2.5 s the climb passes 0.95 x the ceiling
    rate = budget.rates()[ORDERS]
    assert rate is not None
    assert rate > 0.95 * ceiling
    budget.rate_limited(ORDERS)  # one 429 there is contention: cut, and the ceiling is this rate

    assert controller.cut_at == clock.now
    assert controller.ceiling == pytest.approx(rate)
    assert budget.rates()[ORDERS] == pytest.approx(0.9 * rate)


def test_a_429_among_a_few_answers_cuts_the_rate_but_keeps_the_ceiling() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, recovery=10.0)
    controller = budget._endpoint(ORDERS).rate  # type: ignore[union-attr]
    controller.ceiling = 10.0
    controller._set_base(Curve([(-math.inf, 3.0)]))  # down at 3/s after cuts
    for k in range(3):
        controller.answer(0.6 + k / 3, False, 0.3 + k / 3)

    controller.answer(1.6, True, 1.3)  # a 429 among four answers in the last second

    # The rate backs off, but four answers say too little to set the ceiling at 3/s: each burst of
    # another client that met finlab at a low rate lowered it to that rate, down to 1/s within minutes.
    assert controller.cut_at == 1.6
    assert controller(1.6) == pytest.approx(0.9 * 3.0)
    assert controller.ceiling == 10.0


def test_a_run_of_429s_after_a_lull_in_sends_takes_no_capacity_from_the_lull() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, pause=0.25)
    answers(budget, clock, ORDERS, 25, 4.0)  # calm at the limit
    run_of_429s_then_a_probe(budget, clock)  # another client's burst: back at the full rate
    assert budget.rates()[ORDERS] == 25.0
    answers(budget, clock, ORDERS, 6, 1.0)  # the end of a call: finlab sends 6/s, every one admitted
    run_of_429s_then_a_probe(budget, clock)  # within 2 s of resuming: finlab's own rate, it seems

    # The server admitted all finlab sent in the lull: that was finlab's demand, not a capacity of 6/s.
    # The climb goes on below the rate of the run (on the loopback: 7/s against a capacity of 17/s).
    controller = budget._endpoints[ORDERS].rate  # type: ignore[union-attr]
    assert controller.ceiling is None
    assert budget.rates()[ORDERS] == pytest.approx(0.9 * 25)


def _at_17_then_a_few_sends(refused_at: list[float]) -> Controller:
    """A controller whose ceiling is 17/s, after six admitted sends in a second and 429s sent then."""
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, recovery=10.0)
    controller = budget._endpoint(ORDERS).rate  # type: ignore[union-attr]
    controller.ceiling = 17.0
    controller._set_base(Curve([(-math.inf, 17.0)]))
    controller.cut_at = refused_at[-1] + 0.3 - 1.05  # a cut `hold` before the last 429 is heard
    for k in range(6):
        controller.answer(0.65 + k / 6, False, 0.35 + k / 6)
    for sent in refused_at:
        controller.answer(sent + 0.3, True, sent)
    return controller


def test_one_429_among_fewer_sends_than_the_rate_allowed_measures_no_capacity() -> None:
    controller = _at_17_then_a_few_sends([1.3])  # 6 of 7 admitted: "a capacity of 6/s" on one 429
    assert controller.cut_at == pytest.approx(1.6)
    # On the loopback, one 429 at the end of a call measured 7/s against 17/s and held the rate there
    # for 30 s. finlab sent 7 of the 16 its rate allowed: the others could have been admitted.
    assert controller.ceiling == 17.0
    assert controller(1.6) == pytest.approx(0.9 * 17.0)


def test_two_429s_among_a_few_sends_measure_the_capacity() -> None:
    controller = _at_17_then_a_few_sends([1.2, 1.3])  # the first within hold of the cut before
    assert controller.cut_at == pytest.approx(1.6)
    assert controller.ceiling == pytest.approx(6 / 0.95)  # six admitted over the 0.95 s of sends


def test_a_burst_met_again_just_after_resuming_lowers_the_ceiling_by_the_backoff_at_most() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, pause=0.25)
    controller = budget._endpoint(ORDERS).rate  # type: ignore[union-attr]
    answers(budget, clock, ORDERS, 15, 6.0)
    controller.ceiling = 15.0
    start = clock.now
    for k in range(3):  # another client's burst: pause
        controller.answer(start + 0.3 + 0.05 * k, True, start + 0.05 * k)
    controller.answer(start + 1.0, False, start + 0.7)  # a probe slipped through the burst: resumed
    # The answers of a traced loopback run from there (sent, limited): a few sends (the end of a call),
    # then the rest of the burst, its run split by requests that slipped through.
    trace = [(0.11, 0), (0.18, 0), (0.5, 0), (0.57, 0), (0.64, 1), (0.7, 1), (0.77, 0), (0.83, 1), (0.9, 1)]
    trace += [(0.97, 0), (1.04, 1), (1.11, 1), (1.19, 1)]
    for sent, limited in trace:
        controller.answer(start + 1.0 + sent + 0.3, bool(limited), start + 1.0 + sent)

    # A cluster within 2 s of resuming is taken for finlab's own rate, and the second before it read as
    # a capacity of 6/s: the climb held near that for 80 s. One such reading lowers the ceiling by 10%.
    assert controller.paused is not None
    assert controller.ceiling == pytest.approx(0.9 * 15.0)


def test_a_cut_that_measures_no_capacity_still_goes_under_the_ceiling() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, recovery=10.0)
    answers(budget, clock, ORDERS, 12, 2.5, refused=1 / 6)  # another client leaves 10/s (as above)
    controller = budget._endpoints[ORDERS].rate  # type: ignore[union-attr]
    ceiling = controller.ceiling
    assert ceiling is not None

    clock.now = controller.cut_at + 9.0  # climbing past the ceiling towards the limit
    rate = budget.rates()[ORDERS]
    assert rate is not None
    assert rate > 1.5 * ceiling
    budget.rate_limited(ORDERS)  # alone in its second (right after a quiet spell): no capacity measured

    # Under the ceiling, not 0.9 x the rate of the cut: that rate was far above the capacity.
    assert budget.rates()[ORDERS] == pytest.approx(0.9 * ceiling)


def test_runs_of_429s_that_are_finlabs_own_rate_teach_no_schedule() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, backoff=0.9, hold=1.0, pause=0.25)

    answers(budget, clock, ORDERS, 25, 0.5)
    run_of_429s_then_a_probe(budget, clock)  # in finlab's first seconds: maybe a burst, maybe its own rate
    answers(budget, clock, ORDERS, 20, 4.0)
    burst = run_of_429s_then_a_probe(budget, clock)  # after calm answers: another client's burst
    answers(budget, clock, ORDERS, 20, 0.3)
    run_of_429s_then_a_probe(budget, clock)  # right after resuming: finlab's rate picking up again

    controller = budget._endpoints[ORDERS].rate  # type: ignore[union-attr]
    assert list(controller.bursts.onsets) == [pytest.approx(burst)]


def test_a_pause_without_answers_still_recovers_within_recovery() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=25, endpoint_rate=25, recovery=5.0, pause=0.25)
    for _ in range(5):
        budget.rate_limited(ORDERS)
    last = clock.now

    assert budget.rates() == {"global": 0.0, ORDERS: 0.0}
    clock.now = last + 5.0
    assert budget.rates() == {"global": 25.0, ORDERS: 25.0}


@settings(max_examples=60, deadline=None)
@given(
    points=st.lists(st.tuples(st.floats(0, 5), st.floats(0, 30)), min_size=1, max_size=6),
    start=st.floats(-1, 6),
    span=st.floats(0.01, 10),
)
# The rate falls to 0 just as the tokens run out: a rounding leftover once waited for the rate after.
@example(points=[(1.0, 1.2480505325948512), (2.0, 0.0), (3.0, 0.0)], start=0.0, span=2.0)
def test_curve_seconds_for_inverts_tokens(
    points: list[tuple[float, float]], start: float, span: float
) -> None:
    points = sorted(points)
    points.append((points[-1][0], 5.0))  # a jump to a positive rate at the end, as every curve has
    curve = Curve(points)

    tokens = curve.tokens(start, start + span)

    assert tokens >= 0
    if tokens > 1e-6:
        seconds = curve.seconds_for(tokens, start)
        assert seconds <= span + 1e-6
        assert curve.tokens(start, start + seconds) == pytest.approx(tokens, rel=1e-6)


def within_token_bucket(times: list[float], burst: int, rate: float) -> bool:
    """No interval ``[t_i, t_j]`` holds more than ``burst + rate * (t_j - t_i)`` grants."""
    times = sorted(times)
    return all(
        j - i + 1 <= burst + rate * (times[j] - times[i]) + 1e-6
        for i in range(len(times))
        for j in range(i, len(times))
    )


@settings(max_examples=40, deadline=None)
@given(
    arrivals=st.lists(
        st.tuples(st.floats(0, 2, allow_nan=False), st.integers(0, 2), st.booleans()), min_size=1, max_size=60
    ),
    burst=st.integers(1, 4),
)
def test_no_interval_ever_exceeds_burst_plus_rate(
    arrivals: list[tuple[float, int, bool]], burst: int
) -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=40, endpoint_rate=25, burst=burst, hold=0, recovery=0.5)
    grants: list[tuple[int, float]] = []

    async def one(delay: float, endpoint: int, answered_429: bool) -> None:
        await asyncio.sleep(delay)
        await budget.acquire_async(f"/v1/resource_{endpoint}")
        grants.append((endpoint, clock()))
        if answered_429:
            budget.rate_limited(f"/v1/resource_{endpoint}")

    async def main() -> None:
        await asyncio.gather(*(one(*arrival) for arrival in arrivals))

    run_virtual(clock, main())

    assert len(grants) == len(arrivals)
    assert within_token_bucket([t for _, t in grants], burst, 40)
    for endpoint in range(3):
        assert within_token_bucket([t for e, t in grants if e == endpoint], burst, 25)


# --- asyncio, threads, unlimited ---------------------------------------------------------------------


def test_many_async_tasks_never_exceed_the_rate_in_any_second() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=100, endpoint_rate=25, burst=1)
    paths = [ORDERS, PRODUCTS, "/v1/climate/suppliers", "/v1/tax/registrations", "/v1/webhook_endpoints"]
    granted: dict[str, list[float]] = {p: [] for p in paths}

    async def worker(path: str) -> None:
        for _ in range(20):
            await budget.acquire_async(path)
            granted[path].append(clock())

    async def main() -> None:
        await asyncio.gather(*(worker(p) for p in paths for _ in range(4)))

    start = clock.now
    run_virtual(clock, main())

    every = [t for times in granted.values() for t in times]
    assert len(every) == 400
    assert max_in_window(every) <= 100
    for times in granted.values():
        assert max_in_window(times) <= 25
    assert clock.now - start == pytest.approx(399 / 100)  # the global 100/s binds, shared fairly
    assert budget.stats().granted == 400


def test_async_grants_keep_the_exact_spacing() -> None:
    clock = FakeClock()
    budget = fake_budget(clock, global_rate=None, endpoint_rate=25, burst=1)

    async def one() -> float:
        await budget.acquire_async(ORDERS)
        return clock()

    async def main() -> list[float]:
        return await asyncio.gather(*(one() for _ in range(50)))

    times = sorted(run_virtual(clock, main()))

    assert gaps(times) == pytest.approx([1 / 25] * 49)


def test_blocked_arrivals_do_not_hold_back_other_endpoints() -> None:
    clock = FakeClock(0.0)
    budget = fake_budget(clock, global_rate=100, endpoint_rate=25, burst=1)
    paths = [f"/v1/resource_{name}" for name in "abcd" for _ in range(8)]  # 8 A's, then 8 B's, ...
    done: list[float] = []

    async def one(path: str) -> None:
        await budget.acquire_async(path)
        done.append(clock())

    async def main() -> None:
        await asyncio.gather(*(one(p) for p in paths))

    run_virtual(clock, main())

    assert max(done) == pytest.approx(31 / 100)  # the global rate binds, not the queue on A


class GrantRecorder:
    """The real clock and sleeps, remembering per thread and per task when the last grant fell due.

    A grant is due at the budget's last clock reading plus the sleep it asked for after it (if any).
    A context variable keeps this apart for each thread and each asyncio task.
    """

    def __init__(self) -> None:
        self.state: contextvars.ContextVar[list[float]] = contextvars.ContextVar("state")

    def begin(self) -> None:
        self.state.set([0.0, 0.0])  # last clock reading, sleep asked for since

    def clock(self) -> float:
        now = time.monotonic()
        self.state.get()[:] = [now, 0.0]
        return now

    def sleep(self, seconds: float) -> None:
        self.state.get()[1] = seconds
        time.sleep(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.state.get()[1] = seconds
        await asyncio.sleep(seconds)

    def due(self) -> float:
        last, after = self.state.get()
        return last + after


def test_threads_and_asyncio_share_one_budget() -> None:
    rec = GrantRecorder()
    budget = Budget(2000, 1000, burst=1, clock=rec.clock, sleep=rec.sleep, async_sleep=rec.async_sleep)
    paths = [ORDERS, PRODUCTS, "/v1/tax/registrations"]
    lock = threading.Lock()
    grants: list[tuple[str, float]] = []

    def acquired(path: str) -> None:
        with lock:
            grants.append((path, rec.due()))

    def thread_worker() -> None:
        rec.begin()
        for i in range(25):
            budget.acquire(paths[i % 3])
            acquired(paths[i % 3])

    async def task(i: int) -> None:
        rec.begin()
        await budget.acquire_async(paths[i % 3])
        acquired(paths[i % 3])

    async def main() -> None:
        await asyncio.gather(*(task(i) for i in range(50)))

    threads = [threading.Thread(target=thread_worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    asyncio.run(main())
    for thread in threads:
        thread.join()

    times = [t for _, t in grants]
    assert len(times) == 150
    assert budget.stats().granted == 150
    assert max(times) - min(times) >= 149 / 2000 - 1e-9
    assert max_in_window(times, 0.05) <= 100  # 2000/s
    for path in paths:
        assert max_in_window([t for p, t in grants if p == path], 0.05) <= 50  # 1000/s


def test_unlimited_never_waits() -> None:
    def never(seconds: float) -> None:
        raise AssertionError(seconds)

    budget = Budget(None, None, clock=lambda: 0.0, sleep=never)

    assert all(budget.acquire(p) == 0.0 for p in [ORDERS, PRODUCTS] * 500)
    budget.rate_limited(ORDERS)
    assert budget.rates() == {"global": None, ORDERS: None, PRODUCTS: None}
    assert budget.stats() == BudgetStats(granted=1000, waited=0.0, rate_limited=1)


def test_unlimited_never_waits_async() -> None:
    async def never(seconds: float) -> None:
        raise AssertionError(seconds)

    budget = Budget(None, None, async_sleep=never)

    async def main() -> list[float]:
        return await asyncio.gather(*(budget.acquire_async(ORDERS) for _ in range(200)))

    assert asyncio.run(main()) == [0.0] * 200


@pytest.mark.parametrize(
    "settings",
    [
        {"global_rate": 0},
        {"global_rate": -1},
        {"endpoint_rate": 0},
        {"endpoint_rate": float("nan")},
        {"global_rate": float("inf")},
        {"burst": 0},
        {"burst": 1.5},
        {"backoff": 1.0},
        {"backoff": 0},
        {"min_rate": 0},
        {"recovery": 0},
        {"hold": -1},
        {"pause": 0},
        {"pause": 30.0},
    ],
)
def test_bad_limits_raise_configuration_error(settings: dict[str, Any]) -> None:
    name = next(iter(settings))
    with pytest.raises(ConfigurationError, match=name):
        Budget(**settings)


def test_unknown_key_mode_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'live'"):
        Budget.for_key_mode("production")


def test_repr_shows_the_limits() -> None:
    assert (
        repr(Budget.for_key_mode("test", burst=1)) == "Budget(global_rate=25.0, endpoint_rate=25.0, burst=1)"
    )


# --- endpoint keys -----------------------------------------------------------------------------------


def _spec_paths() -> list[str]:
    candidates = [
        *sorted(ROOT.glob("tests/**/spec-subset.json")),
        ROOT.parent / "shared/stripe/spec-subset.json",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return list(json.loads(candidate.read_text())["paths"])
    msg = f"Stripe's spec-subset.json not found in any of {candidates}"
    raise FileNotFoundError(msg)


SPEC_PATHS = _spec_paths()

# Realistic ids per path parameter: Stripe's example objects, plus short demo-style and slug ids.
REALISTIC_IDS: dict[tuple[str, str], list[str]] = {
    ("orders", "order"): ["climorder_1Pgc73B7WZ01zgkWaebIwEZ7", "climorder_123"],
    ("products", "product"): [
        "climsku_frontier_offtake_portfolio_2027",
        "climsku_frontier_offtake_portfolio",
    ],
    ("suppliers", "supplier"): ["climsup_charm_industrial", "climsup_heirloom", "climsup_lithos"],
    ("transactions", "transaction"): [
        "fctxn_1Pgc76B7WZ01zgkW30ATGSKp",
        "tax_1Pgc7AB7WZ01zgkW5XONRnmb",
        "tax_123",
        "tax_456",
    ],
    ("requests", "id"): ["fwdreq_123", "fwdreq_1Pgc76B7WZ01zgkWxyz"],
    ("verification_reports", "report"): ["vr_1Pgc76B7WZ01zgkWq9Rp33Dj", "vr_demo"],
    ("verification_sessions", "session"): ["vs_1Pgc76B7WZ01zgkWBdQi8PTU", "vs_demo"],
    ("calculations", "calculation"): ["taxcalc_1Pgc7HB7WZ01zgkW0snEQbxy", "taxcalc_demo_0001"],
    ("registrations", "id"): ["taxreg_QXhWPxHxRGhVsh", "taxreg_123"],
    ("webhook_endpoints", "webhook_endpoint"): ["we_1Pgc6yB7WZ01zgkWzAudq4eU", "we_123"],
}


def _filled(template: str) -> list[str]:
    """``template`` with each ``{param}`` replaced by each realistic id for it."""
    segments = template.split("/")
    variants = [segments]
    for i, segment in enumerate(segments):
        if segment.startswith("{"):
            ids = REALISTIC_IDS[(segments[i - 1], segment.strip("{}"))]
            variants = [[*v[:i], id_, *v[i + 1 :]] for v in variants for id_ in ids]
    return ["/".join(v) for v in variants]


def test_spec_has_the_paths_finlab_reads() -> None:
    assert len(SPEC_PATHS) >= 30
    assert "/v1/tax/transactions/{transaction}/line_items" in SPEC_PATHS


@pytest.mark.parametrize("template", SPEC_PATHS)
def test_endpoint_of_every_spec_path(template: str) -> None:
    expected = re.sub(r"\{[^}]+\}", ID, template)

    assert endpoint_of(template) == expected
    for path in _filled(template):
        assert endpoint_of(path) == expected, path
        assert endpoint_of(f"{path}?limit=100&expand[]=data.account") == expected


def test_tax_line_items_of_every_transaction_share_one_bucket() -> None:
    keys = {
        endpoint_of(f"/v1/tax/transactions/tax_{n}/line_items") for n in (123, 456, "1Pgc7AB7WZ01zgkW5XON")
    }

    assert keys == {"/v1/tax/transactions/{id}/line_items"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/financial_connections/accounts", "/v1/financial_connections/accounts"),
        (
            "/v1/financial_connections/accounts/fca_1MwVK82eZvKYlo2C/owners",
            "/v1/financial_connections/accounts/{id}/owners",
        ),
        (
            "/v1/identity/verification_sessions/vs_1Pgc76B7WZ01zgkW/redact",
            "/v1/identity/verification_sessions/{id}/redact",
        ),
        ("/v1/crypto/onramp_sessions/cos_test_xxx", "/v1/crypto/onramp_sessions/{id}"),
        ("/v1/crypto/onramp_sessions", "/v1/crypto/onramp_sessions"),
        ("/v1/tax/transactions/create_from_calculation", "/v1/tax/transactions/create_from_calculation"),
        ("/v1/tax/transactions/create_reversal", "/v1/tax/transactions/create_reversal"),
        ("/v1/tax/associations/find", "/v1/tax/associations/find"),
        ("/v1/webhook_endpoints", "/v1/webhook_endpoints"),
        ("/v1/3d_secure/tdsrc_1Mw", "/v1/3d_secure/{id}"),
        ("/v1/customers/cus_NffrFeUfNV2Hib/tax_ids", "/v1/customers/{id}/tax_ids"),
        ("/v1/customers/cus_NffrFeUfNV2Hib/tax_ids/txi_1NuMB12eZvK", "/v1/customers/{id}/tax_ids/{id}"),
        ("/v1/tax_rates/txr_1MzS4RLkdIwHu7ixNdCh7jQB", "/v1/tax_rates/{id}"),
        ("/v1/tax/calculations/taxcalc_1Pgc7H/line_items/", "/v1/tax/calculations/{id}/line_items"),
        ("/v1/things/12345", "/v1/things/{id}"),
    ],
)
def test_endpoint_of_keeps_static_segments(path: str, expected: str) -> None:
    assert endpoint_of(path) == expected


# --- the real clock ----------------------------------------------------------------------------------


def test_real_clock_paces_async_acquisitions() -> None:
    budget = Budget(global_rate=100, endpoint_rate=None, burst=1)

    async def main() -> float:
        start = time.monotonic()
        await asyncio.gather(*(budget.acquire_async(f"/v1/resource_{i % 7}") for i in range(50)))
        return time.monotonic() - start

    elapsed = asyncio.run(main())

    assert 0.45 <= elapsed < 2.0
    assert budget.stats().granted == 50
