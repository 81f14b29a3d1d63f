#!/usr/bin/env python3
"""Checks that every crate's modules can be read top-down: no module imports, directly or through
others, a module that imports it back. An edge X -> Y is any `crate::Y` path (or `super::Y` from
inside X's own submodules) in X's code outside its `#[cfg(test)]` module. Prints each crate's
reading order, or each cycle found, and exits 1 on a cycle.
  tools/module-order.py [--order] [CRATE_DIR...]"""
import os, re, sys

def strip_tests(text):
    # Unit tests read the module from below; they are not part of its reading order.
    m = re.search(r'^#\[cfg\(test\)\]\s*\nmod tests\b', text, re.M)
    return text[:m.start()] if m else text

def strip_comments(text):
    text = re.sub(r'//[^\n]*', '', text)
    return re.sub(r'/\*.*?\*/', '', text, flags=re.S)

def modules(src):
    mods = {}
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if name.endswith('.rs') and name not in ('lib.rs', 'main.rs'):
            mods[name[:-3]] = [path]
        elif os.path.isdir(path):
            files = []
            for d, _, fs in os.walk(path):
                files += [os.path.join(d, f) for f in fs if f.endswith('.rs')]
            mods.setdefault(name, []).extend(sorted(files))
    return mods

def edges(src):
    mods = modules(src)
    out = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            text = strip_comments(strip_tests(open(f).read()))
            refs = set(re.findall(r'\bcrate::(\w+)', text))
            # `use crate::{a, b::c}` groups.
            for group in re.findall(r'\bcrate::\{([^;]*)\}', text):
                refs |= set(re.findall(r'(?:^|[,{\s])(\w+)', group))
            if f != os.path.join(src, m + '.rs') and not f.endswith('/mod.rs'):
                pass
            if os.path.dirname(f) == os.path.join(src, m):
                refs |= set(re.findall(r'\bsuper::(\w+)', text)) - {'super'}
            out[m] |= {r for r in refs if r in mods and r != m}
    return out

def sccs(graph):
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            result.append(sorted(comp))
    for v in sorted(graph):
        if v not in index: visit(v)
    return result

def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    crates = args or sorted(os.path.join(root, 'crates', c) for c in os.listdir(os.path.join(root, 'crates')))
    bad = False
    for crate in crates:
        src = os.path.join(crate, 'src')
        graph = edges(src)
        comps = sccs(graph)  # Tarjan yields dependencies before dependents: a reading order.
        cycles = [c for c in comps if len(c) > 1]
        name = os.path.basename(os.path.normpath(crate))
        for c in cycles:
            bad = True
            inner = {m: sorted(graph[m] & set(c)) for m in c}
            print(f"error: {name}: modules import each other: " +
                  "; ".join(f"{m} -> {', '.join(t)}" for m, t in inner.items()))
        if '--order' in sys.argv and not cycles:
            print(f"{name}: " + " → ".join(c[0] for c in comps))
    if bad:
        print("hint: move what both need into a module below them, or pass it in as a value")
    sys.exit(1 if bad else 0)

main()
