"""The config files themselves: a key written twice in one mapping is an error.

YAML loaders (Snakemake's included) keep the last of two equal keys, so a second experiment with
the name of an earlier one silently replaces it. The files are re-read here, only to find such
keys, with the path of the key and both line numbers in the message.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from .errors import fail

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


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Fail on the first key written twice in one mapping of any of these config files.

    Files that do not exist or are not YAML are left to Snakemake, which reports them itself.
    """
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
            duplicates = DuplicateKeyLoader(text).duplicate_keys()
        except (OSError, yaml.YAMLError):
            continue
        for key, first, again in duplicates:
            fail(key, f"written twice in {path} (lines {first} and {again}); YAML would keep only the last")
