"""The suite's command-line options refuse values that would make every wait fail."""

import argparse

import pytest

from fixtures.options import seconds


def test_seconds_accepts_a_positive_number():
    assert seconds("30") == 30.0
    assert seconds("0.5") == 0.5


@pytest.mark.parametrize("text", ["0", "-1", "abc", "inf", "nan", ""])
def test_seconds_refuses_the_rest_in_one_line(text):
    with pytest.raises(argparse.ArgumentTypeError, match="not a positive number of seconds"):
        seconds(text)
