"""``%god report PATH`` and ``%god timeline`` through a real IPython shell."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from godnb import Engine
from godnb.core.timeline import Timeline
from godnb.notebook.rich import Report
from tests.notebook.test_nb_magics import eng, ip, submit  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout(60)


def test_report_magic_writes_one_offline_file(ip: InteractiveShell, eng: Engine,  # noqa: F811
                                              tmp_path: Path) -> None:
    assert submit(ip, "--name rep", "6 * 7").result(timeout=10) == 42
    target = tmp_path / "run.html"
    out = ip.run_line_magic("god", f"report {target}")
    assert isinstance(out, Report)
    assert str(out).startswith(f"wrote {target} (") and "offline" in str(out)
    assert f'href="{target}"' in out._repr_html_()
    html = target.read_text()
    assert "godnb run report: magic" in html and "<svg" in html and "rep" in html
    assert not re.search(r"(src|href)=[\"']?https?:", html)
    with pytest.raises(UsageError, match="can not write"):
        ip.run_line_magic("god", f"report {tmp_path / 'no' / 'such' / 'dir.html'}")
    with pytest.raises(UsageError):
        ip.run_line_magic("god", "report")  # the path is required


def test_timeline_magic(ip: InteractiveShell, eng: Engine) -> None:  # noqa: F811
    submit(ip, "--name tl", "1").result(timeout=10)
    tl = ip.run_line_magic("god", "timeline")
    assert isinstance(tl, Timeline) and "tl" in str(tl)
