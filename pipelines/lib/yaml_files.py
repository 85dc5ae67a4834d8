"""YAML files read within bounds: a size cap, and a cap on what aliases expand to.

YAML's anchors and aliases let 18 lines stand for billions of values (the "billion laughs"):
PyYAML builds them as shared references in no time, and whatever walks the result (pydantic,
an error message) expands them and exhausts the machine. A file is composed into nodes first;
the number of values it stands for, aliases expanded, is counted on the nodes (each shared node
once), and a file above MAX_VALUES is refused before anything is built from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipelines.lib.errors import LandingError

MAX_BYTES = 1 << 20
MAX_VALUES = 100_000


def _values(node: yaml.Node, counted: dict[int, int], open_nodes: set[int]) -> int:
    """How many values the node stands for, aliases expanded."""
    key = id(node)
    if key in counted:
        return counted[key]
    if key in open_nodes:
        raise ValueError("an alias refers to a collection that contains it")
    open_nodes.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_values(child, counted, open_nodes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(
            _values(k, counted, open_nodes) + _values(v, counted, open_nodes) for k, v in node.value
        )
    open_nodes.discard(key)
    counted[key] = total
    return total


def load_yaml(path: Path) -> Any:
    """The file's one document (safe types only), or LandingError naming the file and what is
    wrong: too large, not YAML, nested too deeply, or aliases that expand beyond MAX_VALUES."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise LandingError(
            path, f"is {size} bytes, more than a YAML file may be", expected=f"<= {MAX_BYTES} bytes"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LandingError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        values = _values(node, {}, set())
        if values > MAX_VALUES:
            raise LandingError(
                path,
                f"stands for {values:,} values once its aliases (*name) are expanded",
                expected=f"at most {MAX_VALUES:,} values",
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise LandingError(
            path,
            f"not valid YAML ({getattr(exc, 'problem', None) or exc})",
            row=mark.line + 1 if mark is not None else None,
        ) from exc
    except (RecursionError, ValueError) as exc:
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise LandingError(path, f"not a YAML file gpuledger reads ({problem})") from None
    finally:
        loader.dispose()
