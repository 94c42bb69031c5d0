import threading
import time

from desktop.core.engines.registry import EnginePool, ModelChoice


class Made:
    def __init__(self, choice):
        self.choice = choice
        self.closed = False

    def close(self):
        self.closed = True


def test_local_models_are_shared_api_models_are_per_pane():
    pool = EnginePool(Made)
    local, api = ModelChoice("local", "default"), ModelChoice("openai", "gpt-4o-mini")
    assert pool.get(local, instance=0) is pool.get(local, instance=1)  # weights in memory once
    assert pool.get(api, instance=0) is not pool.get(api, instance=1)  # stop one pane, not both
    assert pool.get(api, instance=1) is pool.get(api, instance=1)
    first = pool.get(api)
    pool.drop(api)
    assert first.closed and pool.get(api) is not first


def test_a_slow_engine_is_made_once_and_does_not_block_others():
    made = []

    def factory(choice):
        made.append(choice)
        if choice.model == "slow":
            time.sleep(0.5)  # e.g. hashing a large file
        return Made(choice)

    pool = EnginePool(factory)
    slow = ModelChoice("local", "slow")
    threads = [threading.Thread(target=pool.get, args=(slow,)) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    pool.get(ModelChoice("local", "fast"))
    assert time.monotonic() - t0 < 0.3  # not held up by the slow one
    for t in threads:
        t.join()
    assert [c.model for c in made].count("slow") == 1
