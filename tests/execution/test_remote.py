"""Remote tracebacks: attached as the cause, with cell files labelled as IPython does."""

from __future__ import annotations

from godnb.execution.remote import RemoteTraceback, set_file_labeller, with_remote_traceback

TB = ('Traceback (most recent call last):\n'
      '  File "/tmp/ipykernel_1/42.py", line 3, in parse\n'
      '    return rec["id"]\n'
      '  File "/usr/lib/helpers.py", line 9, in get\n'
      "KeyError: 'id'\n")


def test_the_workers_traceback_becomes_the_cause() -> None:
    err = with_remote_traceback(KeyError("id"), TB)
    assert isinstance(err.__cause__, RemoteTraceback) and err.__cause__.tb == TB
    kept = ValueError("x")
    kept.__cause__ = OSError("own cause")
    assert with_remote_traceback(kept, TB).__cause__.args == ("own cause",)  # type: ignore[union-attr]
    assert with_remote_traceback(ValueError("y"), None).__cause__ is None


def test_cell_files_are_labelled_and_others_kept() -> None:
    def label(filename: str) -> str | None:
        if filename == "/usr/lib/helpers.py":
            raise RuntimeError("a broken labeller")
        return "Cell In[7]" if filename.startswith("/tmp/ipykernel_") else None

    set_file_labeller(label)
    try:
        tb = str(with_remote_traceback(KeyError("id"), TB).__cause__)
    finally:
        set_file_labeller(None)
    assert '  Cell In[7], line 3, in parse\n    return rec["id"]' in tb
    assert 'File "/usr/lib/helpers.py", line 9, in get' in tb  # kept as written
