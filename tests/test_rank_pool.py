"""The rank pool's failure handling (SPEC-free plumbing of adapters/rank_pool.py): a rank that
raises, hangs or dies gives an error, the pool never hangs and never leaves a process behind."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("torch")

from adamspec.adapters.rank_pool import RankError, RankFailure, RankPool  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
sys.path.insert(0, FIXTURES)
PROBE = "rank_handlers:Probe"


def _gone(pids, within=10.0):
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not any(_running(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def pool():
    p = RankPool(2, PROBE, deadline=5.0)
    yield p
    p.close()


def test_a_collective_runs_on_every_rank(pool):
    assert pool.call("total", 10) == [21.0, 21.0]  # (10 + 0) + (10 + 1) on both ranks
    assert len(set(pool.call("pid"))) == 2 and pool.starts == 1


def test_a_rank_that_raises_is_named_and_the_pool_lives_on(pool):
    with pytest.raises(RankError) as err:
        pool.call("fail_on", 1)
    assert set(err.value.errors) == {1} and err.value.kinds == {"ValueError"}
    assert "rank 1 refuses" in str(err.value)
    assert pool.call("total", 0) == [1.0, 1.0] and pool.starts == 1


def test_a_hung_rank_meets_the_deadline_and_the_pool_restarts(pool):
    pids = pool.call("pid")
    t0 = time.monotonic()
    with pytest.raises(RankFailure, match="missed the deadline"):
        pool.call("hang_on", 0)
    assert time.monotonic() - t0 < 5.0 + 3.0
    assert _gone(pids)
    assert pool.call("total", 1) == [3.0, 3.0] and pool.starts == 2


def test_a_rank_that_dies_is_reported_with_its_exit_code(pool):
    pids = pool.call("pid")
    with pytest.raises(RankFailure, match="exit code 7|exited with 7"):
        pool.call("die_on", 1)
    assert _gone(pids) and pool.call("fail_on", 5) == [0, 1]


def test_a_rank_killed_from_outside_mid_call(pool):
    pids = pool.call("pid")
    killer = subprocess.Popen([sys.executable, "-c", f"import os,time,signal; time.sleep(1); "
                               f"os.kill({pids[0]}, signal.SIGKILL)"])
    with pytest.raises(RankFailure):
        pool.call("hang_on", 1)  # rank 1 hangs, rank 0 is killed meanwhile
    killer.wait()
    assert _gone(pids)


def test_a_killed_parent_leaves_no_rank_behind(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {FIXTURES!r})
        from adamspec.adapters.rank_pool import RankPool
        pool = RankPool(2, {PROBE!r})
        print(*pool.call("pid"), flush=True)
        import time; time.sleep(3600)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    pids = [int(x) for x in parent.stdout.readline().split()]
    assert len(pids) == 2 and all(_running(p) for p in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert _gone(pids), "rank processes outlived their parent"


def test_a_handler_that_cannot_be_built_fails_fast():
    pool = RankPool(2, "rank_handlers:broken", deadline=5.0)
    t0 = time.monotonic()
    with pytest.raises(RankError, match="no handler here"):
        pool.call("pid")
    assert time.monotonic() - t0 < 30 and not pool.alive
    pool.close()
