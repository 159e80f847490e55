"""What the page's commands and outputs ask for, read into what a step acts on: pure
functions over one command part of a block (:class:`fixtures.page.Part`).

Each raises :class:`PageAsksOtherwise` when the page's text is not of the form the step
knows; that is a verdict on a revised page (the step cannot do what it now says), or a
suite defect on the shipped one.
"""

from __future__ import annotations

import json
import re
import shlex

from clusters.istio import proxyconfig
from clusters.istio.accesslog import parse_access_log
from clusters.protocol import AccessLogEntry, Injection, OutboundTrafficPolicy
from fixtures.page import Part
from fixtures.page.commands import heredoc_of

SLEEP_SAMPLE = "samples/sleep/sleep.yaml"
# kubectl exec's flags that take a value, as kubectl reads them.
EXEC_VALUE_FLAGS = frozenset({"-c", "--container", "-n", "--namespace", "--context", "-f"})
SED_MODE = re.compile(r"s/mode: (?P<old>[A-Z_]+)/mode: (?P<new>[A-Z_]+)/")
SET_MODE = re.compile(r"outboundTrafficPolicy\.mode=(?P<new>[A-Z_]+)")
SHOWN_MODE = re.compile(r"mode: (?P<mode>[A-Z_]+)")
EXIT = re.compile(r"command terminated with exit code (?P<code>\d+)")
REAL = re.compile(r"^real\s+(?:(?P<m>\d+)m)?(?P<s>[\d.]+)s\s*$", re.MULTILINE)
HEADER = re.compile(r'^\s*"(?P<name>[A-Za-z0-9-]+)":\s*"(?P<value>[^"]*)",?\s*$')
TIME = re.compile(r"^time\s+")
CIDR = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}/\d{1,2}\b")
# The band a timed command's wall time must fall in, around the page's `real`: a little
# faster (the page's run was over the internet), a good deal slower (a loaded machine).
BAND = (0.9, 1.4)


class PageAsksOtherwise(AssertionError):
    """The page's command or output is not one this step can act on or check."""


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as error:
        raise PageAsksOtherwise(
            f"the page's command `{text}` is not valid shell: {error}"
        ) from None


def _top_level_pipe(text: str) -> tuple[str, str | None]:
    """``a | b`` at the top level (quotes respected) into a and b."""
    quote: str | None = None
    for index, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "|" and text[index + 1 : index + 2] != "|" and text[index - 1 : index] != "|":
            return text[:index].strip(), text[index + 1 :].strip()
    return text.strip(), None


def pod_command(part: Part, inside_shell: bool) -> str:
    """The command the page runs in the source pod, as it quotes it (``curl -I https://…``):
    from ``kubectl exec [-it] $SOURCE_POD -c sleep [--] CMD [| grep …]``, or typed in the
    pod's shell (``$ time curl …`` after ``kubectl exec -it … sh``). What its output is
    piped through on the reader's side, and the shell's ``time``, are the Then steps'."""
    text = TIME.sub("", _top_level_pipe(part.text)[0])
    if inside_shell:
        return text
    words = _words(text)
    if words[:2] != ["kubectl", "exec"]:
        raise PageAsksOtherwise(f"the page's command `{part.text}` is no `kubectl exec` in the pod")
    rest = words[2:]
    pod: str | None = None
    index = 0
    while index < len(rest):
        word = rest[index]
        if word == "--":
            index += 1
            break
        if word in EXEC_VALUE_FLAGS:
            index += 2
            continue
        if word.startswith("-"):
            index += 1
            continue
        if pod is None:
            pod = word
            index += 1
            continue
        break  # kubectl exec POD CMD: the old form, without "--"
    command = rest[index:]
    if pod != "$SOURCE_POD" and pod != "${SOURCE_POD}":
        raise PageAsksOtherwise(
            f"the page's `{part.text}` runs in {pod or 'no pod'}, not $SOURCE_POD"
        )
    if not command:
        raise PageAsksOtherwise(f"the page's `{part.text}` runs no command in the pod")
    return shlex.join(command) if len(command) > 1 else command[0]


def same_command(a: str, b: str) -> bool:
    """Two spellings of one command (quoting and spacing aside)."""
    try:
        return shlex.split(a) == shlex.split(b)
    except ValueError:
        return a.split() == b.split()


def sample_deploy(part: Part) -> tuple[str, Injection]:
    """``kubectl apply -f SAMPLE``, or through ``istioctl kube-inject -f SAMPLE``."""
    if not part.text.startswith("kubectl apply"):
        raise PageAsksOtherwise(
            f"the page deploys the sample with `{part.text}`, not kubectl apply"
        )
    # -f FILE, inside the process substitution <(istioctl kube-inject -f FILE) too
    files = re.findall(r"-f\s+([^\s()<]+)", part.text)
    injection = Injection.MANUAL if "istioctl kube-inject" in part.text else Injection.AUTOMATIC
    return _one_sample(part, files), injection


def sample_delete(part: Part) -> str:
    if not part.text.startswith("kubectl delete"):
        raise PageAsksOtherwise(
            f"the page removes the sample with `{part.text}`, not kubectl delete"
        )
    return _one_sample(part, re.findall(r"-f\s+([^\s()<]+)", part.text))


