#!/usr/bin/env python3
"""Fails if the files of a crate import each other in a circle.

Usage: scripts/import-cycles.py CRATE_SRC_DIR   (e.g. core/src)

A file's imports are the `crate::` and `super::` paths it names (in `use` lines and inline).
A path through a folder's re-export (`pub use pow::Offer` in toll/mod.rs) counts as an import of
the file that defines the item, so a facade does not hide or invent circles. `mod x;` lines
declare, they do not import. Test modules (`tests.rs`, `mod tests`) are left out.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "core/src")


def module_of(path):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


files = {module_of(p): p for p in root.rglob("*.rs") if p.name != "tests.rs"}
sources = {}
for mod, path in files.items():
    text = path.read_text()
    # Drop inline test modules: everything from `#[cfg(test)]\nmod tests {` on.
    text = re.split(r"#\[cfg\(test\)\]\s*(?:pub\(crate\) )?mod tests \{", text)[0]
    text = re.sub(r"//[^\n]*", "", text)
    sources[mod] = text


def expand(path_text):
    """`a::{b, c::d}` -> ["a::b", "a::c::d"] (one brace level, enough for this code)."""
    m = re.match(r"^(.*?)::\{(.*)\}$", path_text, re.S)
    if not m:
        return [path_text]
    head, body = m.groups()
    out, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    out.append(cur)
    return [p for part in out if part.strip() for p in expand(f"{head}::{part.strip()}")]


def absolute(mod, segs):
    """Resolve leading crate/super/self segments against module `mod`."""
    base = list(mod)
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    while segs and segs[0] in ("super", "self"):
        if segs[0] == "super":
            base = base[:-1]
        segs = segs[1:]
    return base + segs


reexports = {}  # (module, name) -> absolute path of the item
for mod, text in sources.items():
    for m in re.finditer(r"pub(?:\([a-z]+\))? use ([^;]+);", text):
        for p in expand(" ".join(m.group(1).split())):
            p = p.strip()
            name = p.split(" as ")[-1].split("::")[-1].strip()
            target = absolute(mod, p.split(" as ")[0].strip().split("::"))
            if target[0] not in ("crate",) and tuple(target[:1]) not in {k[:1] for k in files}:
                target = list(mod) + target  # relative to the re-exporting module
            reexports[(mod, name)] = target


def resolve(segs):
    """The file an absolute path points into, following re-exports."""
    for _ in range(8):
        best = max((n for n in range(len(segs) + 1) if tuple(segs[:n]) in files), default=0)
        mod = tuple(segs[:best])
        rest = segs[best:]
        if rest and (mod, rest[0]) in reexports:
            segs = reexports[(mod, rest[0])] + rest[1:]
            continue
        return mod
    return tuple(segs)


graph = {mod: set() for mod in files}
for mod, text in sources.items():
    paths = []
    for m in re.finditer(r"(?<!pub )\buse ([^;]+);", text):
        paths += expand(" ".join(m.group(1).split()))
    paths += re.findall(r"\b(?:crate|super)(?:::\w+)+", text)
    for p in paths:
        p = p.split(" as ")[0].strip()
        segs = p.split("::")
        if segs[0] not in ("crate", "super", "self"):
            continue
        target = resolve(absolute(mod, segs))
        if target != mod and target in files:
            graph[mod].add(target)

# Tarjan's strongly connected components.
index, low, stack, on, sccs = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
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
        sccs.append(comp)


sys.setrecursionlimit(10_000)
for v in graph:
    if v not in index:
        visit(v)
circles = [c for c in sccs if len(c) > 1]
name = lambda m: "::".join(m) or "lib"
for c in circles:
    print("import circle:", " <-> ".join(sorted(name(m) for m in c)))
edges = sum(len(v) for v in graph.values())
print(f"{root}: {len(files)} files, {edges} imports, {len(circles)} circles")
sys.exit(1 if circles else 0)
