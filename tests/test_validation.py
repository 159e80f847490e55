"""Validation answers: Istio's own, recorded, and the model's measured against them.

tests/golden/validation.json holds what the pinned Istio answers (the API server's CRD
schema and CEL rules, then Istio's validating webhook, through egress-istiod) for every
case of tests/validation_cases.py. ``test_istiod_answers_as_recorded`` fails when the
Istio build answers otherwise; regenerate with ``python tests/test_validation.py`` after
a deliberate Istio upgrade, and read the diff. The model's answers must equal Istio's,
except for the differences listed here, which are expected failures (strict: a fixed
difference must leave the list).

Refusals that kubectl makes before a request reaches the API server (KUBECTL_CASES) are
not Istio's to record: their entries hold what the kit's kubectl printed against a real
kind cluster (``python tests/test_validation.py kind`` records them), so the local mesh,
the model and, with EGRESS_KIND_E2E=1, the kind backend are measured against kubectl
itself. "not-an-istio-resource" is the local mesh's own refusal; its entry says so.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from validation_cases import CASES

from clusters.istio import kubectl
from clusters.istio.kubectl import load_documents
from clusters.kube.cluster import KubeCluster
from clusters.local.istiod_plane import IstiodControlPlane
from clusters.local.mesh import check_served_locally
from clusters.local.pilot import validation
from clusters.protocol import InvalidResource

GOLDEN = Path(__file__).parent / "golden" / "validation.json"
# Refused by kubectl itself (no such kind and version in discovery, no apiVersion).
KUBECTL_CASES = ("unserved-version", "misspelt-kind", "no-apiversion")
KUBECTL_ERROR = "error: "  # what kubectl's CheckErr puts before an error's words

# Where the model's hand-written validation (clusters/local/pilot/validation.py) words a refusal
# differently from Istio, or refuses what Istio accepts because the model does not
# implement it. Each is an expected failure of test_model_answers_as_istio.
MODEL_DIFFERENCES = {
    "destination-rule": "the model does not implement DestinationRule",
    "dynamic-dns": "the model does not implement resolution DYNAMIC_DNS",
    "negative-attempts": "Istio wraps some single webhook errors as '1 error occurred'",
}


def golden() -> dict[str, object]:
    return json.loads(GOLDEN.read_text())


def expected(answer: object) -> str | None:
    """The words an entry expects: Istio's (a string, None for accepted), kubectl's as it
    printed them (``stderr`` lines, less its ``error: ``), or the suite's own (``answer``)."""
    if not isinstance(answer, dict):
        assert answer is None or isinstance(answer, str)
        return answer
    if "stderr" in answer:
        printed = "\n".join(answer["stderr"])
        assert printed.startswith(KUBECTL_ERROR), printed
        return printed.removeprefix(KUBECTL_ERROR)
    return answer["answer"]


def answer_of(case: str) -> str | None:
    answers = golden()["answers"]
    assert isinstance(answers, dict)
    return expected(answers[case])


@pytest.fixture(scope="module")
def istiod() -> Iterator[IstiodControlPlane]:
    directory = Path(tempfile.mkdtemp(prefix="egc-validation-"))
    try:
        with IstiodControlPlane.standalone(directory) as plane:
            yield plane
    finally:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


def istio_answer(plane: IstiodControlPlane, manifest: str) -> str | None:
    """What ``kubectl apply --dry-run=server`` prints against istiod (None: accepted)."""
    try:
        documents = load_documents(manifest)
        for document in documents:
            check_served_locally(document)
            kubectl.check_document(document, plane.kinds())
        plane.apply(documents, dry_run=True)
    except InvalidResource as refusal:
        return str(refusal)
    return None


def model_answer(manifest: str) -> str | None:
    try:
        for document in load_documents(manifest):
            check_served_locally(document)
            validation.validate(document)
    except InvalidResource as refusal:
        return str(refusal)
    return None


