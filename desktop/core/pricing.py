"""Cost of an answer from the user-editable price table (USD per million tokens)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .resources import resource


class Prices:
    def __init__(self, table: dict[str, dict[str, float]]):
        self.table = table

    @classmethod
    def load(cls, user_file: Path | None = None) -> "Prices":
        """The user's copy (seeded from resources/ on first use); the shipped table if it is unreadable."""
        shipped = resource("prices.json")
        path = shipped
        if user_file is not None:
            if not user_file.exists():
                user_file.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shipped, user_file)
            path = user_file
        try:
            models = json.loads(path.read_text(encoding="utf-8"))["models"]
        except (OSError, ValueError, KeyError, TypeError):
            models = json.loads(shipped.read_text(encoding="utf-8"))["models"]
        return cls({k: v for k, v in models.items() if isinstance(v, dict)})

    def price(self, model: str, connection: str = "") -> dict[str, float] | None:
        """The row for `model`; a row named "<model>@<connection id>" wins over the plain one, so
        the same model can cost differently per provider (OpenRouter's markup, a free local box).
        A row matches a longer dated name too ("gpt-4o-mini" prices "gpt-4o-mini-2024-07-18")."""
        def matches(key: str, wanted: str) -> bool:
            row_model, _, row_connection = key.rpartition("@") if "@" in key else (key, "", "")
            return row_connection == wanted and (model == row_model or model.startswith(row_model + "-"))

        for wanted in ([connection] if connection else []) + [""]:
            rows = [k for k in self.table if matches(k, wanted)]
            if rows:
                return self.table[max(rows, key=len)]
        return None

    def cost(self, model: str, tokens_in: int | None, tokens_out: int | None, connection: str = "") -> float | None:
        p = self.price(model, connection)
        if p is None or tokens_in is None or tokens_out is None:
            return None
        try:
            return (tokens_in * float(p.get("input") or 0) + tokens_out * float(p.get("output") or 0)) / 1_000_000
        except (TypeError, ValueError):  # the user's hand-edited table has a non-number here: no cost, no crash
            return None
