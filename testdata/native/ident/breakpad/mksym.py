#!/usr/bin/env python3
"""Builds prog (g++ -O2 -g) and writes prog.sym, a Breakpad symbol file.

dump_syms is not packaged for Debian, so the records come from llvm-symbolizer
--inlining run on every byte of every function: line records from the
innermost frame, INLINE records from the inline chain (each level's call site
is the file:line llvm-symbolizer gives the level outside it). FUNC names are
the mangled linkage names (the parser demangles); main gets only a PUBLIC
record, to exercise the PUBLIC fallback. Run from this directory:
    python3 mksym.py
"""
import subprocess

subprocess.run(["g++", "-O2", "-g", "-fdebug-prefix-map=%s=/src" % __import__("os").getcwd(),
                "-Wl,--build-id=sha1", "prog.cc", "-o", "prog"], check=True)

funcs = []
for line in subprocess.run(["nm", "-S", "--defined-only", "prog"], capture_output=True,
                           text=True, check=True).stdout.splitlines():
    f = line.split()
    if len(f) == 4 and f[2] in "Tt" and int(f[1], 16) > 0:
        name = f[3]
        if name.startswith(("_ZN4shop", "_ZL8checksum", "main")) or "checksum" in name:
            funcs.append((int(f[0], 16), int(f[1], 16), name))
funcs.sort()

addrs = [a for start, size, _ in funcs for a in range(start, start + size)]
out = subprocess.run(["llvm-symbolizer", "--obj=prog", "--inlining", "--functions=linkage",
                      "--no-demangle"],
                     input="".join("0x%x\n" % a for a in addrs), capture_output=True, text=True,
                     check=True).stdout
blocks = out.strip("\n").split("\n\n")
assert len(blocks) == len(addrs), (len(blocks), len(addrs))

files = {}
def file_id(path):
    return files.setdefault(path, len(files))
origins = {}
def origin_id(name):
    return origins.setdefault(name, len(origins))

ident = subprocess.run(["readelf", "-n", "prog"], capture_output=True, text=True, check=True).stdout
build_id = ident.split("Build ID: ")[1].split()[0]
guid = build_id[:32]
swapped = "".join(guid[i:i + 2] for i in (6, 4, 2, 0)) + guid[10:12] + guid[8:10] + guid[14:16] + guid[12:14] + guid[16:32]

records = []
for start, size, name in funcs:
    frames_at = {}
    for a in range(start, start + size):
        lines = blocks[addrs.index(a)].splitlines()
        frames = []
        for i in range(0, len(lines), 2):
            path, line, _col = lines[i + 1].rsplit(":", 2)
            frames.append((lines[i], path, int(line)))
        frames.reverse()  # outermost first
        frames_at[a] = frames
    if name == "main":
        records.append(("PUBLIC", "PUBLIC %x 0 %s" % (start, name)))
        continue
    body = ["FUNC %x %x 0 %s" % (start, size, name)]
    # Line records: runs of equal innermost file:line.
    run = None
    for a in range(start, start + size + 1):
        key = None if a == start + size else frames_at[a][-1][1:]
        if run and key == run[1]:
            continue
        if run:
            body.append("%x %x %d %d" % (run[0], a - run[0], run[1][1], file_id(run[1][0])))
        run = (a, key) if key else None
    # INLINE records: runs of an equal inline chain prefix, per depth.
    inlines = {}
    for a in range(start, start + size):
        fr = frames_at[a]
        for depth in range(len(fr) - 1):
            key = (depth, tuple(fr[:depth + 2][:-1]), fr[depth + 1][0])
            inlines.setdefault(key, []).append(a)
    for (depth, outer, origin), at in sorted(inlines.items(), key=lambda kv: (kv[0][0], kv[1][0])):
        ranges, s = [], at[0]
        for prev, cur in zip(at, at[1:] + [None]):
            if cur != prev + 1:
                ranges.append((s, prev + 1 - s))
                s = cur
        call = outer[-1]
        body.append("INLINE %d %d %d %d %s" % (depth, call[2], file_id(call[1]), origin_id(origin),
                                               " ".join("%x %x" % r for r in ranges)))
    records.append(("FUNC", "\n".join(body)))

with open("prog.sym", "w") as f:
    f.write("MODULE Linux x86_64 %s0 prog\n" % swapped.upper())
    f.write("INFO CODE_ID %s\n" % build_id.upper())
    for path, n in sorted(files.items(), key=lambda kv: kv[1]):
        f.write("FILE %d %s\n" % (n, path))
    for name, n in sorted(origins.items(), key=lambda kv: kv[1]):
        f.write("INLINE_ORIGIN %d %s\n" % (n, name))
    for kind, text in records:
        if kind == "FUNC":
            f.write(text + "\n")
    for kind, text in records:
        if kind == "PUBLIC":
            f.write(text + "\n")
    f.write("STACK CFI INIT %x 1 .cfa: $rsp 8 + .ra: .cfa -8 + ^\n" % funcs[0][0])