def test_golden_is_for_the_running_istio(istiod: IstiodControlPlane) -> None:
    recorded = golden()["istio"]
    assert recorded == istiod.versions()["istio"], (
        f"tests/golden/validation.json was recorded with istio.io/istio {recorded}; "
        "regenerate it with `python tests/test_validation.py` and review the diff"
    )


def test_every_case_has_an_answer() -> None:
    answers = golden()["answers"]
    assert isinstance(answers, dict)
    assert sorted(answers) == sorted(CASES)
    refused = [case for case, answer in answers.items() if answer]
    assert len(refused) >= 25, "keep the refusal cases honest: at least 25 distinct mistakes"
    for case, answer in answers.items():  # Istio's refusals are one line
        assert case in KUBECTL_CASES or "\n" not in (expected(answer) or ""), case


def test_kubectls_answers_were_recorded_from_a_cluster() -> None:
    """The kubectl cases hold kubectl's output and exit code, not the suite's words."""
    answers = golden()["answers"]
    assert isinstance(answers, dict)
    for case in KUBECTL_CASES:
        entry = answers[case]
        assert isinstance(entry, dict) and entry["exit_code"] == 1, case
        assert "kubectl" in entry["note"] and "kind cluster" in entry["note"], case
    own = answers["not-an-istio-resource"]
    assert isinstance(own, dict) and "local mesh's own" in own["note"]


@pytest.mark.parametrize("case", list(CASES))
def test_istiod_answers_as_recorded(istiod: IstiodControlPlane, case: str) -> None:
    """The local mesh's answer (kubectl's checks, then egress-istiod) is the recorded one:
    Istio's, or for KUBECTL_CASES kubectl's on a kind cluster."""
    assert istio_answer(istiod, CASES[case]) == answer_of(case)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.xfail(reason=MODEL_DIFFERENCES[case], strict=True))
        if case in MODEL_DIFFERENCES
        else case
        for case in CASES
    ],
)
def test_model_answers_as_istio(case: str) -> None:
    assert model_answer(CASES[case]) == answer_of(case)


# On kind (EGRESS_KIND_E2E=1): the kind backend, and kubectl itself, against the recording.


@pytest.fixture(scope="module")
def kind() -> Iterator[KubeCluster]:
    from clusters.kind.backend import BACKEND, KindOptions

    with BACKEND.start(KindOptions()) as cluster:
        yield cluster


def kubectl_apply(cluster: KubeCluster, manifest: str) -> subprocess.CompletedProcess[str]:
    """``kubectl apply -f -`` as --literal runs it: the shell's kubeconfig and PATH (the
    kit's kubectl first)."""
    env = {**os.environ, **cluster.shell_env()}
    return subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=manifest, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.kind
@pytest.mark.skipif(os.environ.get("EGRESS_KIND_E2E") != "1", reason="set EGRESS_KIND_E2E=1")
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("case", KUBECTL_CASES)
def test_kind_answers_as_kubectl_recorded(kind: KubeCluster, case: str) -> None:
    """kubectl still prints what was recorded, and the kind backend refuses in its words."""
    answers = golden()["answers"]
    assert isinstance(answers, dict)
    printed = kubectl_apply(kind, CASES[case])
    assert (printed.stderr.splitlines(), printed.returncode) == (
        answers[case]["stderr"],
        answers[case]["exit_code"],
    )
    with pytest.raises(InvalidResource) as refused:
        kind.apply(CASES[case])
    assert str(refused.value) == answer_of(case)


