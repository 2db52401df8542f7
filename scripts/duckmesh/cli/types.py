"""Command-line values checked before any work starts: a bad number is a usage error
that names the option and the accepted range, never a traceback or a silent default."""

from __future__ import annotations

import math

import click

MIN_SCALE, MAX_SCALE = 0.001, 100.0  # 100 customers .. 10M customers


class FiniteFloat(click.ParamType):
    """A finite float in [low, high] (nan and inf refused)."""

    name = "number"

    def __init__(self, low: float, high: float | None = None, what: str = "") -> None:
        self.low, self.high, self.what = low, high, what

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        upper = f" and {self.high:g}" if self.high is not None else ""
        if not math.isfinite(number) or number < self.low or (
                self.high is not None and number > self.high):
            self.fail(f"{value!r}: give a number between {self.low:g}{upper}"
                      + (f" ({self.what})" if self.what else ""), param, ctx)
        return number


SCALE = FiniteFloat(MIN_SCALE, MAX_SCALE, "1 = 100k customers, 1M orders")
DAYS = FiniteFloat(1 / 24, 3650, "days before the newest run")
COUNT = click.IntRange(min=1)
