"""The schedule of another client's recurring bursts (`finlab.rate_bursts`), on made-up send times."""

from __future__ import annotations

import pytest

from finlab.rate_bursts import (
    END_RELAX,
    FIRST_LEAD,
    MAX_MOVE,
    MISS_STEP,
    MISSES,
    PROBE_EVERY,
    START_RELAX,
    Quiet,
    Recurrence,
)

PERIOD, LENGTH = 5.0, 2.0  # a burst every 5 s, 2 s long


def learned(period: float = PERIOD, onsets: int = 4) -> Recurrence:
    """A schedule learned from ``onsets`` bursts ``period`` apart, each seen to last `LENGTH`."""
    bursts = Recurrence()
    for k in range(onsets):
        bursts.began(10.0 + k * period)
        bursts.ended(10.0 + k * period + LENGTH)
    return bursts


def test_four_bursts_at_one_period_make_a_schedule_three_do_not() -> None:
    assert learned(onsets=3).next_quiet(30.0) is None

    spell = learned().next_quiet(26.0)

    # The onsets seen are late (the window fills a while after a burst begins): start early.
    assert spell == Quiet(30.0 - FIRST_LEAD, 30.0 + LENGTH, None)


def test_bursts_at_no_common_period_make_no_schedule() -> None:
    bursts = Recurrence()
    for onset in (10.0, 15.0, 23.0, 26.5):
        bursts.began(onset)
        bursts.ended(onset + LENGTH)

    assert bursts.next_quiet(27.0) is None


def test_an_edge_that_let_a_429_through_moves_out_one_that_did_not_moves_in() -> None:
    bursts = learned()
    first = bursts.next_quiet(26.0)
    assert first is not None

    calm = bursts.next_quiet(first.end)  # nothing came through either edge
    assert calm is not None
    assert calm.start == pytest.approx(first.start + PERIOD + START_RELAX)
    assert calm.end == pytest.approx(first.end + PERIOD - END_RELAX)

    bursts.early(calm.start - 0.05)  # a 429 to a request sent 50 ms before the spell
    after_early = bursts.next_quiet(calm.end)
    assert after_early is not None
    assert after_early.start == pytest.approx(calm.start + PERIOD - MISS_STEP - 0.05, abs=0.01)

    bursts.overran(calm.end + 0.3)  # heard after the next spell was set: its end moves at once
    moved = bursts.spell
    assert moved is not None
    assert moved.end == pytest.approx(after_early.end + MISS_STEP + END_RELAX + MAX_MOVE)


def test_the_period_is_fitted_through_the_spells_the_edges_keep_on_the_bursts() -> None:
    # The onsets suggest 5.15 s; the bursts come every 5.00 s. Play the server: a spell that starts
    # after a burst began lets a 429 through just before it, one that ends before a burst ended
    # just after it.
    bursts = learned(period=5.15)
    now, missed = 26.0, []
    for _ in range(40):
        spell = bursts.next_quiet(now)
        assert spell is not None
        burst = PERIOD * round((spell.start + FIRST_LEAD) / PERIOD)  # the true onset nearest
        if spell.start > burst:
            bursts.early(burst + 0.05)
        now = spell.end
        bursts.next_quiet(now)
        if spell.end < burst + LENGTH:
            bursts.overran(spell.end + 0.05)
        missed.append(spell.start > burst or spell.end < burst + LENGTH)

    assert bursts.period == pytest.approx(PERIOD, abs=0.02)
    # The edges settle where a 429 comes through now and then (this server refuses at once at an edge
    # crossed by a hair; a real one has room in its window for a moment), not every cycle.
    assert sum(missed[-20:]) <= 12  # 10 of the last 20 cycles measured


def test_confirming_requests_answered_forget_the_schedule() -> None:
    bursts = learned()
    now, probes = 26.0, 0
    while bursts.period is not None:
        spell = bursts.next_quiet(now)
        assert spell is not None
        if spell.probe is not None:
            probes += 1
            bursts.missed()  # the bursts stopped: the request late in the spell was admitted
        now = spell.end

    assert probes == MISSES
    assert bursts.next_quiet(now) is None
    assert now < 26.0 + (MISSES + 1) * PROBE_EVERY * PERIOD


def test_a_refused_confirming_request_keeps_the_schedule() -> None:
    bursts = learned()
    now = 26.0
    for _ in range(4 * PROBE_EVERY):
        spell = bursts.next_quiet(now)
        assert spell is not None
        if spell.probe is not None:
            bursts.missed() if bursts.misses == 0 else bursts.confirmed()
        now = spell.end

    assert bursts.period is not None


def test_an_early_429_after_a_new_schedule_replaced_the_spell_is_ignored() -> None:
    bursts = Recurrence()
    bursts.early(12.0)  # no spell: nothing to move, and no error

    assert bursts.next_quiet(12.0) is None
