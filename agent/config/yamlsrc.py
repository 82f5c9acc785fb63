"""YAML loading that remembers where every value came from, so errors can name a line.

PyYAML's composer gives nodes with marks; we keep the node tree next to the data and walk it
with a validation error's location to find the line. Duplicate keys, which PyYAML silently
accepts (the last one wins), are rejected: in a monitoring config they are always a mistake.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import yaml

__all__ = ["Source", "YamlError", "line_of", "load"]


class YamlError(Exception):
    """The text is not valid YAML (or has a duplicate key); carries the 1-based line."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclasses.dataclass(frozen=True)
class Source:
    """Parsed YAML data with its node tree and file name."""

    data: Any
    node: yaml.Node | None
    filename: str

    def line(self, loc: Sequence[str | int]) -> int | None:
        return line_of(self.node, loc)


def _check_duplicates(node: yaml.Node) -> None:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in n.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise YamlError(
                            f"duplicate key {key.value!r} (first defined on line {seen[key.value]})",
                            key.start_mark.line + 1,
                        )
                    seen[key.value] = key.start_mark.line + 1
                stack.append(value)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)


def load(text: str, filename: str) -> Source:
    """Parse one YAML document; raise YamlError with a line on any syntax problem."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Source({}, None, filename)
        _check_duplicates(node)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlError(f"invalid YAML: {problem}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", None) from None
    finally:
        loader.dispose()
    return Source(data, node, filename)


def line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """The line of the deepest node reachable along `loc`.

    Location parts that do not exist in the document (a missing field, a union tag added by
    the validator) are skipped, so a missing field points at its parent mapping.
    """
    if node is None:
        return None
    current = node
    for part in loc:
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    current = value
                    break
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(current.value):
            current = current.value[part]
    return current.start_mark.line + 1
