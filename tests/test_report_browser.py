"""Render report.html, one self-contained file, in headless Chromium: every embedded image
must load; take a screenshot.

Needs the Debian package ``chromium`` (``make browser``), or set ``RELABEL_CHROMIUM`` to a
Chromium/Chrome binary: the session's ``chromium`` fixture (tier ``browser``) FAILS the test
when it is missing.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from html import unescape
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from relabel.findings import find_issues
from relabel.report import CycleRow, ReportInputs, ReviewerRow, shift_check, write_report

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]

# Appended to a copy of the report: once every resource has loaded, list the images
# that did not decode; --dump-dom then prints the result with the DOM.
PROBE = """
<img id="probe-sentinel" src="does-not-exist.png" alt="">
<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const bad = imgs.filter((i) => !(i.complete && i.naturalWidth > 0))
                  .map((i) => i.getAttribute("src"));
  const out = document.createElement("pre");
  out.id = "img-check";
  out.textContent = JSON.stringify({total: imgs.length, bad: bad});
  document.body.appendChild(out);
});
</script>
"""


def run_chromium(
    chromium: str, args: list[str], timeout: float = 90.0
) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="relabel-chromium-") as profile:
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def build_report(tmp_path: Path) -> Path:
    digits = load_digits()
    rng = np.random.default_rng(0)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    pick = np.concatenate([np.flatnonzero(digits.target == c)[:25] for c in range(10)])
    paths, true = [], digits.target[pick]
    for i in pick:
        p = img_dir / f"digit_{i:04d}.png"
        Image.fromarray((digits.images[i] * 15).astype(np.uint8), mode="L").save(p)
        paths.append(str(p))
    n, k = len(pick), 10
    given = true.copy()
    for a, b in ((1, 7), (7, 1), (3, 8)):
        idx = np.flatnonzero(true == a)
        given[rng.choice(idx, 6, replace=False)] = b
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += 4
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pair = np.zeros((k, k))
    np.add.at(pair, (given, true), 1)
    np.fill_diagonal(pair, 0)
    noise = pair + np.diag(np.bincount(given, minlength=k) - pair.sum(1))
    noise /= noise.sum(1, keepdims=True)
    suspicion = 1 - probs[np.arange(n), given]
    pred = probs.argmax(1)
    feats = np.asarray([digits.images[i].ravel() / 16 for i in pick])
    inputs = ReportInputs(
        project_name="digits <demo>",
        classes=names,
        sample_ids=[Path(p).stem for p in paths],
        paths=paths,
        given=given,
        probs=probs,
        suspicion=suspicion,
        rank=np.argsort(np.argsort(-suspicion)),
        lane=np.where(pred != given, "label_issue", "ok"),
        noise_matrix=noise,
        errors_per_class=pair.sum(1),
        errors_per_pair=pair,
        original=true,
        cycles=[
            CycleRow(1, 40, 40, 14, 0.35, 10.0, 0.86, 0.85),
            CycleRow(2, 40, 38, 6, 6 / 38, 4.0, 0.90, 0.89),
        ],
        reviewers=[ReviewerRow("ann", 50, 0.94, 1), ReviewerRow("bob", 28, 0.89, 3)],
        shift=shift_check(given, given[::-1], k, feats, 1 - feats[::-1], seed=0),
        generated_at="2025-01-01 12:00",
        run_id="run-0007",
        issues=find_issues(feats, probs, given),
        embeddings=feats,
    )
    return write_report(inputs, tmp_path / "report")


def test_report_renders_in_headless_chromium(tmp_path, chromium):
    html = build_report(tmp_path)
    text = html.read_text(encoding="utf-8")
    n_imgs = len(re.findall(r"<img\b", text))
    assert n_imgs > 50
    # One file to mail: every image is embedded, nothing lies beside the page.
    assert n_imgs == len(re.findall(r'<img\b[^>]* src="data:image/png;base64,', text))
    assert [p.name for p in html.parent.iterdir()] == ["report.html"]

    probe = html.with_name("probe.html")
    probe.write_text(
        html.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    done = run_chromium(chromium, ["--virtual-time-budget=20000", "--dump-dom", probe.as_uri()])
    found = re.search(r'<pre id="img-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"no image check in the DOM; chromium said:\n{done.stderr[-3000:]}"
    check = json.loads(unescape(found.group(1)))
    assert check["total"] == n_imgs + 1
    # The sentinel proves the probe notices a broken image; nothing else may be broken.
    assert check["bad"] == ["does-not-exist.png"], check["bad"]

    shot = tmp_path / "screenshot.png"
    done = run_chromium(
        chromium,
        [
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            "--virtual-time-budget=20000",
            html.as_uri(),
        ],
    )
    assert shot.is_file(), f"no screenshot; chromium said:\n{done.stderr[-3000:]}"
    with Image.open(shot) as im:
        assert im.size == (1280, 2400)
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    assert pixels.std() > 10, "the screenshot looks blank"
    assert (pixels < 128).mean() > 0.01, "the screenshot has almost no dark (text) pixels"
