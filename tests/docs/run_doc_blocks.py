#!/usr/bin/env python3
"""Runs the runnable shell blocks of the documentation.

A block is runnable when its fence's info string is exactly ``bash runnable``:

    ```bash runnable
    build/unlearn train configs/quickstart.json --out run
    ```

Every such block in README.md and docs/**/*.md runs on its own with `bash -eo pipefail`, in a
fresh temporary directory that looks like the repository root to it:

  * `configs`, `scripts` and `docs` are symlinks to the repository's folders, `build/unlearn` is a
    symlink to the binary under test, and the binary's folder is first on PATH, so a block may
    say `build/unlearn ...` (as a reader at the repository root would) or `unlearn ...`;
  * UNLEARN_SOURCE_DIR is the repository root and UNLEARN_BINARY the binary.

A block fails on a non-zero exit (or a timeout); the report names it as FILE:LINE of its opening
fence. Only mark blocks runnable that finish in seconds (tiny configs).

    tests/docs/run_doc_blocks.py --binary build/unlearn --root .          # all blocks
    tests/docs/run_doc_blocks.py --binary build/unlearn --root . --list   # where they are
    tests/docs/run_doc_blocks.py --binary build/unlearn --root . docs/getting-started.md
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*(.*?)\s*$")


def doc_files(root):
    files = [root / "README.md"] if (root / "README.md").exists() else []
    files += sorted((root / "docs").rglob("*.md")) if (root / "docs").is_dir() else []
    return files


def blocks(path):
    """(line of the opening fence, info string, text) of every fenced block in a Markdown file."""
    out = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group(1), m.group(2), m.group(3)
        start = i + 1
        body = []
        i += 1
        while i < len(lines):
            close = FENCE.match(lines[i])
            if close and close.group(2).startswith(fence[0] * len(fence)) and not close.group(3):
                break
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line)
            i += 1
        out.append((start, info, "\n".join(body) + "\n"))
        i += 1
    return out


def is_runnable(info):
    return info.split() == ["bash", "runnable"]


def prepare(workdir, root, binary):
    for name in ("configs", "scripts", "docs"):
        if (root / name).exists():
            os.symlink(root / name, workdir / name)
    (workdir / "build").mkdir()
    os.symlink(binary, workdir / "build" / "unlearn")


def run_block(root, binary, rel, line, text, timeout):
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="unlearn-doc-"))
    try:
        prepare(workdir, root, binary)
        script = workdir / ".block.sh"
        script.write_text(text, encoding="utf-8")
        env = dict(os.environ)
        env["UNLEARN_SOURCE_DIR"] = str(root)
        env["UNLEARN_BINARY"] = str(binary)
        env["PATH"] = f"{workdir / 'build'}{os.pathsep}{binary.parent}{os.pathsep}{env.get('PATH', '')}"
        t0 = time.monotonic()
        try:
            p = subprocess.run(["bash", "-eo", "pipefail", str(script)], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
            rc, output = p.returncode, p.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            rc, output = 124, (e.stdout or b"").decode("utf-8", "replace") + f"\n(timed out after {timeout} s)"
        return rc, output, time.monotonic() - t0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True, help="the unlearn executable")
    ap.add_argument("--root", required=True, help="the repository root")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per block (default 300)")
    ap.add_argument("--list", action="store_true", help="list the runnable blocks, run nothing")
    ap.add_argument("files", nargs="*", help="Markdown files (default: README.md and docs/**/*.md)")
    a = ap.parse_args()
    root = pathlib.Path(a.root).resolve()
    binary = pathlib.Path(a.binary).resolve()
    files = [pathlib.Path(f).resolve() for f in a.files] if a.files else doc_files(root)
    todo = []
    for f in files:
        rel = os.path.relpath(f, root)
        for line, info, text in blocks(f):
            if is_runnable(info):
                todo.append((rel, line, text))
    if a.list:
        for rel, line, text in todo:
            print(f"{rel}:{line}: {text.strip().splitlines()[0] if text.strip() else '(empty)'}")
        return 0
    if not binary.is_file() or not os.access(binary, os.X_OK):
        print(f"run_doc_blocks: {binary} is not an executable", file=sys.stderr)
        return 2
    if not todo:
        print("run_doc_blocks: no runnable blocks found", file=sys.stderr)
        return 1
    failed = []
    for rel, line, text in todo:
        rc, output, seconds = run_block(root, binary, rel, line, text, a.timeout)
        status = "ok" if rc == 0 else f"FAILED (exit {rc})"
        print(f"{rel}:{line}: {status}, {seconds:.1f} s", flush=True)
        if rc != 0:
            failed.append(f"{rel}:{line}")
            print("    " + "\n    ".join(text.rstrip().splitlines()))
            print("  output (last 40 lines):")
            print("    " + "\n    ".join(output.rstrip().splitlines()[-40:]), flush=True)
    print(f"run_doc_blocks: {len(todo) - len(failed)} of {len(todo)} blocks passed")
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
