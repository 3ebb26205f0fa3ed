#!/usr/bin/env python3
"""Checks docs/config.md against the strict config readers, both ways.

docs/config.md has one table per config section, each preceded by a comment

    <!-- check: CONTEXT[,CONTEXT...] SECTION -->

CONTEXT names a small, valid base config built below (BASES); SECTION is the dotted path of the
section inside it ("." the top level, "train.bank", "erase.rules[0]"). The first column of the
table is the key in backticks, the third its default: a JSON literal in backticks, "*required*"
(with an example value in backticks, or none), or anything else (a derived default: not tried).

1. Documented keys are accepted (needs --binary). For each (context, section) the script builds
   the base config with every documented key that has a literal default and is not already set
   by the base (which fixes the kinds, rules and required keys) set to it, plus one
   sentinel key "zz_doc_check" in that section, and runs the cheapest command that reads the
   config (`unlearn train CONFIG --out DIR`, `unlearn experiment CONFIG --out DIR`, `unlearn
   forget RUN --ids 0 --method M --options JSON`). The strict reader reads everything, then its
   finish() refuses the sentinel with "<section>: unknown key "zz_doc_check"; allowed keys: ...",
   exit code 2, before any training. So:
     - any other error means a documented default was refused (the script then tries the keys one
       at a time and names the ones refused);
     - every documented key of the section must be in the listed allowed keys;
     - every allowed key must be documented for that section (the binary's side of check 2).
2. Every key the reader sources ask for is documented (no binary needed). A heuristic grep over
   READER_SOURCES: string literals passed as the first argument of `get<...>("key"`,
   `get_optional<...>("key"`, `require<...>("key"`, `get_vector<...>("key"`,
   `get_choice<...>("key"`, `get_enum("key"`, `has("key"`, `raw("key"`, `object("key"`,
   `objects("key"` and the second argument of `read_per_method[_enum](r, "key"`. Keys read
   through variables (per-method objects: "vi", "sgld", "sghmc") are not seen. The grep does not
   know sections, so a key counts as documented when it appears in any table; check 1 is the
   per-section check. IGNORED lists literals the grep finds that are not config keys.

    tests/docs/check_config_reference.py --root .                          # check 2 only
    tests/docs/check_config_reference.py --root . --binary build/unlearn   # both
"""
import argparse
import copy
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

SENTINEL = "zz_doc_check"

READER_SOURCES = [
    "apps/unlearn/run_config.cpp",
    "models/config/data_section.cpp",
    "models/registry.cpp",
    "models/bnn/bnn_config.cpp",
    "models/*/*.cpp",
    "studies/src/*/*.cpp",
    "studies/src/*/*.h",
    "lib/src/inference/sgmcmc.cpp",
    "lib/src/model/model_registry.cpp",
    "lib/src/unlearning/methods/*.cpp",
    "lib/src/unlearning/methods/*.h",
]
IGNORED = set()

CHECK = re.compile(r"<!--\s*check:\s*(\S+)\s+(\S+)\s*-->")
READ_CALL = re.compile(
    r"\b(?:(?:get|get_optional|require|get_vector|get_choice)\s*<[^;()]*?>|get_enum|has|raw|object|objects)"
    r"\s*\(\s*\"([A-Za-z_][A-Za-z0-9_]*)\"")
PER_METHOD = re.compile(r"\bread_per_method(?:_enum)?\s*\(\s*\w+\s*,\s*\"([A-Za-z_][A-Za-z0-9_]*)\"")
ALLOWED = re.compile(r"allowed keys: (.*)$", re.M)


# ---- docs/config.md -------------------------------------------------------------------------

def split_row(line):
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip() for c in cells[1:-1]]


def parse_default(cell):
    """(has_literal, value) of a default cell."""
    m = re.fullmatch(r"`(.+)`", cell)
    if not m:
        m = re.fullmatch(r"\*required\*\s*\(`(.+)`(?: or .*)?\)", cell)
    if not m:
        return False, None
    try:
        return True, json.loads(m.group(1))
    except json.JSONDecodeError:
        return False, None


