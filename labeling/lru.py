"""One least-recently-used cache (stdlib only: the trainer's dataset imports it in every worker).

Used by ``labeling.dataset`` (decoded label blocks, budget in bytes) and ``labeling.review``
(label blocks and JPEG frames, budget in entries). Not thread-safe: callers hold their own lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["LruCache"]


class LruCache:
    """Values by key, the least recently used dropped first while the entries weigh more than
    ``budget`` (the newest entry always stays, however heavy). ``weigh(value)``: an entry's weight,
    1 when not given (then ``budget`` counts entries)."""

    def __init__(self, budget: float, weigh: Callable[[object], float] | None = None):
        self.budget = budget
        self.weigh = weigh
        self._entries: OrderedDict[Hashable, tuple[object, float]] = OrderedDict()
        self.weight = 0.0

    def get(self, key: Hashable, make: Callable[[], object]):
        """The value of ``key``: cached (now the most recent), or ``make()`` cached first."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry[0]
        value = make()
        weight = 1.0 if self.weigh is None else float(self.weigh(value))
        self._entries[key] = (value, weight)
        self.weight += weight
        while self.weight > self.budget and len(self._entries) > 1:
            self.weight -= self._entries.popitem(last=False)[1][1]
        return value

    def clear(self) -> None:
        self._entries.clear()
        self.weight = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries
