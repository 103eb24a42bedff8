"""A per-process, size-bounded LRU of computed analyses, keyed by what they were computed
from, including the database's data version: nothing here can go stale, an entry computed
from older data is simply never asked for again (and is dropped once a newer version shows)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

#: A data version: (row id, counter), compared as a tuple (both only grow); (0, 0) = no row.
Version = tuple[int, int]


class AnalysisCache:
    """Least recently used entries go first once the estimated bytes exceed `max_bytes`."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._version: Version = (0, 0)
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: Version) -> Any | None:
        with self._lock:
            self._see(version)
            found = self._entries.get((version, key))
            if found is None:
                return None
            self._entries.move_to_end((version, key))
            return found[0]

    def put(self, key: Hashable, version: Version, value: Any, size: int) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            self._see(version)
            if version != self._version:
                return  # computed from data older than what another request has seen
            old = self._entries.pop((version, key), None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[(version, key)] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _key, (_value, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def get_or_compute(
        self, key: Hashable, version: Version, compute: Callable[[], tuple[Any, int]]
    ) -> Any:
        found = self.get(key, version)
        if found is None:
            found, size = compute()
            self.put(key, version, found, size)
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def size(self) -> tuple[int, int]:
        """(entries, estimated bytes)."""
        return len(self._entries), self._bytes

    def _see(self, version: Version) -> None:
        """A newer data version makes every older entry unreachable: free them at once. (A
        request still reading an older snapshot neither finds nor stores anything.)"""
        if version <= self._version:
            return
        self._version = version
        for stale in [k for k in self._entries if k[0] != version]:
            self._bytes -= self._entries.pop(stale)[1]
