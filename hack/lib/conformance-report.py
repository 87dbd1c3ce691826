#!/usr/bin/env python3
"""Turns the junit reports of a conformance run (ginkgo's, one per phase)
into docs/conformance.md: when and how it ran, how many [Conformance] specs
passed, and one line per failing spec with the first line of its failure.

Specs ginkgo left out (another phase's label, or outside --focus) appear in
its junit as skipped; they count towards the total the suite holds, not
towards the specs that ran.
"""
import argparse
import os
import re
import xml.etree.ElementTree as ET


def keep_conformance(path, dest):
    """A copy of the junit at `path` holding only the [Conformance] specs."""
    tree = ET.parse(path)
    for suite in tree.getroot().iter("testsuite"):
        for case in list(suite.findall("testcase")):
            if "[Conformance]" not in case.get("name", ""):
                suite.remove(case)
            elif case.get("status") in ("passed", "skipped"):
                # Only a failure's output is worth keeping.
                for out in case.findall("system-out") + case.findall("system-err"):
                    case.remove(out)
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("skipped", str(sum(1 for c in cases if c.get("status") == "skipped")))
        suite.set("failures", str(sum(1 for c in cases if c.get("status") == "failed")))
    tree.write(dest, encoding="utf-8", xml_declaration=True)


def specs(paths):
    """name -> (state, first failure line) over every report; a spec that ran
    in one phase wins over its skipped entry in the other."""
    out = {}
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            name = case.get("name", "")
            if "[Conformance]" not in name:
                continue
            name = re.sub(r"^\[It\]\s*", "", name)
            # ginkgo appends the spec's labels: "... [sig-node, Conformance]".
            name = re.sub(r"\s*\[[^\]]*, [^\]]*\]$", "", name)
            status = case.get("status")
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            if status is None:
                if failure is not None:
                    status = "failed"
                elif case.find("skipped") is not None:
                    status = "skipped"
                else:
                    status = "passed"
            message = ""
            if failure is not None:
                text = failure.get("message") or failure.text or ""
                lines = [l.strip() for l in text.splitlines() if l.strip()]
                message = lines[0] if lines else status
            if status in ("failed", "panicked", "interrupted", "timedout", "aborted"):
                status = "failed"
            old = out.get(name)
            if old is None or old[0] == "skipped":
                out[name] = (status, message)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--started", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--focus", default="")
    ap.add_argument("--version", default="")
    ap.add_argument("--note", default="")
    ap.add_argument("--keep-dir", default="",
                    help="write junit_<phase>.xml (conformance specs only) here; "
                         "<phase> is the directory each junit file is in")
    ap.add_argument("--require", default="",
                    help="a file of spec names (one per line, # comments): exit 1 "
                         "unless each of them ran and passed")
    ap.add_argument("junit", nargs="+")
    a = ap.parse_args()
    all_specs = specs(a.junit)
    kept = a.junit
    if a.keep_dir:
        kept = []
        for path in a.junit:
            phase = os.path.basename(os.path.dirname(os.path.abspath(path)))
            dest = os.path.join(a.keep_dir, f"junit_{phase}.xml")
            keep_conformance(path, dest)
            kept.append(dest)
    ran = {n: s for n, s in all_specs.items() if s[0] != "skipped"}
    passed = sorted(n for n, s in ran.items() if s[0] == "passed")
    failed = sorted(n for n, s in ran.items() if s[0] == "failed")
    total = len(all_specs)
    partial = bool(a.focus) or len(ran) < total
    lines = ["# Upstream conformance results", ""]
    lines.append(f"- Run: {a.started}" + (f", suite built as {a.version}" if a.version else ""))
    lines.append(f"- Command: `{a.command}`")
    lines.append("- Junit: " + ", ".join(f"`{p}`" for p in kept))
    if a.note:
        lines.append(f"- Note: {a.note}")
    lines.append("")
    share = 100.0 * len(passed) / total if total else 0.0
    lines.append(f"**{len(passed)} of {total} [Conformance] specs passed ({share:.1f}%).**")
    if partial:
        lines.append("")
        lines.append(
            f"This was a partial run: {len(ran)} of the {total} specs ran"
            + (f" (focus `{a.focus}`)" if a.focus else "")
            + "; the others were not attempted and count as not passed."
        )
    lines.append("")
    lines.append(f"| ran | passed | failed |")
    lines.append(f"| --- | --- | --- |")
    lines.append(f"| {len(ran)} | {len(passed)} | {len(failed)} |")
    lines.append("")
    lines.append(f"## Failing specs ({len(failed)})")
    lines.append("")
    for n in failed:
        msg = ran[n][1].replace("|", "\\|")
        lines.append(f"- {n}: {msg}")
    lines.append("")
    lines.append(f"## Passing specs ({len(passed)})")
    lines.append("")
    for n in passed:
        lines.append(f"- {n}")
    lines.append("")
    with open(a.out, "w") as f:
        f.write("\n".join(lines))
    if a.require:
        return require(a.require, all_specs)
    return 0


def require(path, all_specs):
    """Each spec named in `path` must have run and passed: prints the ones
    that did not (with their failure) and returns 1 if any."""
    with open(path) as f:
        wanted = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    bad = []
    for name in wanted:
        state = all_specs.get(name)
        if state is None:
            bad.append(f"{name}: not in the suite (renamed upstream?)")
        elif state[0] != "passed":
            bad.append(f"{name}: {state[0]}: {state[1]}")
    for line in bad:
        print(f"NOT PASSED: {line}")
    print(f">>> {len(wanted) - len(bad)} of {len(wanted)} required specs passed")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
