"""ssmc.tasks: the theory tasks at the small sizes of test/unit TasksTest,
their tables and claims as Python objects."""

import pytest

import ssmc.tasks as tasks


def test_copy_small_grid():
    lines = []
    r = tasks.run("copy", lengths=[8, 32], state_sizes=[4, 8, 32], samples=4, decays=[0.9],
                  decay_lengths=[512], progress=lines.append)
    assert r.task.lower() == "copy"
    onehot = r.table("copy_onehot")
    assert len(onehot.rows) == 6
    for row in onehot.rows:
        n, length = int(row[2]), int(row[5])
        assert (row[9] == "4/4") == (n >= length), row
    assert onehot.records()[0].keys() == set(onehot.columns)
    assert "|" in onehot.markdown and "," in onehot.csv
    assert r.claims and all(c.supported for c in r.claims), [c for c in r.claims if not c.supported]
    assert lines, "progress was never called"


def test_dp_small():
    r = tasks.run("dp", lis_sizes=[8], edit_sizes=[4], arithmetic_ops=[4], local_sizes=[200], samples=3)
    assert r.claims and all(c.supported for c in r.claims)
    t = r.tables[0]
    for row in t.rows:
        if row[2].startswith("O(T)") or "local" in row[0]:
            assert row[9] == "100.0%", row


def test_unknown_task_and_option():
    with pytest.raises(ValueError, match="unknown task"):
        tasks.run("nope")
    with pytest.raises(ValueError, match="lenghts"):
        tasks.run("copy", lenghts=[8])
    with pytest.raises(KeyError):
        tasks.TaskResult("x").table("missing")
