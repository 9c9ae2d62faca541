#!/usr/bin/env python3
"""Report import cycles inside bridge/: the strongly connected components of the
module import graph (walked with ast, so nothing is imported), and the edges from
bridge/tls into bridge.service or bridge.etf, which the layering forbids.

Exit status 1 when there is a cycle or a forbidden edge."""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "bridge"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, name: str, modules: set) -> set:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            # the longest known module that t names (a from-import may name a name, not a module)
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("bridge"):
                if t == "bridge" or (modules and f"{t}.__init__" == t):
                    continue
                out.add(t)
    return out


def sccs(graph: dict) -> list:
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main() -> int:
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    modules = set(files)
    graph = {m: imports(p, m, modules) for m, p in files.items()}
    # a package's __init__ is not a real edge target for cycles through the package itself
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    bad = 0
    cycles = [c for c in sccs(graph) if len(c) > 1]
    for c in cycles:
        print("cycle:", " <-> ".join(c))
        bad = 1
    for m in sorted(graph):
        if m.startswith("bridge.tls"):
            for t in sorted(graph[m]):
                if t.startswith(("bridge.service", "bridge.etf", "bridge.node")):
                    print(f"layer: {m} imports {t}")
                    bad = 1
    print(f"{len(graph)} modules, {sum(len(v) for v in graph.values())} edges, "
          f"{len(cycles)} cycles")
    return bad


if __name__ == "__main__":
    sys.exit(main())
