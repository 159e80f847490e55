"""An exec's output is whole however its frames and the close arrive.

The client's WebSocket session takes in frames on every ``update`` and on every peek
(a peek updates first). A sidecar's config dump is larger than one frame, so its last
frames and the close can come in while the loop peeks stderr; output left in the
session's buffer then was lost, and ``json.loads`` failed at character 65536.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clusters.kube import api as kube_api

STDOUT, STDERR, ERROR = 1, 2, 3


class ScriptedSession:
    """The ``kubernetes.stream.ws_client.WSClient`` surface the exec loop uses, with
    the client's semantics: every update, and so every peek, takes in the next batch
    of frames; a batch may end with the close; a closed session takes in nothing."""

    def __init__(self, batches: list[list[tuple[int, str] | str]]) -> None:
        self._batches: Iterator[list[tuple[int, str] | str]] = iter(batches)
        self._channels: dict[int, str] = {}
        self._open = True

    def is_open(self) -> bool:
        return self._open

    def update(self, timeout: float = 0) -> None:
        if not self._open:
            return
        for frame in next(self._batches, []):
            if frame == "close":
                self._open = False
                return
            channel, data = frame
            self._channels[channel] = self._channels.get(channel, "") + data

    def _peek(self, channel: int) -> str:
        self.update(0)
        return self._channels.get(channel, "")

    def _read(self, channel: int) -> str:
        data = self._channels.pop(channel, None)
        return self._peek(channel) if data is None else data

    def peek_stdout(self, timeout: float = 0) -> str:
        return self._peek(STDOUT)

    def peek_stderr(self, timeout: float = 0) -> str:
        return self._peek(STDERR)

    def read_stdout(self, timeout: float | None = None) -> str:
        return self._read(STDOUT)

    def read_stderr(self, timeout: float | None = None) -> str:
        return self._read(STDERR)

    @property
    def returncode(self) -> int | None:
        return None if self._open else 0

    def close(self) -> None:
        self._open = False


def exec_with(monkeypatch: pytest.MonkeyPatch, session: ScriptedSession) -> Any:
    monkeypatch.setattr(kube_api, "stream", lambda *args, **kwargs: session)
    api = kube_api.KubeApi.__new__(kube_api.KubeApi)
    api.core = type("Core", (), {"connect_get_namespaced_pod_exec": None})()
    return api.exec("default", "sleep-1", "istio-proxy", ["pilot-agent", "request"], 5.0)


def test_output_that_comes_in_with_the_close_during_the_stderr_peek_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # update: the first 64 KiB; peek stdout: nothing new; peek stderr: the rest, closed.
    first, rest = "x" * 65536, '"end"}'
    session = ScriptedSession([[(STDOUT, first)], [], [(STDOUT, rest), (STDERR, "w"), "close"]])
    result = exec_with(monkeypatch, session)
    assert result.stdout == first + rest
    assert result.stderr == "w"
    assert result.exit_code == 0


def test_output_in_many_frames_keeps_its_order(monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [f"{n:05d}" for n in range(40)]
    batches: list[list[tuple[int, str] | str]] = [[(STDOUT, chunk)] for chunk in chunks]
    session = ScriptedSession([*batches, ["close"]])
    assert exec_with(monkeypatch, session).stdout == "".join(chunks)
