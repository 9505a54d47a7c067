"""Sphinx glue for the generated references (:mod:`fairhep_reference`): a directive that
puts one of them into a page, and the
``{measured}`` role that quotes a figure from ``docs/measured.toml``."""

from __future__ import annotations

import argparse
import pkgutil
from collections.abc import Callable
from typing import Any

import fairhep_reference as ref
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

RENDERERS: dict[str, Callable[[], str]] = {
    "commands": ref.commands,
    "site-keys": ref.site_keys,
    "campaign-sections": ref.campaign_sections,
    "record-schema": ref.record_schema,
    "stacks": ref.stacks,
    "published": ref.published,
    "measurements": ref.measurements_table,
}


def cli_parser() -> argparse.ArgumentParser:
    """fairhep's own parser (:func:`fairhep.cli.build_parser`), its help texts escaped for
    reStructuredText, which sphinx-argparse parses them as: ``|Δscore|`` would be a
    substitution and ``*.png`` an emphasis."""
    from fairhep.cli import build_parser

    parser = build_parser()
    _escape(parser)
    return parser


def _escape(parser: argparse.ArgumentParser) -> None:
    parser.description = _rst_text(parser.description)
    parser.epilog = _rst_text(parser.epilog)
    for action in parser._actions:
        action.help = _rst_text(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = _rst_text(choice.help)
            for sub in action.choices.values():
                _escape(sub)


def _rst_text(text: str | None) -> str | None:
    if text is None or text == argparse.SUPPRESS:
        return text
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")


class _MarkdownDirective(SphinxDirective):
    def markdown(self) -> str:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.section()
        # In a MyST page, nested content is parsed as MyST Markdown; its headings become
        # sections of the page (and entries of its table of contents).
        nested_parse_with_titles(
            self.state, StringList(self.markdown().splitlines(), self.get_source_info()[0]),
            container, self.content_offset)
        return list(container.children)


class ReferenceDirective(_MarkdownDirective):
    """```{fairhep-reference} stacks``` and so on: see :data:`RENDERERS`."""

    required_arguments = 1

    def markdown(self) -> str:
        name = self.arguments[0]
        if name not in RENDERERS:
            raise self.error(f"unknown reference {name!r}; known: {', '.join(RENDERERS)}")
        # Rebuild the page when the files it is generated from change.
        for dep in ("containers/stacks.toml", "docs/measured.toml"):
            self.env.note_dependency(str(ref.ROOT / dep))
        return RENDERERS[name]()


def public_modules() -> list[str]:
    """The package and each of its public top-level modules and packages (their ``__all__``
    is their public API), found by walking the package: a new one is documented by itself.
    The command line is documented from its parser instead; ``__main__`` would run it."""
    import fairhep

    return ["fairhep", *sorted(f"fairhep.{m.name}" for m in pkgutil.iter_modules(fairhep.__path__)
                               if not m.name.startswith("_") and m.name != "cli")]


class ApiDirective(_MarkdownDirective):
    """The Python API: the docstrings of every public module (autodoc)."""

    def markdown(self) -> str:
        lines: list[str] = []
        for name in public_modules():
            lines += [f"## `{name}`", "", "```{eval-rst}", f".. automodule:: {name}",
                      "   :members:", "```", ""]
        return "\n".join(lines)


def _escape_docstring(_app: Sphinx, _what: str, _name: str, _obj: object, _options: object,
                      lines: list[str]) -> None:
    """Docstrings write |x| for an absolute value (|Δscore|, |ΔAUC|), which reStructuredText
    reads as a substitution: escaped, so that autodoc shows them as written."""
    lines[:] = [line.replace("|", "\\|") for line in lines]


def measured_role(_name: str, rawtext: str, text: str, lineno: int, inliner: Any,
                  _options: dict[str, Any] | None = None,
                  _content: list[str] | None = None) -> tuple[list[nodes.Node], list[Any]]:
    """``{measured}`key``` : the figure, then the command, machine and date it came from."""
    entries = ref.measurements()
    if text not in entries:
        msg = inliner.reporter.error(
            f"{ref.MEASURED_FILE}: no measurement [{text}]; known: {', '.join(sorted(entries))}",
            line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    e = entries[text]
    return [nodes.inline(rawtext, "", nodes.strong(text=e["value"]), nodes.Text(" ("),
                         nodes.literal(text=e["command"]),
                         nodes.Text(f", {e['machine']}, {e['date']})"))], []


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("fairhep-reference", ReferenceDirective)
    app.add_directive("fairhep-api", ApiDirective)
    app.add_role("measured", measured_role)
    app.connect("autodoc-process-docstring", _escape_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
