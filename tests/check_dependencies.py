#!/usr/bin/env python3
"""Checks which crates the product crates may depend on, from `cargo metadata`.

Run by tests/run.sh. The product is `aiops-engine` and `aiops-models`; the benchmark crate
`aiops-bench` and the binary `aiops` sit above them (jobs → bench → engine → models) and
nothing points back. The models know nothing of timely, Kafka or databases; the engine knows
no SQL engine and no command line. What a crate compiles (its normal and build dependencies,
transitively) is checked against the list; a product crate's own dev-dependencies must not
name the benchmark crate or the binary either: a product that needs them even for its tests
is tangled with them.
"""

import json
import subprocess
import sys

FORBIDDEN = {
    "aiops-models": ["aiops-bench", "aiops-engine", "aiops", "timely", "rdkafka", "postgres",
                     "tokio-postgres", "datafusion", "clap"],
    "aiops-engine": ["aiops-bench", "aiops", "datafusion", "clap"],
    "aiops-bench": ["aiops", "clap"],
}


WORKSPACE = ["aiops-bench", "aiops"]


def host():
    version = subprocess.check_output(["rustc", "-vV"], text=True)
    return next(line.split()[1] for line in version.splitlines() if line.startswith("host:"))


def edges(node, kinds):
    """The dependencies of a resolve node whose kind is one of `kinds` (None: normal)."""
    for dep in node["deps"]:
        if any(k["kind"] in kinds for k in dep["dep_kinds"]):
            yield dep["pkg"]


def main():
    metadata = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host()]))
    names = {p["id"]: p["name"] for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    members = {names[m]: m for m in metadata["workspace_members"]}
    problems = []
    for crate, forbidden in FORBIDDEN.items():
        start = members[crate]
        seen, stack, path = set(), [start], {start: [crate]}
        while stack:
            node = stack.pop()
            for dep in edges(nodes[node], (None, "build")):
                if dep in seen:
                    continue
                seen.add(dep)
                path[dep] = path[node] + [names[dep]]
                stack.append(dep)
        for dep in sorted(seen, key=lambda d: names[d]):
            if names[dep] in forbidden:
                problems.append(f"{crate} depends on {names[dep]}: {' -> '.join(path[dep])}")
        for dep in edges(nodes[start], ("dev",)):
            if names[dep] in forbidden and names[dep] in WORKSPACE:
                problems.append(f"{crate} has a dev-dependency on {names[dep]}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    print("dependencies: the product crates need neither the benchmark crate nor the binary; "
          "models need no dataflow, Kafka or database")


if __name__ == "__main__":
    main()
