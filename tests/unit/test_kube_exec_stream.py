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
SUCCESS = '{"metadata":{},"status":"Success"}'


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

    def read_channel(self, channel: int, timeout: float = 0) -> str:
        return self._read(channel)

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
    closing = [(STDOUT, rest), (STDERR, "w"), (ERROR, SUCCESS), "close"]
    session = ScriptedSession([[(STDOUT, first)], [], closing])
    result = exec_with(monkeypatch, session)
    assert result.stdout == first + rest
    assert result.stderr == "w"
    assert result.exit_code == 0


def test_output_in_many_frames_keeps_its_order(monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [f"{n:05d}" for n in range(40)]
    batches: list[list[tuple[int, str] | str]] = [[(STDOUT, chunk)] for chunk in chunks]
    session = ScriptedSession([*batches, [(ERROR, SUCCESS), "close"]])
    assert exec_with(monkeypatch, session).stdout == "".join(chunks)


# The closing Status as kind's API server sends it (seen on a cluster of the kit).
EXIT_3 = (
    '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: '
    'command terminated with exit code 3","reason":"NonZeroExitCode","details":{"causes":'
    '[{"reason":"ExitCode","message":"3"}]}}'
)
NOT_STARTED = (
    '{"metadata":{},"status":"Failure","message":"Internal error occurred: Internal error '
    "occurred: error executing command in container: failed to exec in container: failed to "
    'start exec \\"96718f0e\\": OCI runtime exec failed: exec failed: unable to start container '
    'process: exec: \\"nosuchcmd\\": executable file not found in $PATH","reason":"InternalError",'
    '"details":{"causes":[{"message":"Internal error occurred: error executing command"}]},'
    '"code":500}'
)


def test_the_exit_code_and_a_command_that_never_ran_come_from_the_status() -> None:
    assert kube_api.exec_status(SUCCESS) == (0, None)
    assert kube_api.exec_status(EXIT_3) == (3, None)
    code, refusal = kube_api.exec_status(NOT_STARTED)
    assert code == 1 and refusal is not None
    assert refusal.startswith("Internal error occurred: Internal error occurred: error executing")
    assert kube_api.exec_status("") == (-1, None)


def test_a_command_the_runtime_cannot_start_is_kubectls_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = ScriptedSession([[(ERROR, NOT_STARTED), "close"]])
    result = exec_with(monkeypatch, session)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Internal error occurred: Internal error occurred:")
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in result.stderr
