"""A WHERE clause built from optional filters, for the SQLite backend's listing queries."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Where:
    """Conditions joined by AND; a filter whose value is None adds nothing."""

    def __init__(self, *conditions: str, params: Iterable[Any] = ()) -> None:
        self.conditions = list(conditions)
        self.params = list(params)

    def add(self, condition: str, value: Any) -> Where:
        """`condition` holds one `?` for `value`; skipped when value is None."""
        if value is not None:
            self.conditions.append(condition)
            self.params.append(value)
        return self

    def one_of(self, column: str, values: Iterable[Any] | None) -> Where:
        """`column IN (…)`; skipped when values is None."""
        if values is not None:
            wanted = list(values)
            self.conditions.append(f"{column} IN ({', '.join('?' * len(wanted))})")
            self.params += wanted
        return self

    @property
    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""
