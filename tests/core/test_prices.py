"""Prices as integer ticks of 0.0001, sizes as floats, and every bad value."""

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderbook_lab.core.prices import (
    EMPTY_ASK_TICKS,
    EMPTY_BID_TICKS,
    MAX_TICKS,
    MIN_TICKS,
    InvalidValue,
    best_to_ticks,
    parse_size,
    price_to_ticks,
    tick_to_ticks,
    ticks_to_price,
)


@pytest.mark.parametrize(
    ("text", "ticks"),
    [
        ("0.48", 4800),
        (".48", 4800),
        ("0.480", 4800),
        ("0.4800000", 4800),
        ("4.8e-1", 4800),
        ("0.051", 510),
        ("0.001", 10),
        ("0.0001", 1),
        ("0.9995", 9995),
        ("0.9999", 9999),
        ("0.5", 5000),
        (0.25, 2500),  # a JSON number: accepted when it is on the grid
    ],
)
def test_price_spellings_give_ticks(text, ticks):
    assert price_to_ticks(text) == ticks


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1.2", "outside (0, 1)"),
        ("1", "outside (0, 1)"),
        ("0", "outside (0, 1)"),
        ("-0.1", "not a number"),  # a price has no sign
        ("abc", "not a number"),
        ("", "not a number"),
        ("0.00005", "finer than the 0.0001 tick"),
        ("NaN", "not a number"),
        ("Infinity", "not a number"),
        # What Python's Decimal and float read and an exchange never sends:
        ("0.4_8", "not a number"),
        (" 0.48", "not a number"),
        ("0.48 ", "not a number"),
        ("0. 48", "not a number"),
        ("\u0660.\u0664\u0668", "not a number"),  # Arabic-Indic digits
        ("\uff10.\uff14\uff18", "not a number"),  # full-width digits
        (None, "not a decimal string"),
        (True, "not a decimal string"),
        ([1], "not a decimal string"),
        ({"price": "0.5"}, "not a decimal string"),
        (0.30000000000000004, "finer than the 0.0001 tick"),
    ],
)
def test_bad_prices_are_rejected_with_a_reason(text, reason):
    with pytest.raises(InvalidValue, match=re.escape(reason)):
        price_to_ticks(text)


def test_digits_beyond_decimal_precision_are_not_rounded_onto_the_grid():
    # Bug fixed here: ``value * 1000`` is rounded to 28 digits, which put
    # these two prices on the 0.48 level instead of rejecting them.
    for text in ("0.4800000000000000000000000000001", "0.47999999999999999999999999999999"):
        with pytest.raises(InvalidValue, match=r"finer than the 0\.0001 tick"):
            price_to_ticks(text)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("text", ["1e999999", "1E+999990", "9e999995"])
def test_huge_exponents_are_rejected_at_once(text):
    # Bug fixed here: "1e999999" raised decimal.Overflow out of the parser,
    # and "1E+999990" took ~25 s to turn into an int before being rejected.
    with pytest.raises(InvalidValue, match="out of range"):
        price_to_ticks(text)
    with pytest.raises(InvalidValue, match="out of range"):
        best_to_ticks(text)


def test_best_prices_allow_the_empty_side_sentinels():
    assert best_to_ticks("0") == EMPTY_BID_TICKS == 0
    assert best_to_ticks("1") == EMPTY_ASK_TICKS == 10000
    assert best_to_ticks("1.00") == 10000
    assert best_to_ticks(".5") == 5000
    assert best_to_ticks("0.9995") == 9995
    for bad in ("1.5", "-0.001", "x", "0.00001", "0_5"):
        with pytest.raises(InvalidValue):
            best_to_ticks(bad)


@pytest.mark.parametrize(("text", "ticks"), [("0.1", 1000), ("0.01", 100), ("0.001", 10), ("0.0001", 1)])
def test_tick_sizes_read_into_ticks(text, ticks):
    assert tick_to_ticks(text) == ticks


@pytest.mark.parametrize("text", ["1", "0", "0.00005", "0.01_", "x", None])
def test_bad_tick_sizes_are_rejected(text):
    with pytest.raises(InvalidValue, match="tick size"):
        tick_to_ticks(text)


def test_every_tick_round_trips_through_its_canonical_string():
    for ticks in range(MIN_TICKS, MAX_TICKS + 1):
        text = ticks_to_price(ticks)
        assert price_to_ticks(text) == ticks
        assert text.startswith("0.")
        assert not text.endswith("0"), text  # no trailing zeros beyond the tick
    assert ticks_to_price(EMPTY_BID_TICKS) == "0"
    assert ticks_to_price(EMPTY_ASK_TICKS) == "1"


@pytest.mark.parametrize(("text", "size"), [("30", 30.0), ("0", 0.0), ("16623.83", 16623.83), (5, 5.0)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text",
    [
        "-5",
        "-0.01",
        "NaN",
        "nan",
        "inf",
        "Infinity",
        "abc",
        "",
        "1_000",
        " 5",
        "5 ",
        "1 000",
        "\u0663",  # Arabic-Indic three
        "0x10",
        None,
        True,
        [],
        pytest.param(10**400, id="10**400"),
    ],
)
def test_bad_sizes_are_rejected(text):
    # 10**400 is what JSON decodes a 401-digit integer to: float() overflows
    # (bug fixed here: the OverflowError escaped the parser).
    with pytest.raises(InvalidValue):
        parse_size(text)


@given(st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.booleans()))
def test_price_and_size_conversion_raise_only_invalid_value(value):
    for convert in (price_to_ticks, best_to_ticks, parse_size):
        with contextlib.suppress(InvalidValue):
            convert(value)
