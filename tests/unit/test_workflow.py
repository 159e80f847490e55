"""The nightly CI workflow, .github/workflows/conformance.yml, read as data (no network).

Each test names what the workflow lacks when it fails. actionlint checks the file too
where it is installed (it is not installed by the project: the test skips otherwise).
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusters.shared.gobuild import pinned_versions

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"
MINOR = re.compile(r"^1\.(\d+)$")
# A version tag (v6, v4.2.1) or a full commit SHA.
PINNED_REF = re.compile(r"^(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    assert WORKFLOW.is_file(), f"the nightly workflow {WORKFLOW.relative_to(ROOT)} is missing"
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{WORKFLOW.name} is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = workflow.get("jobs")
    assert isinstance(jobs, dict) and jobs, f"{WORKFLOW.name} has no jobs"
    return jobs


@pytest.fixture(scope="module")
def matrix_job(jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    with_matrix = [job for job in jobs.values() if "matrix" in job.get("strategy", {})]
    assert len(with_matrix) == 1, (
        f"expected one matrix job (local and kind entries), found {len(with_matrix)}"
    )
    return with_matrix[0]


@pytest.fixture(scope="module")
def entries(matrix_job: dict[str, Any]) -> list[dict[str, Any]]:
    return expand_matrix(matrix_job["strategy"]["matrix"])


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The `on:` block; YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True."""
    found = workflow.get("on", workflow.get(True))
    assert isinstance(found, dict), f"{WORKFLOW.name} has no `on:` triggers mapping"
    return found


def expand_matrix(matrix: dict[str, Any]) -> list[dict[str, Any]]:
    """The jobs GitHub Actions makes of a matrix: the product of its lists less `exclude`,
    then each `include` added to every combination whose original values it keeps, or
    appended as a combination of its own when it fits none."""
    keys = [key for key in matrix if key not in ("include", "exclude")]
    for key in keys:
        assert isinstance(matrix[key], list), f"matrix.{key} is not a static list"
    combinations = (
        [
            dict(zip(keys, values, strict=True))
            for values in itertools.product(*map(matrix.get, keys))
        ]
        if keys
        else []
    )
    for excluded in matrix.get("exclude") or []:
        combinations = [
            combo
            for combo in combinations
            if any(combo.get(key) != value for key, value in excluded.items())
        ]
    originals = [dict(combo) for combo in combinations]
    extra: list[dict[str, Any]] = []
    for included in matrix.get("include") or []:
        fitted = False
        for original, combo in zip(originals, combinations, strict=True):
            if all(original.get(key, value) == value for key, value in included.items()):
                combo.update(included)
                fitted = True
        if not fitted:
            extra.append(dict(included))
    return combinations + extra


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps = job.get("steps")
    assert isinstance(steps, list) and steps, "a job has no steps"
    return steps


def run_steps(job: dict[str, Any], pattern: str) -> list[dict[str, Any]]:
    return [step for step in steps_of(job) if re.search(pattern, str(step.get("run", "")))]


def uses_steps(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps_of(job) if str(step.get("uses", "")).startswith(action + "@")]


def step_if(step: dict[str, Any]) -> str:
    return str(step.get("if", ""))


def test_it_runs_nightly_and_by_hand(workflow: dict[str, Any]) -> None:
    on = triggers(workflow)
    assert "schedule" in on, "no `schedule` trigger: the workflow must run nightly"
    crons = [entry.get("cron", "") for entry in on["schedule"] or []]
    assert crons and all(len(cron.split()) == 5 for cron in crons), (
        f"the schedule needs a five-field cron, found {crons}"
    )
    assert "workflow_dispatch" in on, "no `workflow_dispatch` trigger: no way to run it by hand"
    inputs = (on["workflow_dispatch"] or {}).get("inputs") or {}
    for name in ("backend", "istio"):
        assert name in inputs, f"workflow_dispatch has no `{name}` input to pick it by hand"


