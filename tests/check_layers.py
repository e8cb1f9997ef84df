#!/usr/bin/env python3
"""Checks the module structure of the crates: stages in flow order, no circles.

Run by tests/run.sh. For each crate it reads every `src/**/*.rs` file up to its test module
(tests may use anything), finds the crate modules the code names (`crate::a::b`, `super::b`,
`use super::{b, c}`), and fails when

- a module of a stage names a module of a later stage (engine: source → otlp → time →
  features → graph → score → sink → job; bench: datasets → detectors → scoring →
  cross_validation → eval), or a leaf names anything but leaves;
- the files name each other in a circle (a parent `mod.rs` declaring or re-exporting its
  children is not an edge: that is how Rust spells a module tree).

Comments and doc comments are ignored: a doc link to a later stage explains, it does not
depend.
"""

import re
import sys
from pathlib import Path

CRATES = {
    "engine": {
        "stages": [
            "source", "otlp", "time", "features", "graph", "score", "sink", "job", "ui",
        ],
        "leaves": ["error", "config", "record", "stats", "retry", "published"],
    },
    "bench": {
        "stages": ["datasets", "detectors", "scoring", "cross_validation", "eval"],
        "leaves": ["error", "progress"],
    },
    "models": {"stages": None, "leaves": ["error"]},
    "jobs": {"stages": None, "leaves": []},
}

PATH = re.compile(r"\b(crate|super)((?:::\w+)+)")
GROUP = re.compile(r"\b(crate|super)((?:::\w+)*)::\{([^}]*)\}")


def code_lines(path):
    """The file's lines before its test module, without comments."""
    for line in path.read_text().splitlines():
        if line.startswith("#[cfg(test)]"):
            return
        stripped = line.strip()
        if stripped.startswith("//"):
            continue
        yield line.split("//", 1)[0]


def module_of(root, path):
    """The module path of a file: `score/detect.rs` → ("score", "detect")."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def resolve(modules, base, names):
    """The longest prefix of `base + names` that is a module file."""
    full = list(base) + list(names)
    for end in range(len(full), 0, -1):
        if tuple(full[:end]) in modules:
            return tuple(full[:end])
    return None


def references(root, modules, path):
    """Modules named by the code of `path`."""
    here = module_of(root, path)
    is_parent = path.name in ("mod.rs", "lib.rs", "main.rs")
    parent = here if is_parent else here[:-1]
    found = set()
    for line in code_lines(path):
        targets = []
        for kind, rest, inner in GROUP.findall(line):
            prefix = [p for p in rest.split("::") if p]
            for item in inner.split(","):
                item = item.strip().split(" as ")[0].strip()
                if item and item != "self":
                    targets.append((kind, prefix + item.split("::")))
                elif item == "self":
                    targets.append((kind, prefix))
        for kind, rest in PATH.findall(GROUP.sub("", line)):
            targets.append((kind, [p for p in rest.split("::") if p]))
        for kind, names in targets:
            base = () if kind == "crate" else parent[:-1] if is_parent else parent
            if kind == "super" and is_parent:
                base = here[:-1]
            target = resolve(modules, base, names)
            if target is not None and target != here:
                found.add(target)
    return here, found


def check(crate, rules):
    root = Path(crate) / "src"
    files = sorted(root.rglob("*.rs"))
    modules = {module_of(root, f) for f in files}
    graph, problems = {}, []
    stages, leaves = rules["stages"], rules["leaves"]
    for path in files:
        here, found = references(root, modules, path)
        # A parent names its children to declare them: not a dependency.
        edges = {t for t in found if t[: len(here)] != here}
        graph.setdefault(here, set()).update(edges)
        if not here:
            continue
        top = here[0]
        for target in edges:
            other = target[0] if target else None
            if other is None or other == top:
                continue
            if top in leaves and other not in leaves:
                problems.append(f"{path}: the leaf `{top}` names `{'::'.join(target)}`")
            elif stages and top in stages and other in stages:
                if stages.index(other) > stages.index(top):
                    problems.append(
                        f"{path}: stage `{top}` names `{'::'.join(target)}` of the later "
                        f"stage `{other}`"
                    )
    problems.extend(circles(crate, graph))
    return problems


def circles(crate, graph):
    """Every circle of the file graph, once."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                found.append(f"{crate}: circle " + " → ".join("::".join(m) or "crate" for m in cycle))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def main():
    problems = []
    for crate, rules in CRATES.items():
        problems.extend(check(crate, rules))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    print("modules: stages in flow order, no circles (" + ", ".join(CRATES) + ")")


if __name__ == "__main__":
    main()
