"""The duplicate-key check's store: keys in a scratch database, so memory does not grow with the file."""

from __future__ import annotations

import tracemalloc

import pytest

from fhirpeer.input.scratch_db import KeyDigest
from fhirpeer.input.seen_keys import SeenKeys


@pytest.mark.parametrize("memory_keys", [0, 1, 100])  # all in the scratch database, split, all in memory
def test_first_lines_answers_only_keys_added_before_with_their_first_line(memory_keys: int) -> None:
    with SeenKeys(memory_keys) as seen:
        seen.add([("MRN-1", 2), ("MRN-2", 3)])
        seen.add([("MRN-1", 9), ("MRN-3", 10)])  # a later line never replaces the first
        assert seen.first_lines(["MRN-1", "MRN-2", "MRN-3", "MRN-4"]) == {"MRN-1": 2, "MRN-2": 3, "MRN-3": 10}
        assert seen.first_lines([]) == {}


def test_keys_are_stored_as_keyed_hashes_not_text() -> None:
    with SeenKeys(memory_keys=0) as seen:
        seen.add([("MRN-SECRET-42", 2)])
        assert seen._db is not None
        stored = seen._db.execute("SELECT digest, line FROM seen").fetchall()
    assert len(stored) == 1 and isinstance(stored[0][0], int) and stored[0][1] == 2
    # a fresh key per store: the digests mean nothing outside the run
    assert KeyDigest()("MRN-SECRET-42") != KeyDigest()("MRN-SECRET-42")


def test_memory_stays_flat_for_many_keys_and_the_first_is_still_found() -> None:
    keys = 30_000
    tracemalloc.start()
    try:
        with SeenKeys(memory_keys=1_000) as seen:
            before, _ = tracemalloc.get_traced_memory()
            for start in range(0, keys, 512):
                seen.add((f"K-{n}", n + 2) for n in range(start, min(start + 512, keys)))
            grown = tracemalloc.get_traced_memory()[0] - before
            assert seen.first_lines(["K-0", f"K-{keys - 1}", "K-new"]) == {"K-0": 2, f"K-{keys - 1}": keys + 1}
    finally:
        tracemalloc.stop()
    # a dict of 30,000 keys and lines takes ~3 MiB; the store's pages are SQLite's, outside the Python heap
    assert grown < 1_000_000, grown
