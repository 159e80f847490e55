"""The sidecar's log on Kubernetes, after a mark: a short tail read marks, a read from the
mark's second on finds what came after, and the answer is the whole log's."""

from __future__ import annotations

import pytest

from clusters.kube import podlog
from clusters.protocol import LogCursor, lines_after
from tests.kube_api_fake import FakeKubeApi
from tests.kube_api_fake import kube_cluster as kube


def test_stamps_compare_by_time_though_rfc3339nano_drops_trailing_zeros() -> None:
    assert podlog.Stamp.parse("2026-12-04T18:00:00.1Z") > podlog.Stamp.parse(
        "2026-12-04T18:00:00.09Z"
    )
    assert podlog.Stamp.parse("2026-12-04T18:00:00Z") == podlog.Stamp.parse(
        "2026-12-04T18:00:00.000000000Z"
    )
    assert podlog.Stamp.parse("2026-12-04T18:00:00.5Z").since_time == "2026-12-04T18:00:00Z"
    with pytest.raises(ValueError, match="not a kubelet log timestamp"):
        podlog.Stamp.parse("yesterday")


def test_lines_of_the_marks_second_and_instant_are_told_apart() -> None:
    lines = [
        ("2026-12-04T18:00:00.1Z", "before, same second"),
        ("2026-12-04T18:00:00.2Z", "at the mark"),
        ("2026-12-04T18:00:00.2Z", "at the mark too, after it was taken"),
        ("2026-12-04T18:00:00.30Z", "after"),
    ]
    assert podlog.mark(lines[:2]) == ("2026-12-04T18:00:00.2Z", 1)
    assert podlog.after(lines, "2026-12-04T18:00:00.2Z", 1) == [
        "at the mark too, after it was taken",
        "after",
    ]
    assert podlog.mark([]) is None


def test_a_cursor_read_over_the_api_is_the_whole_logs_answer() -> None:
    api = FakeKubeApi()
    cluster = kube(api)
    pod = cluster.source_pod().name
    for n, stamp in enumerate(("2026-12-04T18:00:00.1Z", "2026-12-04T18:00:00.2Z")):
        api.write_log(pod, stamp, f"startup {n}")
    whole_mark = len(cluster.sidecar_log())
    cursor = cluster.sidecar_log_cursor()
    assert cursor.since == "2026-12-04T18:00:00.2Z" and cursor.lines == 1
    assert api.log_reads[-1]["tail_lines"] == podlog.MARK_TAIL_LINES  # not the whole log
    api.write_log(pod, "2026-12-04T18:00:00.2Z", "same instant as the mark")
    api.write_log(pod, "2026-12-04T18:00:01.5Z", "GET /headers 200")
    after = cluster.sidecar_log(since=cursor)
    assert api.log_reads[-1]["since_time"] == "2026-12-04T18:00:00Z"
    assert after == lines_after(cluster.sidecar_log(), LogCursor(pod, whole_mark), pod)
    assert after == ["same instant as the mark", "GET /headers 200"]
    cluster.close()


def test_an_empty_logs_cursor_finds_every_line_to_come() -> None:
    api = FakeKubeApi()
    cluster = kube(api)
    pod = cluster.source_pod().name
    cursor = cluster.sidecar_log_cursor()
    assert (cursor.lines, cursor.since) == (0, None)
    api.write_log(pod, "2026-12-04T18:00:03Z", "first")
    assert cluster.sidecar_log(since=cursor) == ["first"]
    cluster.close()
