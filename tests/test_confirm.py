# SPDX-License-Identifier: LGPL-2.1-or-later
"""
The pure logic of live confirmation (drgn_softleaf.live): re-reading
candidates in shared rounds, and reading an entry, what it names and the
entry again until both agree. The live guest (tests/test_live.py) proves
it on a running kernel; these pin the rules.
"""

import itertools
import time

from drgn_softleaf.live import confirm_all, consistent


def test_a_state_that_holds_persists_over_every_read():
    [c] = confirm_all([((("locked", False), ("refcount", 2)),
                        lambda: (("locked", False), ("refcount", 2)))], 3, 0.01)
    assert c.persisted and c.reads == 4 and c.change is None
    assert c.text().startswith("persisted") and "over 4 reads" in c.text()


def test_the_first_read_that_differs_refutes_and_names_the_field():
    reads = iter([(("locked", False), ("refcount", 2)), (("locked", True), ("refcount", 2))])
    [c] = confirm_all([((("locked", False), ("refcount", 2)), lambda: next(reads))], 3, 0.01)
    assert not c.persisted and c.reads == 2
    assert c.change == "locked False -> True"


def test_an_unreadable_state_refutes():
    [c] = confirm_all([(1, lambda: None)], 3, 0.01)
    assert not c.persisted and c.reads == 1 and c.change == "cannot be read consistently"


def test_candidates_share_rounds():
    """Confirming many candidates takes about confirmations * interval,
    not that much per candidate."""
    start = time.monotonic()
    results = confirm_all([(i, (lambda i=i: i)) for i in range(50)], 3, 0.05)
    assert all(c.persisted for c in results)
    assert time.monotonic() - start < 1.0


def test_consistent_retries_until_the_entry_holds_still():
    entries = iter([1, 2, 2])
    rest_of = []
    got = consistent(lambda: next(entries), lambda e: rest_of.append(e) or e * 10)
    assert got == (2, 20) and rest_of == [1, 2]


def test_consistent_gives_up_on_an_entry_that_always_changes():
    counter = itertools.count()
    assert consistent(lambda: next(counter), lambda e: e, attempts=5) is None
