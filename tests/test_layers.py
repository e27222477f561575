"""The layering, read from the imports: every import of every module (top level, inside functions,
under TYPE_CHECKING) and every `module:function` string of the player registry.

    zeb_core: game <- network <- search <- data <- evaluation, oracle on game beside them
              (search may take exact leaves from it); atomic_files under all
    zeb_core imports no Prefect, W&B, Hugging Face, Vast, HTTP or S3 client and reads no
    environment; infra never imports flows or the command line; flows never the command line.
    No two modules import each other, directly or round a longer circle.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("zeb_core", "infra", "flows", "zeb_cli")

# What each part of zeb_core may import of zeb_core (itself always).
CORE_LAYERS: dict[str, set[str]] = {
    "atomic_files": set(),
    "game": {"atomic_files"},
    "network": {"atomic_files", "game"},
    "oracle": {"atomic_files", "game"},
    "search": {"atomic_files", "game", "network", "oracle"},
    "data": {"atomic_files", "game", "network", "oracle", "search"},
    "evaluation": {"atomic_files", "game", "network", "oracle", "search", "data"},
}
# What each top-level package may import of zeb's own.
PACKAGE_LAYERS: dict[str, set[str]] = {
    "zeb_core": {"zeb_core"},
    "infra": {"zeb_core", "infra"},
    "flows": {"zeb_core", "infra", "flows"},
    "zeb_cli": {"zeb_core", "infra", "flows", "zeb_cli"},
}
OUTSIDE_WORLD = (
    "prefect",
    "wandb",
    "huggingface_hub",
    "vastai",
    "boto3",
    "botocore",
    "requests",
    "httpx",
    "urllib.request",
)


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted (for `from a import b`: a.b when a.b is a module)
    line: int


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, name: str, is_package: bool, modules: set[str]) -> list[Import]:
    """Every module `source` (the text of module `name`) imports, at any depth of its body."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(Import(name, sub if sub in modules else base, node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # the player registry names builders "package.module:function"
            head, colon, _ = node.value.partition(":")
            if colon and head in modules:
                found.append(Import(name, head, node.lineno))
    return found


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = name.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def all_imports() -> list[Import]:
    paths = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    modules = {module_name(p) for p in paths}
    out = []
    for path in paths:
        name = module_name(path)
        out += imports_of(path.read_text(), name, path.name == "__init__.py", modules)
    return out


def core_part(module: str) -> str | None:
    """`zeb_core.search.mcts` -> "search"; None outside zeb_core or for zeb_core itself."""
    parts = module.split(".")
    return parts[1] if parts[0] == "zeb_core" and len(parts) > 1 else None


def layer_violations(imports: list[Import]) -> list[str]:
    bad = []
    for imp in imports:
        src_pkg, dst_pkg = imp.source.split(".")[0], imp.target.split(".")[0]
        where = f"{imp.source}:{imp.line} imports {imp.target}"
        if dst_pkg in PACKAGE_LAYERS and dst_pkg not in PACKAGE_LAYERS[src_pkg]:
            bad.append(f"{where}: {src_pkg} may not import {dst_pkg}")
        if src_pkg != "zeb_core":
            continue
        if imp.target.startswith(OUTSIDE_WORLD):
            bad.append(f"{where}: the core imports no client of the outside world")
        src, dst = core_part(imp.source), core_part(imp.target)
        if src and dst and src != dst and dst not in CORE_LAYERS[src]:
            bad.append(f"{where}: zeb_core.{src} may not import zeb_core.{dst}")
    return bad


def circles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.target.split(".")[0] in PACKAGES and imp.target != imp.source:
            graph.setdefault(imp.source, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in list(graph):
        if v not in index:
            visit(v)
    return groups


def test_every_import_points_down_the_layers() -> None:
    assert layer_violations(all_imports()) == []


def test_no_two_modules_import_each_other() -> None:
    assert circles(all_imports()) == []


def test_the_core_reads_no_environment() -> None:
    for path in (REPO / "zeb_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                pytest.fail(f"{path.relative_to(REPO)}:{node.lineno} reads the environment")


# The checks themselves: an upward import, a forbidden client and a circle are each caught.


def _imports(name: str, source: str, modules: set[str]) -> list[Import]:
    return imports_of(source, name, False, modules)


def test_an_upward_import_is_caught() -> None:
    modules = {"zeb_core.game.engine", "zeb_core.search.mcts", "flows.learn", "zeb_cli.app"}
    upward = _imports("zeb_core.game.engine", "def f():\n    from ..search import mcts\n", modules)
    assert [i.target for i in upward] == ["zeb_core.search.mcts"]
    assert "zeb_core.game may not import zeb_core.search" in layer_violations(upward)[0]
    cli = _imports("flows.learn", "import zeb_cli.app\n", modules)
    assert "flows may not import zeb_cli" in layer_violations(cli)[0]
    registry = _imports("zeb_core.game.engine", "B = {'x': 'zeb_core.search.mcts:f'}\n", modules)
    assert layer_violations(registry)


def test_a_client_import_in_the_core_is_caught() -> None:
    found = _imports("zeb_core.data.shards", "import wandb\nfrom prefect import flow\n", set())
    assert len(layer_violations(found)) == 2


def test_a_circle_is_caught() -> None:
    modules = {"zeb_core.search.a", "zeb_core.search.b"}
    a = _imports("zeb_core.search.a", "from zeb_core.search import b\n", modules)
    b = _imports("zeb_core.search.b", "from zeb_core.search.a import X\n", modules)
    assert circles(a + b) == [["zeb_core.search.a", "zeb_core.search.b"]]
