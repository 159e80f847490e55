"""Steps bound to the page: a sentence names its block, the step acts on the block's text.

``bound(...)`` wraps a step's parser so that the sentence may end with a block reference
(``[block 访问外部-http-服务.1]``, see :mod:`fixtures.page.refs`); the step receives it as
``block``. :func:`take` gives the step the block's command part in the page under test
(the shipped index, or ``--page``'s revision) and writes in the step's record which block
it took, at which line. :func:`agree` then settles what the step acts on: the value read
from the page, checked against the feature's restatement of it. When they differ on an
unchanged block the feature is wrong, and the step fails saying so; on a changed block
the page wins, and the record says the restatement is stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pytest_bdd import parsers
from pytest_bdd.parsers import StepParser

from fixtures.journal import Journal
from fixtures.page import Block, PageUnderTest, Part, parts
from fixtures.page.refs import BlockRef, split_ref

T = TypeVar("T")


class _Bound(StepParser):
    """A parser that matches its sentence with or without a trailing block reference."""

    def __init__(self, inner: StepParser) -> None:
        super().__init__(inner.name)
        self.inner = inner

    def is_matching(self, name: str) -> bool:
        return self.inner.is_matching(split_ref(name)[0])

    def parse_arguments(self, name: str) -> dict[str, Any] | None:
        sentence, ref = split_ref(name)
        arguments = self.inner.parse_arguments(sentence)
        if arguments is None or ref is None:  # no reference: the step's default, None
            return arguments
        return {**arguments, "block": ref}


def bound(sentence: str | StepParser) -> StepParser:
    """A step sentence that may name its block of the page."""
    inner = sentence if isinstance(sentence, StepParser) else parsers.parse(sentence)
    return _Bound(inner)


@dataclass(frozen=True)
class Taken:
    """One command part of a block of the page under test, as a step took it."""

    ref: BlockRef
    block: Block
    part: Part
    line: int  # the page's line the step is about: the command's, or its output's
    changed: bool  # the block's text differs from the revision the feature was written for
    shell_text: str | None  # the pod's shell it is typed in (`kubectl exec -it … sh`)
    shell_line: int | None = None  # the page's line of that shell's "$"

    @property
    def inside_shell(self) -> bool:
        return self.shell_text is not None

    # What fixtures.literal runs as written (its TakenPart).
    @property
    def block_id(self) -> str:
        return self.ref.id

    @property
    def command_text(self) -> str:
        return self.part.text

    @property
    def expected(self) -> str:
        return self.part.output


def take(
    journal: Journal,
    page: PageUnderTest | None,
    ref: BlockRef,
    *,
    checks_output: bool = False,
    not_executed: str | None = None,
) -> Taken:
    """The block part the step acts on (or, ``checks_output``, whose output it checks),
    noted as the step's page command and output, and its line; with ``not_executed`` (a
    reason of the closed list, "drift: ..."), the block is shown but deliberately not
    executed."""
    if page is None:
        raise ValueError(f"{ref}: no page unit under features/ has the block this step names")
    match = page.match(ref.id)
    if match is None or match.shipped is None:
        raise ValueError(f"{ref}: the page's index has no block {ref.id} (a defect of the feature)")
    if match.revised is None:
        journal.bind(ref.id, line=None, source=None, changed=True)
        raise AssertionError(
            f"the page no longer has this step: its block (line {match.shipped.line} of the "
            "revision the feature was written for) is gone"
        )
    block = match.revised.block
    every = parts(block, page.output_of(block))
    if not every:
        raise AssertionError(f"the page's block at line {block.line} has no command any more")
    if ref.part is not None and ref.part > len(every):
        raise AssertionError(
            f"the page's block at line {block.line} has {len(every)} command(s), "
            f"no command {ref.part}"
        )
    part = every[(ref.part or len(every)) - 1]
    command = next(c for c in block.commands if c.line == part.line)
    shell = next((c for c in block.commands if c.line == command.inside), None)
    line = part.output_line if checks_output and part.output_line else part.line
    journal.bind(
        ref.id,
        line=line,
        source=page.origin.link(line),
        changed=match.changed,
        section_url=page.section_url(block.section),
        executed=not_executed is None,
        reason=not_executed,
    )
    journal.note(
        page_command=f"{shell.text}\n{part.text}" if shell is not None else part.text,
        page_output=part.output or None,
    )
    taken = Taken(
        ref,
        block,
        part,
        line,
        match.changed,
        shell.text if shell else None,
        shell.line if shell else None,
    )
    if not_executed is None:
        journal.took(taken)
    return taken


def agree(journal: Journal, taken: Taken, what: str, restated: T, from_page: T) -> T:
    """What the step acts on: the page's value. A restatement that differs is the feature's
    defect on an unchanged block, and stale on a changed one."""
    if from_page == restated:
        return from_page
    if not taken.changed:
        raise AssertionError(
            f"the feature says {what} {restated!r}, but the page's line {taken.line} says "
            f"{from_page!r}: correct the feature"
        )
    journal.stale(f"{what}: the feature says {restated!r}; the page now says {from_page!r}")
    return from_page


def settled(
    journal: Journal,
    page: PageUnderTest | None,
    block: BlockRef | None,
    what: str,
    restated: T,
    read: Callable[[Taken], T],
    *,
    checks_output: bool = False,
) -> T:
    """The value a step acts on (or checks, ``checks_output``): its sentence's own when it
    names no block, else what ``read`` finds in the block's part of the page under test,
    in agreement with the sentence (:func:`agree`)."""
    if block is None:
        return restated
    taken = take(journal, page, block, checks_output=checks_output)
    return agree(journal, taken, what, restated, read(taken))


def read_part(reader: Callable[[Part], T]) -> Callable[[Taken], T]:
    """A reader of a command part (steps.page_commands) as :func:`settled` takes it."""
    return lambda taken: reader(taken.part)
