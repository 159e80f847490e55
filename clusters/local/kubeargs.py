"""kubectl v1.34's command line and output formats, for the local mesh's ``kubectl``.

Pure functions, no mesh: the command line as cobra and pflag parse it (flags anywhere,
``-it`` as ``-i -t``, ``--`` and where it was), label selectors, JSONPath as
``-o jsonpath`` evaluates it (k8s.io/client-go/util/jsonpath), the tables and ages of
``kubectl get``, and the YAML of ``-o yaml`` when egress-istiod is not there to print it.
The wording of every error is kubectl's (pflag v1.0.6, cobra v1.9.1, kubectl v0.34).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

# kubectl's top-level commands (v1.34), for cobra's "Did you mean this?".
KUBECTL_COMMANDS = (
    "alpha",
    "annotate",
    "api-resources",
    "api-versions",
    "apply",
    "attach",
    "auth",
    "autoscale",
    "certificate",
    "cluster-info",
    "completion",
    "config",
    "cordon",
    "cp",
    "create",
    "debug",
    "delete",
    "describe",
    "diff",
    "drain",
    "edit",
    "events",
    "exec",
    "explain",
    "expose",
    "get",
    "help",
    "kustomize",
    "label",
    "logs",
    "options",
    "patch",
    "plugin",
    "port-forward",
    "proxy",
    "replace",
    "rollout",
    "run",
    "scale",
    "set",
    "taint",
    "top",
    "uncordon",
    "version",
    "wait",
)


class KubectlError(Exception):
    """What kubectl prints on stderr before it exits with ``code`` (text as printed)."""

    def __init__(self, text: str, code: int = 1) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


@dataclass(frozen=True)
class Flag:
    """One pflag flag: its name, shorthand, type and the value a bare ``--flag`` gives."""

    name: str
    shorthand: str = ""
    kind: str = "string"  # string, bool, strings (repeatable), int
    default: Any = None
    no_opt_default: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "bool" and self.no_opt_default is None:
            object.__setattr__(self, "no_opt_default", "true")


# The root's persistent flags that the page can meet; the others are accepted and unused.
GLOBAL_FLAGS = (
    Flag("namespace", "n"),
    Flag("kubeconfig"),
    Flag("context"),
    Flag("cluster"),
    Flag("user"),
    Flag("request-timeout", default="0"),
    Flag("v", "v", kind="int", default=0),
)
_DRY_RUN = Flag("dry-run", default="none", no_opt_default="unchanged")
_FILENAME = Flag("filename", "f", kind="strings", default=())
_OUTPUT = Flag("output", "o", default="")
_SELECTOR = Flag("selector", "l", default="")
_VALIDATE = Flag("validate", default="strict", no_opt_default="strict")
VERB_FLAGS: dict[str, tuple[Flag, ...]] = {
    "get": (
        _OUTPUT,
        _SELECTOR,
        Flag("all-namespaces", "A", kind="bool", default=False),
        Flag("ignore-not-found", kind="bool", default=False),
        Flag("no-headers", kind="bool", default=False),
        Flag("show-labels", kind="bool", default=False),
        Flag("watch", "w", kind="bool", default=False),
        _FILENAME,
    ),
    "apply": (
        _FILENAME,
        _DRY_RUN,
        _OUTPUT,
        _VALIDATE,
        Flag("server-side", kind="bool", default=False),
        Flag("recursive", "R", kind="bool", default=False),
    ),
    "replace": (
        _FILENAME,
        _DRY_RUN,
        _OUTPUT,
        _VALIDATE,
        Flag("force", kind="bool", default=False),
    ),
    "delete": (
        _FILENAME,
        _DRY_RUN,
        _OUTPUT,
        _SELECTOR,
        Flag("ignore-not-found", kind="bool", default=False),
        Flag("all", kind="bool", default=False),
        Flag("wait", kind="bool", default=True),
        Flag("now", kind="bool", default=False),
        Flag("force", kind="bool", default=False),
        Flag("grace-period", kind="int", default=-1),
    ),
    "logs": (
        Flag("container", "c", default=""),
        _SELECTOR,
        Flag("tail", kind="int", default=-1),
        Flag("follow", "f", kind="bool", default=False),
        Flag("previous", "p", kind="bool", default=False),
        Flag("timestamps", kind="bool", default=False),
        Flag("all-containers", kind="bool", default=False),
        Flag("since", default=""),
        Flag("prefix", kind="bool", default=False),
    ),
    "exec": (
        Flag("container", "c", default=""),
        Flag("stdin", "i", kind="bool", default=False),
        Flag("tty", "t", kind="bool", default=False),
        Flag("quiet", "q", kind="bool", default=False),
        _FILENAME,
        Flag("pod-running-timeout", default="1m0s"),
    ),
    "describe": (
        _SELECTOR,
        _FILENAME,
        Flag("all-namespaces", "A", kind="bool", default=False),
        Flag("show-events", kind="bool", default=True),
    ),
}


@dataclass
class Invocation:
    """A parsed command line: the verb, its positional arguments and flags, and
    ``args_len_at_dash`` (cobra's ArgsLenAtDash: arguments before ``--``, -1 without)."""

    verb: str
    args: list[str]
    flags: dict[str, Any]
    changed: set[str] = field(default_factory=set)
    args_len_at_dash: int = -1

    @property
    def namespace(self) -> str:
        return str(self.flags.get("namespace") or "default")

    @property
    def namespace_given(self) -> bool:
        return "namespace" in self.changed and bool(self.flags.get("namespace"))


def parse(argv: Sequence[str]) -> Invocation:
    """The command line as kubectl parses it, or KubectlError in kubectl's words."""
    verb, rest = _find_verb(list(argv))
    flags = (*GLOBAL_FLAGS, *VERB_FLAGS[verb])
    invocation = Invocation(verb=verb, args=[], flags={f.name: f.default for f in flags})
    try:
        _parse_flags(rest, flags, invocation)
    except _FlagError as error:
        raise KubectlError(f"error: {error}\nSee 'kubectl {verb} --help' for usage.", 1) from None
    return invocation


class _FlagError(Exception):
    pass


def _find_verb(argv: list[str]) -> tuple[str, list[str]]:
    """cobra's Find: the first argument that is not a flag (or a global flag's value)
    names the command; what is left is parsed with that command's flags."""
    takes_value = {f"--{f.name}" for f in GLOBAL_FLAGS if f.kind != "bool"}
    takes_value |= {f"-{f.shorthand}" for f in GLOBAL_FLAGS if f.shorthand and f.kind != "bool"}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            break
        if arg.startswith("-") and len(arg) > 1:
            index += 2 if arg in takes_value else 1
            continue
        if arg in VERB_FLAGS:
            return arg, argv[:index] + argv[index + 1 :]
        if arg in KUBECTL_COMMANDS:
            raise KubectlError(
                f'error: the local mesh\'s kubectl does not answer "kubectl {arg}" (it answers '
                f"{', '.join(sorted(VERB_FLAGS))})",
                1,
            )
        raise KubectlError(unknown_command(arg), 1)
    raise KubectlError(
        "error: the local mesh's kubectl needs a command: "
        f"{', '.join(sorted(VERB_FLAGS))} (kubectl --help lists kubectl's)",
        1,
    )


def unknown_command(name: str) -> str:
    """cobra's refusal of a command kubectl does not have, with its suggestions."""
    suggestions = [
        command
        for command in KUBECTL_COMMANDS
        if _levenshtein(name.lower(), command.lower()) <= 2
        or command.lower().startswith(name.lower())
    ]
    text = f'error: unknown command "{name}" for "kubectl"'
    if suggestions:
        text += "\n\nDid you mean this?\n" + "".join(f"\t{s}\n" for s in suggestions)
    return text.rstrip("\n")


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _parse_flags(args: list[str], flags: Sequence[Flag], out: Invocation) -> None:
    """pflag's parseArgs, interspersed: flags anywhere, ``--`` ends them."""
    by_name = {f.name: f for f in flags}
    by_short = {f.shorthand: f for f in flags if f.shorthand}
    while args:
        arg = args.pop(0)
        if not arg.startswith("-") or len(arg) == 1:
            out.args.append(arg)
            continue
        if arg == "--":
            out.args_len_at_dash = len(out.args)
            out.args.extend(args)
            return
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
            name = name.replace("_", "-")  # kubectl's WordSepNormalizeFunc
            if not name or name[0] in "-=":
                raise _FlagError(f"bad flag syntax: {arg}")
            flag = by_name.get(name)
            if flag is None:
                raise _FlagError(f"unknown flag: --{name}")
            if not has_value:
                if flag.no_opt_default is not None:
                    value = flag.no_opt_default
                elif args:
                    value = args.pop(0)
                else:
                    raise _FlagError(f"flag needs an argument: {arg}")
            _set(flag, value, out, f"--{flag.name}")
            continue
        shorthands = arg[1:]
        while shorthands:
            char = shorthands[0]
            flag = by_short.get(char)
            if flag is None:
                raise _FlagError(f"unknown shorthand flag: '{char}' in -{shorthands}")
            if len(shorthands) > 2 and shorthands[1] == "=":
                value, shorthands = shorthands[2:], ""
            elif flag.no_opt_default is not None:
                value, shorthands = flag.no_opt_default, shorthands[1:]
            elif len(shorthands) > 1:
                value, shorthands = shorthands[1:], ""
            elif args:
                value, shorthands = args.pop(0), ""
            else:
                raise _FlagError(f"flag needs an argument: '{char}' in -{shorthands}")
            _set(flag, value, out, f"-{flag.shorthand}, --{flag.name}")


def _set(flag: Flag, value: str, out: Invocation, shown: str) -> None:
    out.changed.add(flag.name)
    if flag.kind == "bool":
        parsed = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True}
        parsed |= {"0": False, "f": False, "F": False, "false": False, "FALSE": False}
        parsed |= {"False": False}
        if value not in parsed:
            raise _FlagError(
                f'invalid argument "{value}" for "{shown}" flag: strconv.ParseBool: parsing '
                f'"{value}": invalid syntax'
            )
        out.flags[flag.name] = parsed[value]
    elif flag.kind == "int":
        if not re.fullmatch(r"[+-]?\d+", value):
            raise _FlagError(
                f'invalid argument "{value}" for "{shown}" flag: strconv.ParseInt: parsing '
                f'"{value}": invalid syntax'
            )
        out.flags[flag.name] = int(value)
    elif flag.kind == "strings":
        out.flags[flag.name] = (*out.flags[flag.name], *value.split(","))
    else:
        out.flags[flag.name] = value


