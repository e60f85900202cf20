"""YAML files written by hand: a key written twice in one mapping is an error, never a silent pick.

YAML loaders (PyYAML's and Snakemake's) keep the last of two equal keys, so a second entry with the
name of an earlier one silently replaces it. :class:`DuplicateKeyLoader` finds such keys on the
composed node tree, where their lines are still known; :func:`load_unique_yaml` loads a document
refusing them. Used for pipeline configs, the dataset registry's YAMLs and the catalog and sources override files.
"""

from __future__ import annotations

from typing import Any

import yaml

_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyLoader(yaml.SafeLoader):
    """A SafeLoader whose `duplicate_keys()` lists the keys written twice in the same mapping.

    It works on the composed node tree (before construction), where the key's line is still known;
    `<<: *anchor` merge keys are not duplicates (later keys deliberately override merged ones).
    """

    def duplicate_keys(self) -> list[tuple[str, int, int]]:
        """(key path, first line, repeated line) of every repeated key, 1-based lines."""
        found: list[tuple[str, int, int]] = []
        root = self.get_single_node()
        if root is not None:
            self._walk(root, "", found, set())
        return found

    def _walk(self, node: yaml.Node, path: str, found: list, seen: set[int]) -> None:
        if id(node) in seen:  # an alias: its anchor was already checked
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                name = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                child = f"{path}.{name}" if path else str(name)
                line = key_node.start_mark.line + 1
                identity = (key_node.tag, name)
                if identity in first:
                    found.append((child, first[identity], line))
                else:
                    first[identity] = line
                self._walk(value_node, child, found, seen)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, f"{path}[{index}]", found, seen)


class DuplicateKeyError(ValueError):
    """A key written twice in one mapping of a YAML document; the message names key and lines."""


def load_unique_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load(text)``, refusing a key written twice (``source`` names the file in errors).

    Malformed YAML raises ``yaml.YAMLError`` as ``safe_load`` would.
    """
    loader = DuplicateKeyLoader(text)
    try:
        duplicates = loader.duplicate_keys()
    finally:
        loader.dispose()
    for key, first, again in duplicates:
        raise DuplicateKeyError(
            f"{source}: {key}: written twice (lines {first} and {again}); YAML would keep only the last"
        )
    return yaml.safe_load(text)
