"""The command and config reference (docs/REFERENCE.md), made from the parser and the config dataclasses so
that it cannot drift from them: ``python -m mrisr.cli.reference > docs/REFERENCE.md`` (a test compares)."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import io
import tokenize

from mrisr.cli import build_parser
from mrisr.config import Config, LossConfig, ModelConfig, TrainConfig

HEADER = """# Command and config reference

Made by `python -m mrisr.cli.reference > docs/REFERENCE.md` from the command-line parser and the config
dataclasses (`mrisr.config`); a test fails when this file and the code differ. The user guide
([USER_GUIDE.md](USER_GUIDE.md)) says when to use what.
"""


def field_comments(cls: type) -> dict[str, str]:
    """The comment of each field of a dataclass: on its line, or on the comment lines just above it."""
    source = inspect.getsource(cls)
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("# "))
            continue
        name = stripped.split(":", 1)[0]
        if ":" in stripped and name.isidentifier() and not stripped.startswith(("def ", "class ", '"""')):
            inline = [tok.string.lstrip("# ") for tok in _tokens(stripped) if tok.type == tokenize.COMMENT]
            comments[name] = " ".join(pending + inline)
        pending = []
    return comments


def _tokens(line: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []


def config_reference() -> str:
    """One table per config section: key, default, what it is."""
    out = ["## Config (`run.yaml`, `config.yaml` in every run folder)", ""]
    out.append("A run's config has three sections; a partial YAML takes the defaults for the rest.")
    defaults = Config()
    for name, cls in (("model", ModelConfig), ("loss", LossConfig), ("train", TrainConfig)):
        doc = (inspect.getdoc(cls) or "").splitlines()[0]
        out += ["", f"### `{name}`: {doc}", "", "| key | default | meaning |", "|---|---|---|"]
        comments = field_comments(cls)
        section = getattr(defaults, name)
        for f in dataclasses.fields(cls):
            value = getattr(section, f.name)
            value = list(value) if isinstance(value, tuple) else value
            out.append(f"| `{f.name}` | `{value}` | {comments.get(f.name, '').replace('|', '/')} |")
    return "\n".join(out) + "\n"


def command_reference(parser: argparse.ArgumentParser) -> str:
    """One section per subcommand: its usage line and its options."""
    out = ["## Commands", ""]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    for name, sub in subparsers.choices.items():
        sub.formatter_class = functools.partial(argparse.HelpFormatter, width=110)  # the same on any terminal
        out += [f"### `mrisr {name}`", "", helps.get(name) or "", "", "```", sub.format_usage().strip(), "```", ""]
        out += ["| option | default | meaning |", "|---|---|---|"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            flags = ", ".join(action.option_strings) or action.metavar or action.dest
            default = "" if action.default in (None, False, argparse.SUPPRESS) else f"`{action.default}`"
            out.append(f"| `{flags}` | {default} | {(action.help or '').replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


def reference() -> str:
    """The whole of docs/REFERENCE.md."""

    return "\n".join([HEADER, command_reference(build_parser()), config_reference()])


if __name__ == "__main__":
    print(reference(), end="")
