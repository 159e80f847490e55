"""The injection the fake backend reads (clusters/istio/recorded/injection.json) is Istio's.

Each recorded workload is the sleep sample's Deployment and pod as Istio's injector (in
egress-istiod) left them, and ``nat`` is what Istio's istio-iptables hands
iptables-restore for that pod's istio-init arguments (``--dry-run``: nothing is applied,
no root needed). The tests fail when the pinned build injects otherwise; after a
deliberate Istio upgrade regenerate with ``python tests/unit/test_recorded_injection.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from clusters.fake.cluster import INTERNAL_IP_RANGES
from clusters.istio import injection as injection_facts
from clusters.istio import recorded
from clusters.local.istiod_plane import IstiodControlPlane
from clusters.protocol import Injection

RECORDING = Path(recorded.__file__).parent / recorded.INJECTION
POD_NAME = "sleep-6c8b9f5d4-k2x7p"
RESTORE_INPUT = "the following input:\n"  # istio-iptables' words before the table it loads
RANGES: tuple[list[str] | None, ...] = (None, list(INTERNAL_IP_RANGES))
COMBINATIONS = [(injection, ranges) for injection in Injection for ranges in RANGES]


def recording() -> dict[str, Any]:
    return json.loads(RECORDING.read_text())


@pytest.fixture(scope="module")
def istiod() -> Iterator[IstiodControlPlane]:
    directory = Path(tempfile.mkdtemp(prefix="egc-injection-"))
    try:
        with IstiodControlPlane.standalone(directory) as plane:
            yield plane
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def nat_table(plane: IstiodControlPlane, init_args: Sequence[str]) -> str:
    """What Istio's istio-iptables would load for istio-init's arguments."""
    completed = subprocess.run(
        [str(plane.iptables_binary), *init_args, "--dry-run"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    printed = completed.stdout + completed.stderr
    table = printed.split(RESTORE_INPUT, 1)[1]
    return table[: table.index("COMMIT\n") + len("COMMIT\n")]


def workload(plane: IstiodControlPlane, injection: Injection, ranges: list[str] | None) -> dict:
    """One workload as the recording keeps it."""
    made = plane.deploy(injection_facts.sleep_deployment(), injection, POD_NAME, ranges)
    init_args = injection_facts.init_args(made.pod) or []
    return {
        "injection": injection.value,
        "include_ip_ranges": ranges,
        "deployment": made.deployment,
        "pod": made.pod,
        "init_args": init_args,
        "nat": nat_table(plane, init_args),
    }


def test_recording_is_for_the_running_istio(istiod: IstiodControlPlane) -> None:
    assert recording()["istio"] == istiod.versions()["istio"], (
        f"{RECORDING} is for another Istio build: `python tests/unit/test_recorded_injection.py`"
    )


@pytest.mark.parametrize(("injection", "ranges"), COMBINATIONS)
def test_istio_injects_as_recorded(
    istiod: IstiodControlPlane, injection: Injection, ranges: list[str] | None
) -> None:
    assert recorded.injected(injection, ranges) == workload(istiod, injection, ranges)


@pytest.mark.parametrize(("injection", "ranges"), COMBINATIONS)
def test_the_recorded_pods_read_as_their_injection(
    injection: Injection, ranges: list[str] | None
) -> None:
    found = recorded.injected(injection, ranges)
    assert found is not None
    assert injection_facts.injected_by(found["deployment"], found["pod"]) is injection
    expected = None if ranges is None else tuple(ranges)
    assert injection_facts.include_ip_ranges(found["pod"]) == expected
    assert recorded.nat_table(found["init_args"]) == found["nat"]


def record() -> None:
    directory = Path(tempfile.mkdtemp(prefix="egc-injection-"))
    try:
        with IstiodControlPlane.standalone(directory) as plane:
            workloads = [workload(plane, injection, ranges) for injection, ranges in COMBINATIONS]
            text = json.dumps(
                {"istio": plane.versions()["istio"], "workloads": workloads},
                indent=1,
                ensure_ascii=False,
            )
            RECORDING.write_text(text + "\n")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"wrote {RECORDING}: {len(workloads)} workloads")


if __name__ == "__main__":
    record()
