"""The README's main command path: `napwidget demo --html` writes a standalone view of the digits demo."""

from __future__ import annotations

import re

from napwidget.__main__ import main


def test_demo_html_writes_standalone_view(tmp_path, capsys):
    out = tmp_path / "demo.html"
    assert main(["demo", "--html", str(out)]) == 0
    html = out.read_text()
    assert "wrote" in capsys.readouterr().out
    assert len(html) > 100_000  # the bundle and the state are inlined
    # offline: no script or stylesheet is loaded from the network
    assert not re.search(r"<script[^>]+src=[\"']https?://", html)
    assert not re.search(r"<link[^>]+href=[\"']https?://", html)
    assert "relu4" in html  # the demo's default layer is in the embedded state
