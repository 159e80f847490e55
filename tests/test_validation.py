"""Validation answers: Istio's own, recorded, and the model's measured against them.

tests/golden/validation.json holds what the pinned Istio answers (the API server's CRD
schema and CEL rules, then Istio's validating webhook, through egress-istiod) for every
case of tests/validation_cases.py. ``test_istiod_answers_as_recorded`` fails when the
Istio build answers otherwise; regenerate with ``python tests/test_validation.py`` after
a deliberate Istio upgrade, and read the diff. The model's answers must equal Istio's,
except for the differences listed here, which are expected failures (strict: a fixed
difference must leave the list).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from validation_cases import CASES

from clusters.istio import kubectl
from clusters.istio.kubectl import load_documents
from clusters.local.istiod_plane import IstiodControlPlane
from clusters.local.mesh import check_served_locally
from clusters.local.pilot import validation
from clusters.protocol import InvalidResource

GOLDEN = Path(__file__).parent / "golden" / "validation.json"

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
        message = str(refusal)
        assert "\n" not in message, "a refusal is one line"
        return message
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


@pytest.mark.parametrize("case", list(CASES))
def test_istiod_answers_as_recorded(istiod: IstiodControlPlane, case: str) -> None:
    answers = golden()["answers"]
    assert isinstance(answers, dict)
    assert istio_answer(istiod, CASES[case]) == answers[case]


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
    answers = golden()["answers"]
    assert isinstance(answers, dict)
    assert model_answer(CASES[case]) == answers[case]


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


def record_golden() -> None:
    """Ask the pinned Istio for every case and write tests/golden/validation.json."""
    directory = Path(tempfile.mkdtemp(prefix="egc-validation-"))
    with IstiodControlPlane.standalone(directory) as plane:
        answers = {case: istio_answer(plane, manifest) for case, manifest in CASES.items()}
        record = {"istio": plane.versions()["istio"], "answers": answers}
    GOLDEN.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {GOLDEN}: {sum(1 for a in answers.values() if a)} refusals")


if __name__ == "__main__":
    record_golden()
