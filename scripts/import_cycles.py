#!/usr/bin/env python3
"""Fails on an import circle between the files of one crate: file A uses B and B uses A,
directly or through a chain (`use crate::…`, `use super::…`, and paths written inline such
as `super::keys::x`). A module's own `mod.rs` re-exporting its children does not count.
Test modules (`#[cfg(test)] mod tests`) are left out: tests may reach anywhere.

Usage: import_cycles.py <crate dir>...   (make test runs it on every crate of the workspace)
"""
import os, re, sys
from pathlib import Path

def modules(src: Path):
    files = {}
    for p in src.rglob("*.rs"):
        rel = p.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        files[tuple(parts)] = p
    return files

def resolve(path_parts, cur, files):
    # longest prefix that is a module file
    for n in range(len(path_parts), 0, -1):
        if tuple(path_parts[:n]) in files:
            return tuple(path_parts[:n])
    return None

def uses(p: Path, cur, files, crate_is_bin=False):
    text = p.read_text()
    # drop #[cfg(test)] mod tests { ... } bodies roughly: ignore lines after '#[cfg(test)]' at column 0
    cut = re.split(r"^#\[cfg\(test\)\]\s*\n(pub\(crate\) )?mod tests", text, flags=re.M)
    text = cut[0]
    deps = set()
    base = list(cur)
    for m in re.finditer(r"\buse\s+([^;]+);", text, flags=re.S):
        body = m.group(1)
        flat = re.sub(r"\s+", "", body)
        # expand one level of braces
        def expand(s):
            mm = re.match(r"^(.*?)::\{(.*)\}$", s)
            if not mm:
                return [s]
            head, inner = mm.group(1), mm.group(2)
            out, depth, tok = [], 0, ""
            for ch in inner:
                if ch == "{": depth += 1
                if ch == "}": depth -= 1
                if ch == "," and depth == 0:
                    out.append(tok); tok = ""
                else:
                    tok += ch
            if tok: out.append(tok)
            res = []
            for t in out:
                for e in expand(t):
                    res.append(head + "::" + e)
            return res
        for path in expand(flat):
            segs = path.split("::")
            if segs[0] == "crate":
                target = segs[1:]
            elif segs[0] == "super":
                b = list(base)
                while segs and segs[0] == "super":
                    b = b[:-1]; segs = segs[1:]
                target = b + segs
            elif segs[0] == "self":
                target = list(base) + segs[1:]
            else:
                continue
            r = resolve(target, cur, files)
            if r is not None and r != cur and r != ():
                # a parent module (mod.rs) re-export is fine; count only when r is not an ancestor
                if cur[:len(r)] == r:
                    continue
                deps.add(r)
    # paths used inline (`super::batches::items(...)`, `crate::store::keys::x`)
    for m in re.finditer(r"\b((?:crate|super)(?:::super)*(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        segs = m.group(1).split("::")
        if segs[0] == "crate":
            target = segs[1:]
        else:
            b = list(base)
            while segs and segs[0] == "super":
                b = b[:-1]; segs = segs[1:]
            target = b + segs
        r = resolve(target, cur, files)
        if r is not None and r != cur and r != () and cur[:len(r)] != r:
            deps.add(r)
    return deps

def main():
    bad = 0
    for crate in sys.argv[1:]:
        src = Path(crate) / "src"
        files = modules(src)
        graph = {k: uses(v, k, files) for k, v in files.items()}
        # find cycles via DFS
        seen, stack, onstack = set(), [], set()
        cycles = set()
        def dfs(u):
            seen.add(u); stack.append(u); onstack.add(u)
            for v in graph.get(u, ()):
                if v in onstack:
                    cyc = stack[stack.index(v):]
                    cycles.add(tuple(sorted(cyc)))
                elif v not in seen:
                    dfs(v)
            stack.pop(); onstack.discard(u)
        for k in graph:
            if k not in seen:
                dfs(k)
        for c in sorted(cycles):
            bad += 1
            print(f"{crate}: cycle among " + ", ".join("/".join(x) or "lib" for x in c))
    sys.exit(1 if bad else 0)

main()
