"""Load an HTML file in Debian's headless Chromium and report what the browser actually rendered.

The probe script is the test's own (appended to a copy of the page), so a report cannot vouch for itself.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

_PROBE = """
<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const rows = Array.from(document.querySelectorAll('#summary tbody tr')).map(
      tr => Array.from(tr.cells).map(td => td.textContent.trim()));
  const out = {images: imgs.length,
               loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
               sizes: imgs.map(i => [i.naturalWidth, i.naturalHeight]),
               summary: rows,
               text: document.body.innerText.length};
  const pre = document.createElement('pre'); pre.id = '__probe';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>
"""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def probe_html(page: Path, screenshot: Path | None = None) -> dict[str, Any]:
    page = page.resolve()
    """Render ``page`` in headless Chromium; return images found/loaded, their sizes and the summary rows."""
    browser = chromium_path()
    if browser is None:
        raise FileNotFoundError(
            "chromium not installed (Debian: apt-get install chromium; .ci/run does this)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        probed = Path(tmp) / "probed.html"
        text = page.read_text(encoding="utf-8")
        probed.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
        base = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile"]
        proc = subprocess.run(
            [*base, "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120
        )
        if screenshot is not None:
            subprocess.run(
                [*base, f"--screenshot={screenshot}", "--window-size=1200,2400", page.as_uri()],
                capture_output=True,
                timeout=120,
            )
    match = re.search(r'<pre id="__probe">(.*?)</pre>', proc.stdout, re.S)
    if match is None:
        raise RuntimeError(f"page did not finish loading in chromium: {proc.stderr[-2000:]}")
    return json.loads(html.unescape(match.group(1)))