def parse_tables(path):
    """{(context, section): {key: (has_literal, value)}} and the set of all documented keys."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tables, every_key = {}, set()
    i = 0
    while i < len(lines):
        m = CHECK.search(lines[i])
        i += 1
        if not m:
            continue
        contexts, section = m.group(1).split(","), m.group(2)
        while i < len(lines) and not lines[i].lstrip().startswith("|"):
            i += 1
        rows = []
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            rows.append(split_row(lines[i]))
            i += 1
        keys = {}
        for cells in rows[2:]:  # header, separator
            km = re.fullmatch(r"`([^`]+)`", cells[0])
            if not km:
                continue
            keys[km.group(1)] = parse_default(cells[2]) if len(cells) > 2 else (False, None)
            every_key.add(km.group(1))
        for c in contexts:
            tables.setdefault((c, section), {}).update(keys)
    return tables, every_key


# ---- check 2: the reader sources ------------------------------------------------------------

def source_keys(root):
    found = {}
    for pattern in READER_SOURCES:
        for f in sorted(root.glob(pattern)):
            text = f.read_text(encoding="utf-8", errors="replace")
            for rx in (READ_CALL, PER_METHOD):
                for m in rx.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    found.setdefault(m.group(1), f"{os.path.relpath(f, root)}:{line}")
    return {k: v for k, v in found.items() if k not in IGNORED}


# ---- check 1: the binary --------------------------------------------------------------------

def load_config(root, name):
    return json.loads((root / "configs" / name).read_text(encoding="utf-8"))


def bases(root, work):
    ids = work / "ids.txt"
    ids.write_text("0\n1\n")
    moons = {"kind": "csv", "path": "configs/data/moons_100.csv", "features": ["x1", "x2"],
             "label": "label", "id_column": "id"}
    gmm_data = {"kind": "csv", "path": "configs/data/gmm_2d_2000.csv", "features": ["x1", "x2"],
                "label": "label", "id_column": "id"}
    synthetic = {"kind": "synthetic_regression", "n": 20, "features": 2}
    vi = {"method": "vi", "steps": 5, "num_samples": 2, "checkpoint_every": 0}

    def run(data, model, train=None):
        return {"kind": "train", "config": {"seed": 0, "data": data, "model": model,
                                            "posterior": {"family": "full_rank"}, "train": train or vi}}

    vbu = load_config(root, "moons_vbu_tiny.json")
    vbu_random = copy.deepcopy(vbu)
    vbu_random["erase"] = {"rule": "random", "count": 5}
    vbu_ids = copy.deepcopy(vbu)
    vbu_ids["erase"] = {"rule": "ids_file", "path": str(ids)}
    gauss = run(synthetic, {"kind": "linear_regression"})["config"]
    exact = run(synthetic, {"kind": "linear_regression"}, {"method": "exact"})["config"]
    return {
        "run-vi": run(synthetic, {"kind": "linear_regression"}),
        "run-sghmc": run(synthetic, {"kind": "linear_regression"},
                         {"method": "sghmc", "steps": 10, "bank": {"burn_in": 2}, "checkpoint_every": 0}),
        "run-csv": run(moons, {"kind": "logistic"}),
        "run-sparse_gp": run(moons, {"kind": "sparse_gp", "inducing": "configs/data/moons_inducing_20.csv"}),
        "run-gmm": run(gmm_data, {"kind": "gmm"}),
        "run-fmnist": run({"kind": "fashion_mnist", "subset": 50, "dtype": "float32"},
                          {"kind": "bnn_mlp", "hidden": [4]}),
        "vbu": {"kind": "experiment", "config": vbu},
        "vbu-random": {"kind": "experiment", "config": vbu_random},
        "vbu-ids_file": {"kind": "experiment", "config": vbu_ids},
        "gmm_bif": {"kind": "experiment", "config": load_config(root, "gmm_bif_tiny.json")},
        "fmnist_bif": {"kind": "experiment", "config": load_config(root, "fmnist_bif_tiny.json")},
        "forget-exact": {"kind": "forget", "run": exact, "method": "exact"},
        "forget-eubo": {"kind": "forget", "run": gauss, "method": "eubo"},
        "forget-rkl": {"kind": "forget", "run": gauss, "method": "rkl"},
        "forget-rkl_closed": {"kind": "forget", "run": gauss, "method": "rkl_closed"},
        # bif reads every key on either posterior form (and refuses the other form's keys only
        # when it runs), so one context on a Gaussian run covers its three tables.
        "forget-bif": {"kind": "forget", "run": gauss, "method": "bif"},
        "forget-retrain": {"kind": "forget", "run": gauss, "method": "retrain"},
    }


def section_of(config, section):
    """The JSON object at a dotted path ("." the top level, "erase.rules[0]"), created if absent."""
    node = config
    if section == ".":
        return node
    for part in section.split("."):
        m = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", part)
        name, index = m.group(1), m.group(2)
        if index is None:
            node = node.setdefault(name, {})
        else:
            node = node[name][int(index)]
    return node


class Binary:
    def __init__(self, binary, root, work):
        self.binary, self.root, self.work = binary, root, work
        self.runs = {}
        self.count = 0

    def call(self, args):
        p = subprocess.run([str(self.binary)] + args,
                           cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def trained_run(self, config):
        key = json.dumps(config, sort_keys=True)
        if key not in self.runs:
            self.count += 1
            cfg = self.work / f"run{self.count}.json"
            cfg.write_text(json.dumps(config))
            out = self.work / f"run{self.count}"
            rc, output = self.call(["train", str(cfg), "--out", str(out), "--quiet"])
            if rc != 0:
                raise RuntimeError(f"training the base run failed ({rc}):\n{output}")
            self.runs[key] = out
        return self.runs[key]

    def read(self, base, config_or_options):
        """(exit code, output) of the command that reads this config or these method options."""
        self.count += 1
        if base["kind"] == "forget":
            run = self.trained_run(base["run"])
            return self.call(["forget", str(run), "--ids", "0", "--method", base["method"],
                              "--options", json.dumps(config_or_options), "--quiet"])
        cfg = self.work / f"cfg{self.count}.json"
        cfg.write_text(json.dumps(config_or_options))
        return self.call([base["kind"], str(cfg), "--out", str(self.work / f"out{self.count}")])


def sentinel_error(output, section):
    where = "top level" if section == "." else section
    for line in output.splitlines():
        if f'unknown key "{SENTINEL}"' in line and ALLOWED.search(line):
            allowed = set(re.findall(r'"([^"]+)"', ALLOWED.search(line).group(1)))
            return allowed, (where in line or section == "." or line.find("method ") >= 0)
    return None, False


def check_binary(binary, root, tables):
    problems = []
    with tempfile.TemporaryDirectory(prefix="unlearn-config-check-") as tmp:
        work = pathlib.Path(tmp)
        all_bases = bases(root, work)
        b = Binary(binary, root, work)
        for (context, section), keys in sorted(tables.items()):
            if context not in all_bases:
                problems.append(f"docs/config.md: unknown check context {context!r}")
                continue
            base = all_bases[context]
            if context == "run-fmnist" and not pathlib.Path("/usr/share/datasets/fashion-mnist").is_dir():
                print(f"  {context:18s} {section:16s} skipped: no Fashion-MNIST (apt-get install dataset-fashion-mnist)")
                continue

            def build(with_keys):
                if base["kind"] == "forget":
                    doc = {}
                    target = doc
                else:
                    doc = copy.deepcopy(base["config"])
                    target = section_of(doc, section)
                for k in with_keys:
                    if k not in target:  # the base's own values (kinds, rules, sections) stay
                        target[k] = copy.deepcopy(keys[k][1])
                target[SENTINEL] = 0
                return doc

            literal = [k for k, (has, _) in keys.items() if has]
            try:
                rc, output = b.read(base, build(literal))
            except RuntimeError as e:
                problems.append(f"{context} {section}: {e}")
                continue
            allowed, _ = sentinel_error(output, section)
            if rc != 2 or allowed is None:
                rc0, out0 = b.read(base, build([]))
                allowed, _ = sentinel_error(out0, section)
                if allowed is None:
                    last = out0.strip().splitlines()[-1] if out0.strip() else ""
                    problems.append(f"{context} {section}: the base config itself fails (exit {rc0}): {last}")
                    continue
                for k in literal:
                    rc1, out1 = b.read(base, build([k]))
                    if sentinel_error(out1, section)[0] is None:
                        last = out1.strip().splitlines()[-1] if out1.strip() else f"exit {rc1}"
                        problems.append(f"{context} {section}: documented default refused: "
                                        f"{k} = {json.dumps(keys[k][1])}: {last}")
            allowed.discard(SENTINEL)
            for k in sorted(set(keys) - allowed):
                problems.append(f"{context} {section}: documented key {k!r} is not accepted (allowed: {sorted(allowed)})")
            for k in sorted(allowed - set(keys)):
                problems.append(f"{context} {section}: accepted key {k!r} is not documented in this table")
            print(f"  {context:18s} {section:16s} {len(keys):3d} keys documented, {len(allowed):3d} accepted", flush=True)
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="the repository root")
    ap.add_argument("--binary", help="the unlearn executable (without: only the source grep)")
    ap.add_argument("--doc", default="docs/config.md", help="the reference page, relative to --root")
    a = ap.parse_args()
    root = pathlib.Path(a.root).resolve()
    tables, documented = parse_tables(root / a.doc)
    if not tables:
        print(f"check_config_reference: no <!-- check: --> tables in {a.doc}", file=sys.stderr)
        return 1
    problems = []
    keys = source_keys(root)
    for k, where in sorted(keys.items()):
        if k not in documented:
            problems.append(f"{where}: the reader asks for {k!r}, which {a.doc} does not document")
    print(f"check_config_reference: {len(documented)} keys documented in {len(tables)} sections; "
          f"{len(keys)} keys found in the reader sources")
    if a.binary:
        problems += check_binary(pathlib.Path(a.binary).resolve(), root, tables)
    for p in problems:
        print("FAIL " + p)
    print(f"check_config_reference: {'ok' if not problems else str(len(problems)) + ' problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
