"""The structure rules of docs/architecture.md, checked (run by `make lint`):

* no import cycle between modules of ``bridge/`` (a cycle means two modules are one
  concern or a shared piece belongs in a third);
* the layers import downwards only: ``bridge.etf`` imports nothing else of the
  bridge, ``bridge.tls`` nothing of ``bridge.etf``, ``bridge.node`` or
  ``bridge.service``, ``bridge.node`` nothing of ``bridge.tls`` or ``bridge.service``;
* no module over 900 lines;
* pyOpenSSL's internals (``OpenSSL._util``, private attributes of its objects) are
  used in ``bridge/tls/ossl.py`` only, and only ``bridge.tls`` imports OpenSSL.

Imports inside functions and under ``if TYPE_CHECKING:`` count too: they hide an
edge, they do not remove it. Prints every violation; exits 1 if there is one.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bridge"
MAX_LINES = 900
# layer -> the layers of the bridge it must not import
FORBIDDEN = {
    "bridge.etf": ("bridge.node", "bridge.tls", "bridge.service", "bridge.cli"),
    "bridge.tls": ("bridge.etf", "bridge.node", "bridge.service", "bridge.cli"),
    "bridge.node": ("bridge.tls", "bridge.service", "bridge.cli"),
    "bridge.service": ("bridge.cli",),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The bridge modules ``path`` imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            # the longest known module the target names
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


# pyOpenSSL's private attributes the bridge relies on (see bridge/tls/ossl.py)
OPENSSL_PRIVATE = {"_ssl", "_context", "_into_ssl", "_from_ssl", "_reverse_mapping",
                   "_from_raw_x509_ptr"}
OPENSSL_OWNER = "bridge.tls.ossl"


def openssl_problems(path: Path, name: str) -> list[str]:
    """pyOpenSSL used where it should not be (see the module docstring)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        mods = []
        if isinstance(node, ast.Import):
            mods = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            mods = [node.module]
            if node.module == "OpenSSL" and any(alias.name == "_util" for alias in node.names):
                mods = ["OpenSSL._util"]
        elif (isinstance(node, ast.Attribute) and node.attr in OPENSSL_PRIVATE
              and name != OPENSSL_OWNER):
            out.append(f"{name}:{node.lineno} uses pyOpenSSL's private .{node.attr} "
                       f"(only {OPENSSL_OWNER} may)")
        for mod in mods:
            if mod.startswith("OpenSSL._util") and name != OPENSSL_OWNER:
                out.append(f"{name}:{node.lineno} imports OpenSSL._util (only {OPENSSL_OWNER} may)")
            elif (mod == "OpenSSL" or mod.startswith("OpenSSL.")) and not name.startswith("bridge.tls."):
                out.append(f"{name}:{node.lineno} imports {mod} (only bridge.tls uses pyOpenSSL)")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def main() -> int:
    files = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    known = set(files)
    graph = {name: imports_of(path, name, known) for name, path in files.items()}
    problems = []
    for name, path in files.items():
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            problems.append(f"{path.relative_to(ROOT)}: {lines} lines (over {MAX_LINES})")
        for layer, banned in FORBIDDEN.items():
            if name == layer or name.startswith(layer + "."):
                for target in sorted(graph[name]):
                    if any(target == b or target.startswith(b + ".") for b in banned):
                        problems.append(f"{name} imports {target} (the {layer} layer must not)")
        problems.extend(dict.fromkeys(openssl_problems(path, name)))
    # a package's __init__ importing its own modules is how a package exposes them,
    # not a cycle between concerns
    for name in graph:
        graph[name] = {t for t in graph[name] if not (name in known and t.startswith(name + ".")
                                                     and files[name].name == "__init__.py")}
    for component in cycles(graph):
        problems.append("import cycle: " + " -> ".join(component))
    for problem in problems:
        print(problem)
    if not problems:
        print(f"structure ok: {len(files)} modules, no cycle, layers respected, none over {MAX_LINES} lines, "
              "pyOpenSSL internals in one module")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