def test_the_matrix_has_a_local_entry_and_the_three_newest_minors_on_kind(
    entries: list[dict[str, Any]],
) -> None:
    backends = [entry.get("backend") for entry in entries]
    assert backends.count("local") == 1, f"expected one `local` matrix entry, found {backends}"
    kind = [entry.get("istio") for entry in entries if entry.get("backend") == "kind"]
    assert len(kind) == 3, f"expected kind entries for three Istio minors, found {kind}"
    for version in kind:
        # An unquoted 1.30 is the float 1.3 in YAML.
        assert isinstance(version, str) and MINOR.match(version), (
            f"kind's Istio version {version!r} is not a quoted string of the form 1.N"
        )
    minors = sorted(int(MINOR.match(version).group(1)) for version in kind)
    assert minors == list(range(minors[0], minors[0] + 3)), (
        f"kind's Istio minors {kind} are not three consecutive releases"
    )


def test_the_dispatch_choices_follow_the_matrix_and_the_pins(
    workflow: dict[str, Any], entries: list[dict[str, Any]]
) -> None:
    dispatch = triggers(workflow).get("workflow_dispatch") or {}
    istio = (dispatch.get("inputs") or {}).get("istio")
    assert isinstance(istio, dict), "workflow_dispatch has no `istio` input"
    options = [str(option) for option in istio.get("options", [])]
    kind = {entry["istio"] for entry in entries if entry.get("backend") == "kind"}
    missing = sorted(kind - set(options))
    assert not missing, f"the dispatch input `istio` lacks the matrix's kind minors {missing}"
    unknown = [
        option
        for option in options
        if option != "all" and not MINOR.match(option) and option not in pinned_versions()
    ]
    assert not unknown, (
        f"the dispatch input `istio` offers {unknown}: neither a minor nor a pinned build "
        f"({', '.join(pinned_versions())})"
    )


def test_the_matrix_runs_every_entry_to_the_end(matrix_job: dict[str, Any]) -> None:
    assert matrix_job["strategy"].get("fail-fast") is False, (
        "strategy.fail-fast must be false: one backend failing must not cancel the others"
    )


def test_every_job_has_a_timeout(jobs: dict[str, dict[str, Any]]) -> None:
    missing = [name for name, job in jobs.items() if not job.get("timeout-minutes")]
    assert not missing, f"jobs without timeout-minutes: {missing}"


def test_permissions_are_read_only(workflow: dict[str, Any]) -> None:
    permissions = workflow.get("permissions")
    assert permissions == {"contents": "read", "actions": "read"}, (
        "top-level permissions must be `contents: read` and `actions: read` (to download "
        f"last night's artifact), found {permissions}"
    )


def test_every_job_always_uploads_its_reports(jobs: dict[str, dict[str, Any]]) -> None:
    for name, job in jobs.items():
        uploads = [
            step
            for step in uses_steps(job, "actions/upload-artifact")
            if str(step.get("with", {}).get("path", "")).strip().rstrip("/") == "reports"
        ]
        assert uploads, f"job {name} does not upload reports/ (actions/upload-artifact)"
        for step in uploads:
            assert "always()" in step_if(step), (
                f"job {name} uploads reports/ without `if: always()`: a failed run's reports "
                "would be lost"
            )
            artifact = str(step["with"].get("name", ""))
            assert "${{" in artifact, (
                f"job {name} uploads reports/ as {artifact!r}: the name must differ per matrix "
                "entry, or the entries overwrite one another"
            )


def test_the_page_report_is_published_as_the_job_summary(
    matrix_job: dict[str, Any], entries: list[dict[str, Any]]
) -> None:
    published = run_steps(matrix_job, r"GITHUB_STEP_SUMMARY")
    assert published, "no step writes the page report to $GITHUB_STEP_SUMMARY"
    assert any("page.md" in str(step["run"]) for step in published), (
        "the job summary does not publish page.md"
    )
    assert all("always()" in step_if(step) for step in published), (
        "the page report is published without `if: always()`: a failed run would show none"
    )
    dirs = {entry["backend"]: entry.get("report-dir") for entry in entries}
    assert dirs == {"local": "reports", "kind": "reports/kind"}, (
        f"the page report's directory per backend must be reports/ and reports/kind/, found {dirs}"
    )


