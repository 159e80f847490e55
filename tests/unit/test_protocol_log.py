"""The log cursor every backend shares: lines after a mark, a new pod's log from the start."""

from clusters.protocol import LogCursor, complete_lines, lines_after


def test_a_line_still_being_flushed_is_not_there_yet() -> None:
    assert complete_lines("a\nb\npartial") == ["a", "b"]
    assert complete_lines("") == []


def test_lines_after_a_mark_and_for_another_pod() -> None:
    cursor = LogCursor.after("sleep-1", ["a", "b"])
    assert cursor == LogCursor("sleep-1", 2)
    assert lines_after(["a", "b", "c"], cursor, "sleep-1") == ["c"]
    assert lines_after(["x"], cursor, "sleep-2") == ["x"]  # a re-created pod: from the start
    assert lines_after(["a"], None, "sleep-1") == ["a"]
