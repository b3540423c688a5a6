"""argparse types whose errors name the value and the rule (argparse adds the argument; exit 2)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any


def bounded(kind: Callable[[str], float], low: float, high: float, what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} from {low:g} to {high:g}")
        return value

    return parse


def matching(pattern: re.Pattern[str], rule: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not pattern.fullmatch(text):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule}")
        return text

    return parse
