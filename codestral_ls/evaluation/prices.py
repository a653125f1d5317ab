"""Per-model token prices for the cost estimate.  Never fetched: a table shipped with its date,
which the user overrides with ``--prices FILE`` (JSON or TOML, ``{"model": {"input": 0.3,
"output": 0.9}}`` in US dollars per million tokens).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PRICES_DATE", "Price", "PriceTable", "load_prices"]

#: When the default table was written down (from Mistral's public price list at the release of
#: Codestral 25.08).  Prices change: check https://mistral.ai/pricing and override.
PRICES_DATE = "2025-08-01"


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


#: Mistral's API list prices (api.mistral.ai, pay as you go).  Keys on codestral.mistral.ai
#: have been offered at no per-token charge; override with zeros if that is your plan.
DEFAULT_PRICES: dict[str, Price] = {
    "codestral-latest": Price(0.3, 0.9),
    "codestral-2508": Price(0.3, 0.9),
    "codestral-2501": Price(0.3, 0.9),
}

#: Self-hosted backends cost no per-token price (the hardware is another matter).
FREE_BACKENDS = ("ollama", "openai")


class PriceTable:
    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES if prices is None else prices)

    def price(self, model: str, backend: str) -> Price | None:
        """The price of ``model`` on ``backend`` (None: unknown, no estimate)."""
        if model in self.prices:
            return self.prices[model]
        if backend in FREE_BACKENDS:
            return Price(0.0, 0.0)
        return None


def _price(model: str, value: Any) -> Price:
    if not isinstance(value, Mapping):
        raise ValueError(f"price of {model!r} must be an object with 'input' and 'output'")
    try:
        price = Price(float(value["input"]), float(value["output"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"price of {model!r} needs numbers 'input' and 'output' (dollars per million tokens)"
        ) from error
    if price.input < 0 or price.output < 0:
        raise ValueError(f"price of {model!r} must not be negative")
    return price


def load_prices(path: Path | None) -> PriceTable:
    """The default table, with the entries of ``path`` added or replaced."""
    table = PriceTable()
    if path is None:
        return table
    raw = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        data: Any = tomllib.loads(raw)
    else:
        data = json.loads(raw)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected an object of model -> price")
    for model, value in data.items():
        table.prices[str(model)] = _price(str(model), value)
    return table