def dry_run_strategy(value: str) -> str:
    """kubectl's GetDryRunStrategy: none, client or server (a bare --dry-run is client)."""
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return "client"
    if lowered in ("0", "f", "false"):
        return "none"
    if value in ("unchanged", "client"):
        return "client"
    if value in ("server", "none"):
        return value
    raise KubectlError(
        f'error: Invalid dry-run value ({value}). Must be "none", "server", or "client".'
    )


def dry_run_suffix(strategy: str) -> str:
    """What kubectl appends to a printed operation under --dry-run."""
    return {"client": " (dry run)", "server": " (server dry run)"}.get(strategy, "")


# Label selectors -----------------------------------------------------------------------
_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9][-A-Za-z0-9_./]*)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[-A-Za-z0-9_.]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # =, !=, in, notin, exists, !
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        return not present or value not in self.values


def parse_selector(text: str) -> list[Requirement]:
    """``-l``: comma-separated requirements (``app=sleep``, ``k!=v``, ``k``, ``!k``,
    ``k in (a,b)``), or kubectl's error."""
    requirements: list[Requirement] = []
    for part in _split_selector(text):
        match = _REQUIREMENT.match(part)
        if not match or (match["neg"] and (match["op"] or match["setop"])):
            raise KubectlError(f"error: unable to parse requirement: {part.strip()!r}")
        if match["neg"]:
            requirements.append(Requirement(match["key"], "!"))
        elif match["op"]:
            op = "!=" if match["op"] == "!=" else "="
            requirements.append(Requirement(match["key"], op, (match["value"],)))
        elif match["setop"]:
            values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(Requirement(match["key"], match["setop"], values))
        else:
            requirements.append(Requirement(match["key"], "exists"))
    return requirements


