"""The README tells the truth about the code: its exception tree, CLI commands and public API."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import finlab
from finlab import errors
from finlab.cli import build_parser

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
TREE_LINE = re.compile(r"^[│├└─ ]*(\w+)")


def section(title: str) -> str:
    """The README's text under ``title`` up to the next heading of the same or a higher level."""
    level = title.split(" ")[0]
    start = README.index(f"\n{title}\n")
    ends = [m.start() for m in re.finditer(rf"\n#{{1,{len(level)}}} ", README[start + 1 :])]
    return README[start : start + 1 + ends[0]] if ends else README[start:]


def drawn_tree(text: str) -> dict[str, str | None]:
    """Class -> parent class, from a tree drawn with ``├──`` / ``└──`` and indentation."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        match = TREE_LINE.match(line)
        if not match or not match.group(1)[0].isupper():
            continue
        depth = match.start(1)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group(1)] = stack[-1][1] if stack else None
        stack.append((depth, match.group(1)))
    return parents


def actual_tree() -> dict[str, str | None]:
    """Each exception class of finlab.errors -> its parent among them (None: a root)."""
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == errors.__name__
    }
    return {
        name: next((base.__name__ for base in cls.__bases__ if base.__name__ in classes), None)
        for name, cls in classes.items()
    }


def test_the_exception_tree_in_errors_and_in_the_readme_is_the_code() -> None:
    module_tree = drawn_tree((errors.__doc__ or "").split("::", 1)[1].lstrip("\n").split("\n\n")[0])
    readme_tree = drawn_tree(section("### Exceptions").split("```")[1])

    assert actual_tree() == module_tree
    assert actual_tree() == readme_tree


def test_every_cli_command_is_in_the_readme_and_the_readme_names_no_other() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    real = set(commands.choices)
    code = "\n".join(
        part
        for pair in re.findall(r"```[a-z]*\n(.*?)```|`([^`\n]+)`", README, flags=re.DOTALL)
        for part in pair
    )
    named = set(re.findall(r"^\s*(?:uv run )?finlab ([a-z][a-z-]*)", code, flags=re.MULTILINE))

    assert real == named, f"in the code only: {real - named}; in the README only: {named - real}"


def test_the_readme_public_api_lists_every_connection_method_and_nothing_else() -> None:
    block = section("## Public API").split("```python")[1].split("```")[0]
    listed = set(re.findall(r"\bstripe\.([a-z_]+)", block))
    settings = set(
        inspect.signature(finlab.Connection).parameters
    )  # connect()'s arguments, kept as attributes
    public = {name for name in dir(finlab.connect()) if not name.startswith("_")} - settings

    assert public <= listed, f"missing from the README: {public - listed}"
    assert listed <= public | settings, f"not in the code: {listed - public - settings}"


@pytest.mark.parametrize("name", finlab.__all__)
def test_every_exported_name_is_documented(name: str) -> None:
    assert name in README or name == "__version__"
