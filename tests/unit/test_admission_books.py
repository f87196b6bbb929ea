"""The operator's books of waiters: while the cluster is full every asker waits, and once a slot frees the
earliest waiter gets it, whoever asks first."""

from mlcd.handlers.admission import AdmissionControl
from mlcd.reconcile.admission import Caps


def since(n: int) -> str:
    return f"2030-01-01T03:00:{n:02d}Z"


def test_a_full_cluster_queues_everyone_and_the_earliest_waiter_goes_first():
    now = [0.0]
    books = AdmissionControl(Caps(total=2), waiter_seconds=60, clock=lambda: now[0])
    full = {"team-a": ["r-a", "r-b"]}
    for n in reversed(range(50)):  # the latest waiters ask first
        verdict = books.request("team-b", f"w{n}", since(n), full)
        assert not verdict.admitted
        assert verdict.message == ("queued behind the cluster's cap of 2 runs in flight; the run starts when a slot "
                                   "is free")
    now[0] = 5.0
    freed = {"team-a": ["r-a"]}  # one slot: it belongs to w0, the earliest, not to w7 asking first
    assert not books.request("team-b", "w7", since(7), freed).admitted
    assert books.request("team-b", "w0", since(0), freed).admitted
    assert not books.request("team-b", "w1", since(1), freed).admitted  # w0's reservation holds the slot


def test_free_slots_count_runs_in_flight_and_those_admitted_but_not_yet_seen():
    import math

    from mlcd.handlers.admission import AdmissionControl
    from mlcd.reconcile.admission import Caps

    control = AdmissionControl(Caps(total=5, per_namespace=3), waiter_seconds=60, clock=lambda: 100.0)
    in_flight = {"team-a": ["a1", "a2"], "team-b": ["b1"]}
    total, in_namespace = control.free_slots(in_flight)
    assert (total, in_namespace("team-a"), in_namespace("team-b"), in_namespace("team-c")) == (2, 1, 2, 3)
    assert control.request("team-a", "a3", "2030-01-01T03:00:00Z", in_flight).admitted
    total, in_namespace = control.free_slots(in_flight)  # a3's status write is not back yet: still counted
    assert (total, in_namespace("team-a")) == (1, 0)
    total, in_namespace = AdmissionControl(Caps(), waiter_seconds=60).free_slots(in_flight)
    assert total == math.inf and in_namespace("team-a") == math.inf
