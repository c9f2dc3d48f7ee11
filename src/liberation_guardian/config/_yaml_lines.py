"""Find the line of a key path in YAML text, so errors can say where to look."""

from __future__ import annotations

from collections.abc import Sequence

import yaml


class LineIndex:
    """Maps key paths like ("core", "port") to 1-based line numbers of a YAML document."""

    def __init__(self, text: str) -> None:
        try:
            self._root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            self._root = None

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of the deepest node along `path` that exists, or None."""
        node = self._root
        line = None
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            line_of_key, node = child
            line = line_of_key
        return line


def _child(node: yaml.Node | None, part: str | int) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key.start_mark.line + 1, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item.start_mark.line + 1, item
    if isinstance(node, yaml.SequenceNode) and isinstance(part, str):
        # Conditions are often written as a list of one-key mappings: look inside each item.
        for item in node.value:
            found = _child(item, part)
            if found is not None:
                return found
    return None