def _one_sample(part: Part, files: list[str]) -> str:
    if len(files) != 1:
        raise PageAsksOtherwise(f"`{part.text}` names {len(files)} manifests, not one sample")
    if files[0] != SLEEP_SAMPLE:
        raise PageAsksOtherwise(
            f"the page now uses {files[0]}; the suite's source pod is the {SLEEP_SAMPLE} sample"
        )
    return files[0]


def label_selector(part: Part) -> str:
    """``export SOURCE_POD=$(kubectl get pod -l app=sleep …)``: the label the pod is found by."""
    match = re.search(r"kubectl get pods? -l (?P<label>\S+)", part.text)
    if match is None or "SOURCE_POD=" not in part.text:
        raise PageAsksOtherwise(f"`{part.text}` does not set SOURCE_POD from a label selector")
    return match.group("label")


def mode_set(part: Part) -> OutboundTrafficPolicy:
    """The mode a command switches the mesh to: the page's sed edit of the istio configmap,
    or istioctl's ``--set meshConfig.outboundTrafficPolicy.mode=…``."""
    match = SED_MODE.search(part.text) or SET_MODE.search(part.text)
    if match is None:
        raise PageAsksOtherwise(f"`{part.text}` sets no outboundTrafficPolicy mode")
    return _mode(match.group("new"))


def mode_shown(part: Part) -> OutboundTrafficPolicy:
    """The mode the page's output shows: the configmap's ``mode: ALLOW_ANY``, or the
    cluster the sidecar's virtualOutbound listener sends unknown destinations to
    (``"cluster": "PassthroughCluster"``, as ``istioctl proxy-config listener`` prints
    it), which is how a page for today's Istio shows it."""
    match = SHOWN_MODE.search(part.output)
    if match is not None:
        return _mode(match.group("mode"))
    for mode, cluster in proxyconfig.CLUSTER_OF_MODE.items():
        if f'"cluster": "{cluster}"' in part.output:
            return mode
    raise PageAsksOtherwise(f"the page's output for `{part.text}` shows no mode")


def _mode(text: str) -> OutboundTrafficPolicy:
    try:
        return OutboundTrafficPolicy(text)
    except ValueError:
        raise PageAsksOtherwise(f"{text} is not an outboundTrafficPolicy mode") from None


def manifest(part: Part) -> str:
    """The YAML of ``kubectl apply -f - <<EOF``."""
    body = heredoc_of(part.text) if part.text.startswith("kubectl apply") else None
    if body is None:
        raise PageAsksOtherwise(f"`{part.text.splitlines()[0]}` applies no YAML of the page")
    return body


def exit_code(part: Part) -> int:
    """``command terminated with exit code 35``: kubectl's line for a failed command; a
    command the page shows output for and no such line exited 0."""
    match = EXIT.search(part.output)
    return int(match.group("code")) if match else 0


def status_line(part: Part) -> str:
    lines = [line.strip() for line in part.output.splitlines() if "HTTP/" in line]
    if not lines:
        raise PageAsksOtherwise(f"the page shows no status line for `{part.text}`")
    return lines[0]


def printed(part: Part) -> str:
    """The first line the page shows the command printing."""
    for line in part.output.splitlines():
        if line.strip():
            return line.strip()
    raise PageAsksOtherwise(f"the page shows nothing printed by `{part.text}`")


def real_seconds(part: Part) -> float:
    match = REAL.search(part.output)
    if match is None:
        raise PageAsksOtherwise(f"the page shows no `real` time for `{part.text}`")
    return int(match.group("m") or 0) * 60 + float(match.group("s"))


def time_band(part: Part) -> tuple[float, float]:
    """The wall-time band around the page's ``real``, rounded to tenths of a second."""
    real = real_seconds(part)
    return round(real * BAND[0], 1), round(real * BAND[1], 1)


def shown_headers(part: Part) -> dict[str, str]:
    """The request headers httpbin echoes, as the page shows them: its output is read line
    by line, since the page elides lines (``...``) and leaves commas JSON refuses."""
    try:
        body = json.loads(part.output)
        headers = body.get("headers", {}) if isinstance(body, dict) else {}
        if isinstance(headers, dict) and headers:
            return {str(k): str(v) for k, v in headers.items()}
    except ValueError:
        pass
    found = {
        m.group("name"): m.group("value")
        for line in part.output.splitlines()
        if (m := HEADER.match(line))
    }
    if not found:
        raise PageAsksOtherwise(f"the page shows no echoed headers for `{part.text}`")
    return found


def header_shown(part: Part, name: str) -> str:
    headers = shown_headers(part)
    value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    if value is None:
        raise PageAsksOtherwise(f"the page no longer shows the header {name}")
    return value


def log_entry(part: Part) -> AccessLogEntry:
    entries = parse_access_log(part.output.splitlines())
    if not entries:
        raise PageAsksOtherwise(f"the page shows no access log line for `{part.text}`")
    return entries[-1]


def ranges_shown(part: Part) -> list[str]:
    found = CIDR.findall(part.output)
    if not found:
        raise PageAsksOtherwise(f"the page shows no IP range for `{part.text}`")
    return found
