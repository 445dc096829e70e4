"""Currency exponents and exact minor <-> major conversion, in Python and in Polars."""

# Expected value first is this project's test convention (DESIGN.md), which SIM300 calls yoda.

from __future__ import annotations

import decimal
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finlab import money
from finlab.errors import ConfigurationError

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
EDGES = [0, 1, -1, 2**63 - 1, -(2**63), 2**63 - 2, -(2**63) + 1, 10**18, -(10**18), 999, -999]

# The lists as Stripe's "Supported currencies" page states them. UGX is on its zero-decimal list, but
# its special-cases table says the API takes UGX (like ISK) with two decimals: 5 UGX is 500.
DESIGN_ZERO = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".lower().split()
DESIGN_THREE = "BHD JOD KWD OMR TND".lower().split()

CURRENCIES_BY_EXPONENT = {
    0: sorted(money.ZERO_DECIMAL),
    2: sorted(money.KNOWN_CURRENCIES - money.ZERO_DECIMAL - money.THREE_DECIMAL),
    3: sorted(money.THREE_DECIMAL),
}
ANY_KNOWN = st.sampled_from(sorted(money.KNOWN_CURRENCIES))


def test_zero_and_three_decimal_lists_match_stripe() -> None:
    assert set(DESIGN_ZERO) == money.ZERO_DECIMAL
    assert set(DESIGN_THREE) == money.THREE_DECIMAL
    assert money.ZERO_DECIMAL <= money.KNOWN_CURRENCIES
    assert money.THREE_DECIMAL <= money.KNOWN_CURRENCIES


@pytest.mark.parametrize("code", DESIGN_ZERO)
def test_zero_decimal_exponent(code: str) -> None:
    assert 0 == money.exponent(code)
    assert 0 == money.exponent(code.upper())


@pytest.mark.parametrize("code", DESIGN_THREE)
def test_three_decimal_exponent(code: str) -> None:
    assert 3 == money.exponent(code)
    assert 3 == money.exponent(code.upper())


@pytest.mark.parametrize("code", ["usd", "USD", "eur", "gbp", "chf", "Sek", "huf", "twd"])
def test_two_decimal_exponent(code: str) -> None:
    assert 2 == money.exponent(code)


@pytest.mark.parametrize("code", ["isk", "ugx"])
def test_whole_unit_currencies_stripe_keeps_two_decimal_count_hundredths(code: str) -> None:
    assert Decimal("5.00") == money.to_major(500, code)  # Stripe: "to charge 5 UGX, provide 500"


def test_a_code_outside_stripes_list_is_unknown_not_guessed() -> None:
    assert (False, True) == (money.is_known("xcg"), money.is_known("USD"))
    with pytest.raises(ConfigurationError, match="xcg"):
        money.exponent("xcg")


@pytest.mark.parametrize("code", ["xyz", "", "us", "usd ", "bitcoin"])
def test_unknown_code_raises_naming_it(code: str) -> None:
    with pytest.raises(ConfigurationError, match=f"Unknown currency code {code!r}"):
        money.exponent(code)
    with pytest.raises(ConfigurationError, match="Unknown currency"):
        money.to_major(100, code)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (1999, "usd", Decimal("19.99")),
        (-1999, "usd", Decimal("-19.99")),
        (5, "eur", Decimal("0.05")),
        (1500, "jpy", Decimal("1500")),
        (1234, "kwd", Decimal("1.234")),
        (1, "bhd", Decimal("0.001")),
        (0, "usd", Decimal("0")),
        (2**63 - 1, "usd", Decimal("92233720368547758.07")),
        (-(2**63), "kwd", Decimal("-9223372036854775.808")),
    ],
)
def test_to_major_exact(amount: int, currency: str, expected: Decimal) -> None:
    assert expected == money.to_major(amount, currency)
    assert amount == money.to_minor(expected, currency)


def test_to_major_keeps_the_currency_scale() -> None:
    assert "19.90" == str(money.to_major(1990, "usd"))
    assert "1.230" == str(money.to_major(1230, "kwd"))
    assert "1500" == str(money.to_major(1500, "jpy"))


@pytest.mark.parametrize("exp", sorted(CURRENCIES_BY_EXPONENT))
@settings(max_examples=150)
@given(data=st.data())
def test_round_trip_minor_major_minor(exp: int, data: st.DataObject) -> None:
    currency = data.draw(st.sampled_from(CURRENCIES_BY_EXPONENT[exp]))
    amount = data.draw(st.one_of(INT64, st.sampled_from(EDGES)))
    major = money.to_major(amount, currency)
    assert exp == money.exponent(currency)
    assert Decimal(amount) / (10**exp) == major
    assert amount == money.to_minor(major, currency)


def test_conversion_ignores_a_low_precision_decimal_context() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 5
        assert Decimal("92233720368547758.07") == money.to_major(2**63 - 1, "usd")
        assert 2**63 - 1 == money.to_minor(Decimal("92233720368547758.07"), "usd")
        assert 123456789 == money.to_minor(Decimal("123456.789"), "kwd")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [(Decimal("0.001"), "usd"), (Decimal("1.5"), "jpy"), (Decimal("0.0001"), "kwd")],
)
def test_to_minor_refuses_to_round(amount: Decimal, currency: str) -> None:
    with pytest.raises(ConfigurationError, match="more decimals than the currency allows"):
        money.to_minor(amount, currency)


@pytest.mark.parametrize(
    "amount", [Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN"), Decimal("sNaN")]
)
def test_to_minor_refuses_non_finite(amount: Decimal) -> None:
    with pytest.raises(ConfigurationError, match="not a finite amount"):
        money.to_minor(amount, "usd")


def test_to_minor_accepts_trailing_zeros() -> None:
    assert 1990 == money.to_minor(Decimal("19.900"), "usd")
    assert 1500 == money.to_minor(Decimal("1500.00"), "jpy")
    assert 1500 == money.to_minor(Decimal("1.5E+3"), "jpy")


# -- Polars -----------------------------------------------------------------------------------


def _major_column(amounts: list[int | None], currencies: list[str | None]) -> list[Decimal | None]:
    frame = pl.DataFrame({"a": amounts, "c": currencies}, schema={"a": pl.Int64, "c": pl.String})
    out = frame.select(money.major_expr(pl.col("a"), pl.col("c")).alias("m"))
    assert money.MAJOR_DTYPE == out.schema["m"]
    return out.get_column("m").to_list()


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.one_of(INT64, st.sampled_from(EDGES)), st.one_of(ANY_KNOWN, ANY_KNOWN.map(str.upper))),
        min_size=1,
        max_size=40,
    )
)
def test_major_expr_equals_to_major(rows: list[tuple[int, str]]) -> None:
    amounts = [a for a, _ in rows]
    currencies = [c for _, c in rows]
    expected = [money.to_major(a, c) for a, c in rows]
    assert expected == _major_column(amounts, currencies)  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["usd", "jpy", "kwd"])
def test_major_expr_at_the_int64_limits(currency: str) -> None:
    expected = [money.to_major(a, currency) for a in EDGES]
    assert expected == _major_column(EDGES, [currency] * len(EDGES))  # type: ignore[arg-type]


def test_major_expr_nulls_for_unknown_or_missing() -> None:
    assert [Decimal("15.00"), None, None, None] == _major_column(
        [1500, 1500, None, 1500], ["usd", "xyz", "usd", None]
    )


def test_exponent_expr() -> None:
    frame = pl.DataFrame({"c": ["usd", "JPY", "kwd", "xyz", None]})
    assert [2, 0, 3, None, None] == frame.select(money.exponent_expr(pl.col("c"))).to_series().to_list()
