"""Currency exponents and minor <-> major unit conversion.

Stripe sends every amount as an integer in the currency's minor unit. Most currencies have two
decimals; the zero-decimal ones (JPY, KRW, ...) count whole units and the three-decimal ones (BHD,
KWD, ...) count thousandths. Amounts stay integers until they are shown.

The tables follow Stripe's "Supported currencies" page (docs.stripe.com/currencies), special cases
included: ISK and UGX are whole units in practice, but Stripe's API keeps them two-decimal for
backward compatibility (5 ISK is ``500``, always a multiple of 100), so their exponent is 2; HUF and
TWD charge two decimals (only their payouts are whole units); three-decimal amounts end in 0.
A code outside the tables (``xcg``, ISO 4217 since 2025, is not on Stripe's list) has no known
exponent: `exponent` raises, `is_known` says so, and displays show its minor units.

Examples
--------
>>> exponent("jpy"), exponent("USD"), exponent("kwd")
(0, 2, 3)
>>> to_major(1999, "usd")
Decimal('19.99')
>>> to_minor(to_major(1500, "jpy"), "jpy")
1500
"""

from __future__ import annotations

from decimal import Context, Decimal

import polars as pl

from finlab.errors import ConfigurationError

ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf vnd vuv xaf xof xpf".split())
#: Whole units in practice, two decimals in the API (amounts are multiples of 100): Stripe's special cases.
TWO_DECIMAL_WHOLE_UNITS = frozenset({"isk", "ugx"})
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())

#: ISO 4217 codes Stripe settles or presents in (lower case, as Stripe sends them).
KNOWN_CURRENCIES = (
    ZERO_DECIMAL
    | THREE_DECIMAL
    | TWO_DECIMAL_WHOLE_UNITS
    | frozenset(
        """aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp byn bzd
        cad cdf chf cny cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gtq gyd hkd
        hnl htg huf idr ils inr jmd kes kgs khr kyd kzt lak lbp lkr lrd lsl mad mdl mkd mmk mnt
        mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen pgk php pkr pln qar ron rsd rub
        sar sbd scr sek sgd shp sle sos srd std szl thb tjs top try ttd twd tzs uah usd usdc uyu uzs
        wst xcd yer zar zmw""".split()
    )
)

#: Exact scaling whatever precision the caller's decimal context has (int64 needs 19 digits).
_EXACT = Context(prec=60)

#: Decimal column type for major units: 38 digits, 3 decimals fits every exponent.
MAJOR_DTYPE = pl.Decimal(38, 3)


def is_known(currency: str) -> bool:
    """Whether finlab knows ``currency``'s number of decimals (any case)."""
    return currency.lower() in KNOWN_CURRENCIES


def exponent(currency: str) -> int:
    """Number of decimals in ``currency``'s minor unit (0, 2 or 3).

    Unknown codes raise, so that no amount is silently scaled by the wrong power of ten.
    """
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    if code in KNOWN_CURRENCIES:
        return 2
    msg = (
        f"Unknown currency code {currency!r}: finlab does not know its number of decimals. "
        "Pass an ISO 4217 code such as 'usd', or report the code if Stripe started sending it."
    )
    raise ConfigurationError(msg)


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units -> exact Decimal major units."""
    return Decimal(amount).scaleb(-exponent(currency), _EXACT)


def to_minor(amount: Decimal, currency: str) -> int:
    """Decimal major units -> integer minor units; refuses to round away a fraction."""
    if not amount.is_finite():
        msg = f"{amount} {currency.upper()} is not a finite amount."
        raise ConfigurationError(msg)
    scaled = amount.scaleb(exponent(currency), _EXACT)
    if scaled != scaled.to_integral_value():
        msg = f"{amount} {currency.upper()} has more decimals than the currency allows."
        raise ConfigurationError(msg)
    return int(scaled)


#: Exponent per known currency code, for vectorised lookups.
EXPONENTS: dict[str, int] = {
    code: 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2 for code in KNOWN_CURRENCIES
}


def exponent_expr(currency: pl.Expr) -> pl.Expr:
    """Polars expression: the exponent for each row's currency (null for unknown codes)."""
    return currency.str.to_lowercase().replace_strict(EXPONENTS, default=None, return_dtype=pl.Int8)


def major_expr(amount: pl.Expr, currency: pl.Expr) -> pl.Expr:
    """Polars expression: exact Decimal major units from Int64 minor units and a currency column."""
    return major_of(amount, scale_expr(currency))


def scale_expr(currency: pl.Expr) -> pl.Expr:
    """Polars expression: minor units per major unit of each row's currency (Decimal; null if unknown)."""
    return pl.lit(10, pl.Int64).pow(exponent_expr(currency)).cast(pl.Decimal(38, 0))


def major_of(amount: pl.Expr, scale: pl.Expr) -> pl.Expr:
    """`major_expr` given the currency's `scale_expr`: worked out once, it serves many amount columns."""
    return (amount.cast(MAJOR_DTYPE) / scale).cast(MAJOR_DTYPE)