# Durations (the model parses them as Go's time.ParseDuration does) ------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3s", 3.0),
        ("500ms", 0.5),
        ("1m", 60.0),
        ("1.5s", 1.5),
        ("1h", 3600.0),
        ("2us", 2e-6),
        ("2µs", 2e-6),
        ("100ns", 1e-7),
        ("1m30s", 90.0),
        ("1h2m3.5s", 3723.5),
        (".5s", 0.5),
        ("5.s", 5.0),
        ("0", 0.0),
        ("-1.5m", -90.0),
        ("+2s", 2.0),
    ],
)
def test_duration_seconds(text: str, seconds: float) -> None:
    assert validation.duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("abc", 'time: invalid duration "abc"'),
        (".s", 'time: invalid duration ".s"'),
        ("-", 'time: invalid duration "-"'),
        ("3", 'time: missing unit in duration "3"'),
        ("1.2.3s", 'time: missing unit in duration "1.2.3s"'),
        ("3x", 'time: unknown unit "x" in duration "3x"'),
        ("3 s", 'time: unknown unit " s" in duration "3 s"'),
        ("3S", 'time: unknown unit "S" in duration "3S"'),
        ("3000000h", 'time: invalid duration "3000000h"'),
    ],
)
def test_duration_seconds_refuses(text: str, message: str) -> None:
    with pytest.raises(InvalidResource) as caught:
        validation.duration_seconds(text)

    assert str(caught.value) == message


def local_refusal(manifest: str) -> str:
    """The local mesh's own refusal of a kind it does not serve."""
    with pytest.raises(InvalidResource) as refused:
        check_served_locally(load_documents(manifest)[0])
    return str(refused.value)


def write_golden(record: dict[str, object]) -> None:
    GOLDEN.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def record_golden() -> None:
    """Ask the pinned Istio for every case and write tests/golden/validation.json; the
    entries recorded elsewhere (kubectl's, the suite's own) are kept as they are."""
    kept = {case: a for case, a in golden()["answers"].items() if isinstance(a, dict)}  # type: ignore[union-attr]
    directory = Path(tempfile.mkdtemp(prefix="egc-validation-"))
    with IstiodControlPlane.standalone(directory) as plane:
        answers = {
            case: kept.get(case) or istio_answer(plane, manifest)
            for case, manifest in CASES.items()
        }
        write_golden({"istio": plane.versions()["istio"], "answers": answers})
    print(f"wrote {GOLDEN}: {sum(1 for a in answers.values() if a)} refusals")


def record_kubectl() -> None:
    """Create a kind cluster with Istio (the kit, torn down at the end), run the kit's
    ``kubectl apply -f -`` of each KUBECTL_CASES manifest, and write what it printed on
    stderr and its exit code into tests/golden/validation.json."""
    from clusters.kind.backend import BACKEND, KindOptions

    record = golden()
    answers = record["answers"]
    assert isinstance(answers, dict)
    with BACKEND.start(KindOptions()) as cluster:
        env = {**os.environ, **cluster.shell_env()}
        version = json.loads(
            subprocess.run(
                ["kubectl", "version", "-o", "json"],
                env=env, capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        client, server = version["clientVersion"], version["serverVersion"]
        note = (
            f"kubectl {client['gitVersion']} (the kit's) `kubectl apply -f -` against a kind "
            f"cluster of Kubernetes {server['gitVersion']} with Istio "
            f"{cluster.describe()['istio']}'s CRDs, recorded by "
            f"`python tests/test_validation.py kind` on {datetime.date.today().isoformat()}"
        )
        for case in KUBECTL_CASES:
            printed = kubectl_apply(cluster, CASES[case])
            answers[case] = {
                "stderr": printed.stderr.splitlines(),
                "exit_code": printed.returncode,
                "note": note,
            }
        service = kubectl_apply(cluster, CASES["not-an-istio-resource"])
        answers["not-an-istio-resource"] = {
            "answer": local_refusal(CASES["not-an-istio-resource"]),
            "note": (
                "the local mesh's own refusal (clusters/local/mesh.py, check_served_locally): "
                "its API server holds Istio's kinds only. A kind cluster serves Services; "
                f"there {client['gitVersion']}'s kubectl printed "
                f"{service.stderr.strip() or service.stdout.strip()!r} "
                f"(exit {service.returncode}) for this manifest"
            ),
        }
    write_golden(record)
    print(f"wrote {GOLDEN}: kubectl's answers for {', '.join(KUBECTL_CASES)}")


if __name__ == "__main__":
    record_kubectl() if sys.argv[1:] == ["kind"] else record_golden()
