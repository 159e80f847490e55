"""The page view as a reviewer sees it: rendered by headless Chromium (Debian's), not
just parsed. A screenshot lands in reports/screenshots/page.png."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.records import FAILED, PASSED, SKIPPED, ScenarioRecord, StepRecord
from fixtures.render import render_html
from fixtures.report import RunState

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args: str) -> str:
    if CHROMIUM is None:
        pytest.fail("chromium is missing: apt-get install chromium (make setup does it)")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


def record(name: str, feature: str, tag: str, outcome: str, step: StepRecord) -> ScenarioRecord:
    return ScenarioRecord(
        nodeid=f"features/test_egress_control.py::{name}",
        feature=feature,
        feature_file=f"features/{tag}.feature",
        feature_description="",
        name=name,
        description="",
        line=1,
        tags=[f"doc-{tag}"],
        steps=[step],
        outcome=outcome,
        reason=step.message,
    )


def test_the_page_view_renders_every_section_and_verdict(tmp_path: Path) -> None:
    failed = StepRecord(
        keyword="Then",
        text="the response is 200",
        line=3,
        status=FAILED,
        message="got 502 from the proxy",
    )
    records = [
        record("a request succeeds", "Envoy passthrough", "envoy-passthrough", PASSED,
               StepRecord(keyword="Then", text="it works", line=3, status=PASSED)),
        record("a request is blocked", "Blocking by default", "blocking-by-default", FAILED,
               failed),
        record("Mixer logs it", "Access an external HTTP service", "http-service-entry",
               SKIPPED, StepRecord(keyword="Then", text="mixer", line=3, status=SKIPPED,
                                   message="drift: Mixer was removed in Istio 1.8")),
    ]  # fmt: skip
    page = tmp_path / "page.html"
    page.write_text(render_html(records, {"backend": "local"}, "now", RunState()))
    dom = chromium("--dump-dom", page.as_uri())
    for heading in ("Envoy passthrough", "Blocking by default", "Access an external HTTP service"):
        assert f">{heading}</h2>" in dom
    for status in ("passed", "failed", "skipped"):
        assert f'class="badge badge-{status}">{status}</span>' in dom
    assert "got 502 from the proxy" in dom
    shots = ROOT / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    chromium("--window-size=1280,1400", f"--screenshot={shots / 'page.png'}", page.as_uri())
    assert (shots / "page.png").stat().st_size > 10_000
