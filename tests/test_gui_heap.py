"""The collector stays out of the way while long-lived objects are made, then skips them."""

import gc

from fcn_studio.gui.heap import long_lived_objects


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector could free it


def test_no_collection_inside_and_everything_frozen_after():
    runs: list[str] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "start":
            runs.append(phase)

    gc.callbacks.append(seen)
    before = gc.get_freeze_count()
    try:
        assert gc.isenabled()
        with long_lived_objects():
            assert not gc.isenabled()
            keep = [Node() for _ in range(50_000)]  # far past the gen-0 threshold
            assert not runs, "the collector ran inside the block"
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(keep)
    finally:
        gc.callbacks.remove(seen)
        gc.unfreeze()


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        with long_lived_objects():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
