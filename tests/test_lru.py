"""labeling.lru.LruCache: what stays, what is dropped, and how often a value is made."""

from labeling.lru import LruCache


def test_entries_budget_drops_the_least_recently_used():
    cache, made = LruCache(2), []

    def make(key):
        return lambda: made.append(key) or key * 10

    assert cache.get(1, make(1)) == 10 and cache.get(2, make(2)) == 20
    assert cache.get(1, make(1)) == 10  # touched: now the most recent
    cache.get(3, make(3))  # over budget: 2 goes, not 1
    assert 1 in cache and 3 in cache and 2 not in cache and len(cache) == 2
    assert made == [1, 2, 3]


def test_weighted_budget_keeps_the_newest_however_heavy():
    cache = LruCache(100, weigh=len)
    cache.get("a", lambda: "x" * 60)
    cache.get("b", lambda: "y" * 30)
    assert cache.weight == 90 and len(cache) == 2
    cache.get("c", lambda: "z" * 500)  # heavier than the budget alone: only it stays
    assert len(cache) == 1 and "c" in cache and cache.weight == 500
    cache.clear()
    assert len(cache) == 0 and cache.weight == 0