def test_the_local_entry_runs_make_conformance_as_root(matrix_job: dict[str, Any]) -> None:
    steps = run_steps(matrix_job, r"make conformance(\s|$)")
    assert steps, "no step runs `make conformance` (the local backend)"
    for step in steps:
        assert "matrix.backend == 'local'" in step_if(step), (
            "`make conformance` must run only for the local entry (if: matrix.backend == 'local')"
        )
        assert 'sudo -E env "PATH=$PATH" make conformance' in step["run"], (
            'the local mesh needs root: run `sudo -E env "PATH=$PATH" make conformance`'
        )


def test_the_kind_entries_pull_images_and_reach_the_internet(matrix_job: dict[str, Any]) -> None:
    steps = run_steps(matrix_job, r"make conformance-kind")
    assert steps, "no step runs `make conformance-kind` (the kind backend)"
    for step in steps:
        command = str(step["run"])
        assert "matrix.backend == 'kind'" in step_if(step), (
            "`make conformance-kind` must run only for kind entries (if: matrix.backend == 'kind')"
        )
        arguments = re.search(r'PYTEST_ARGS="([^"]*)"', command)
        assert arguments, f"make conformance-kind gets no PYTEST_ARGS: {command!r}"
        for wanted in (
            "--images pull",
            "--external internet",
            "--istio-version ${{ matrix.istio }}",
        ):
            assert wanted in arguments.group(1), (
                f"the kind step's PYTEST_ARGS lack `{wanted}`: {arguments.group(1)!r}"
            )


def test_the_previous_nights_summary_is_compared_with(matrix_job: dict[str, Any]) -> None:
    downloads = uses_steps(matrix_job, "actions/download-artifact")
    assert downloads, "no step downloads last night's reports (actions/download-artifact)"
    for step in downloads:
        assert step.get("continue-on-error") is True, (
            "downloading last night's artifact needs `continue-on-error: true` (the first night "
            "has none)"
        )
        assert {"run-id", "github-token"} <= set(step.get("with", {})), (
            "download-artifact needs `run-id` and `github-token` to read another run's artifact"
        )
    assert run_steps(matrix_job, r"--previous-summary"), (
        "no step passes the downloaded summary.json as --previous-summary"
    )


def test_the_caches_are_keyed_on_the_pins_and_the_entry(matrix_job: dict[str, Any]) -> None:
    caches = uses_steps(matrix_job, "actions/cache")
    assert caches, "no actions/cache step for egress-istiod and Go's caches"
    paths = " ".join(str(step.get("with", {}).get("path", "")) for step in caches)
    for wanted in ("~/.cache/egress-conformance", "~/.cache/go-build", "~/go/pkg/mod"):
        assert wanted in paths, f"the cache does not hold {wanted}"
    keys = " ".join(str(step.get("with", {}).get("key", "")) for step in caches)
    for wanted in ("clusters/local/istiod/go.sum", "matrix.backend", "matrix.istio"):
        assert wanted in keys, f"the cache key does not depend on {wanted}"


def test_the_toolchains(matrix_job: dict[str, Any]) -> None:
    assert uses_steps(matrix_job, "actions/checkout"), "no actions/checkout step"
    python = [step.get("with", {}) for step in uses_steps(matrix_job, "actions/setup-python")]
    assert {"python-version": "3.11"} in python, "no actions/setup-python with Python 3.11"
    go = [
        str(step.get("with", {}).get("go-version"))
        for step in uses_steps(matrix_job, "actions/setup-go")
    ]
    assert "1.26" in go, f"no actions/setup-go with Go 1.26, found {go}"


def test_every_action_is_pinned_to_a_tag_or_a_commit(jobs: dict[str, dict[str, Any]]) -> None:
    loose = []
    for job in jobs.values():
        for step in steps_of(job):
            uses = step.get("uses")
            if uses is None or uses.startswith("./"):
                continue
            _, _, ref = uses.partition("@")
            if not PINNED_REF.match(ref):
                loose.append(uses)
    assert not loose, f"actions not pinned to a version tag or a commit SHA: {loose}"


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed")
def test_actionlint_finds_nothing() -> None:
    result = subprocess.run(
        [shutil.which("actionlint") or "actionlint", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"actionlint:\n{result.stdout}{result.stderr}"