def _split_selector(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return [part for part in parts if part.strip()]


def selects(requirements: Iterable[Requirement], labels: Mapping[str, str]) -> bool:
    return all(requirement.matches(labels) for requirement in requirements)


# JSONPath (-o jsonpath=...) --------------------------------------------------------------
class JSONPathError(Exception):
    pass


def jsonpath(template: str, data: Any) -> str:
    """``-o jsonpath=TEMPLATE`` over an object, as kubectl prints it: text outside braces
    as is, each expression's results joined by spaces (strings bare, maps and lists as
    compact JSON), missing keys printing nothing, ``{range ...}{end}`` loops."""
    nodes, rest = _parse_template(_tokens(template), template)
    if rest:
        raise JSONPathError("not in range, nothing to end")
    return "".join(_render(nodes, data))


def _tokens(template: str) -> list[tuple[str, str]]:
    """("text", literal) and ("expr", inside braces) in order."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(template):
        start = template.find("{", position)
        if start < 0:
            tokens.append(("text", template[position:]))
            break
        if start > position:
            tokens.append(("text", template[position:start]))
        end = _closing_brace(template, start)
        if end < 0:
            raise JSONPathError(f"unclosed action in {template}")
        tokens.append(("expr", template[start + 1 : end].strip()))
        position = end + 1
    return tokens


def _closing_brace(template: str, start: int) -> int:
    quote = None
    for index in range(start + 1, len(template)):
        char = template[index]
        if quote:
            if char == "\\":
                continue
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "}":
            return index
    return -1


def _parse_template(
    tokens: list[tuple[str, str]], template: str
) -> tuple[list[Any], list[tuple[str, str]]]:
    nodes: list[Any] = []
    while tokens:
        kind, text = tokens.pop(0)
        if kind == "text":
            nodes.append(("text", text))
        elif text == "end":
            return nodes, [("end", "")]
        elif text.startswith("range "):
            body, rest = _parse_template(tokens, template)
            if not rest:
                raise JSONPathError(f"unclosed range in {template}")
            nodes.append(("range", text[len("range ") :].strip(), body))
        elif text[:1] in "\"'":
            nodes.append(("text", _string_literal(text)))
        else:
            nodes.append(("expr", text))
    return nodes, []


def _string_literal(text: str) -> str:
    try:
        value = json.loads(text if text[0] == '"' else '"' + text[1:-1] + '"')
    except json.JSONDecodeError:
        raise JSONPathError(f"invalid string literal {text}") from None
    return str(value)


def _render(nodes: list[Any], data: Any) -> Iterable[str]:
    for node in nodes:
        if node[0] == "text":
            yield node[1]
        elif node[0] == "range":
            for value in evaluate(node[1], data):
                yield from _render(node[2], value)
        else:
            yield " ".join(result_text(value) for value in evaluate(node[1], data))


_SEGMENT = re.compile(
    r"\.\.(?P<rname>[A-Za-z0-9_-]+|\*)|\.(?P<name>[A-Za-z0-9_-]+|\*)"
    r"|\[(?P<index>[^\]]*)\]|\.(?=\[)|(?P<at>@)"
)


def evaluate(expression: str, data: Any) -> list[Any]:
    if expression in ("", "."):
        return [data]
    if expression.startswith("$"):
        expression = expression[1:]
    values = [data]
    position = 0
    while position < len(expression):
        match = _SEGMENT.match(expression, position)
        if not match or match.end() == position:
            raise JSONPathError(f"unrecognized character in action: {expression[position:]!r}")
        position = match.end()
        if match["rname"] is not None:
            found = [v for value in values for v in _descendants(value)]
            values = _field(found, match["rname"])
        elif match["name"] is not None:
            values = _field(values, match["name"])
        elif match["index"] is not None:
            values = _index(values, match["index"])
    return values


def _descendants(value: Any) -> Iterable[Any]:
    yield value
    children = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict | list):
        for child in children:
            yield from _descendants(child)


def _field(values: list[Any], name: str) -> list[Any]:
    if name == "*":
        out = []
        for value in values:
            if isinstance(value, dict):
                out.extend(value[k] for k in sorted(value))
            elif isinstance(value, list):
                out.extend(value)
        return out
    return [value[name] for value in values if isinstance(value, dict) and name in value]


def _index(values: list[Any], index: str) -> list[Any]:
    index = index.strip()
    if index[:1] in "\"'":
        return _field(values, index[1:-1])
    if index.startswith("?"):
        raise JSONPathError("filters ([?(...)]) are not supported by the local mesh's kubectl")
    out: list[Any] = []
    for value in values:
        if not isinstance(value, list):
            continue
        if index == "*":
            out.extend(value)
        elif ":" in index:
            parts = [int(p) if p.strip() else None for p in index.split(":")]
            out.extend(value[slice(*parts[:3])])
        elif re.fullmatch(r"-?\d+", index):
            position = int(index)
            if -len(value) <= position < len(value):
                out.append(value[position])
            else:
                raise JSONPathError(
                    f"array index out of bounds: index {position}, length {len(value)}"
                )
        else:
            raise JSONPathError(f"invalid array index {index}")
    return out


def result_text(value: Any) -> str:
    """client-go's PrintResults: maps and lists as JSON, scalars as Go prints them."""
    if isinstance(value, dict | list):
        return go_json(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def go_json(value: Any, indent: int | None = None) -> str:
    """json.Marshal's compact form (json.MarshalIndent's with ``indent``): map keys
    sorted, UTF-8 kept, <, > and & escaped."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(
        value, indent=indent, separators=separators, sort_keys=True, ensure_ascii=False
    )
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# Tables and ages ----------------------------------------------------------------------
def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration (the AGE column)."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        return f"{minutes}m" if whole % 60 == 0 else f"{minutes}m{whole % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def table(rows: Sequence[Sequence[str]]) -> str:
    """kubectl's tabwriter (min width 6, padding 3, spaces): every column but the last
    padded to its widest cell plus 3."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(max(6, widths[i] + 3)) for i, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + row[-1])
    return "\n".join(lines) + "\n"


# YAML (-o yaml) ----------------------------------------------------------------------------
class _KubectlDumper(yaml.SafeDumper):
    """sigs.k8s.io/yaml's style: keys sorted, multi-line strings as literal blocks,
    lists not indented under their key."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    """go-yaml's choice: a literal block for several lines, double quotes for a string
    that would read as another type ("2", "true", ""), else plain where it can be."""
    style = None
    if "\n" in value:
        style = "|"
    elif dumper.resolve(yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str":
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_KubectlDumper.add_representer(str, _represent_str)


def to_yaml(value: Any) -> str:
    """An object as ``kubectl get -o yaml`` prints it, when egress-istiod (which prints
    it with kubectl's own library) is not there."""
    return yaml.dump(
        value,
        Dumper=_KubectlDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=80,  # go-yaml's best width
    )
