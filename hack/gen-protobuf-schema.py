#!/usr/bin/env python3
"""Writes apimachinery/src/protobuf/schema.rs from the upstream API sources.

The apiserver decodes `application/vnd.kubernetes.protobuf` bodies with a
table of every message's fields (number, JSON name, type). That table is a
fact of the upstream API, so it is generated, not kept by hand:

- the `generated.proto` files give each message's field numbers and types;
- the Go `types.go` files next to them give what the .proto cannot: the JSON
  name of each field (`uID` in protobuf is `uid` in JSON), the structs that
  Go embeds with `json:",inline"` (a Volume's VolumeSource), and whether a
  zero value is written in JSON (a pointer, or a field without `omitempty`).

Usage (the upstream tree is Kubernetes' `staging/src/k8s.io`, as a directory
or inside a git repository):

    hack/gen-protobuf-schema.py --tree KUBERNETES/staging/src/k8s.io
    hack/gen-protobuf-schema.py --git-dir MICROSHIFT.git \
        --prefix deps/github.com/openshift/kubernetes/staging/src/k8s.io

It prints nothing on success and rewrites the schema file in place.
"""

import argparse
import os
import re
import subprocess
import sys

# The API packages whose messages the apiserver decodes: every group/version
# it serves, plus the shared machinery.
PACKAGES = [
    "apimachinery/pkg/runtime",
    "apimachinery/pkg/runtime/schema",
    "apimachinery/pkg/apis/meta/v1",
    "apimachinery/pkg/util/intstr",
    "apimachinery/pkg/api/resource",
    "api/core/v1",
    "api/apps/v1",
    "api/batch/v1",
    "api/autoscaling/v1",
    "api/autoscaling/v2",
    "api/policy/v1",
    "api/coordination/v1",
    "api/discovery/v1",
    "api/events/v1",
    "api/scheduling/v1",
    "api/networking/v1",
    "api/node/v1",
    "api/storage/v1",
    "api/rbac/v1",
    "api/certificates/v1",
    "api/flowcontrol/v1",
    "api/admissionregistration/v1",
    "api/admissionregistration/v1beta1",
    "api/resource/v1",
    "api/authentication/v1",
    "api/authorization/v1",
    "apiextensions-apiserver/pkg/apis/apiextensions/v1",
    "kube-aggregator/pkg/apis/apiregistration/v1",
]

# Messages the decoder turns into JSON values of their own shape (see `T`).
SPECIAL = {
    "meta.v1.Time": "T::Time",
    "meta.v1.MicroTime": "T::MicroTime",
    "meta.v1.Duration": "T::Duration",
    "meta.v1.FieldsV1": "T::FieldsV1",
    "runtime.RawExtension": "T::Raw",
    "apiextensions.v1.JSON": "T::Raw",
    "intstr.IntOrString": "T::IntOrString",
    "resource.Quantity": "T::Quantity",
}

SCALARS = {
    "string": "T::Str",
    "bytes": "T::Bytes",
    "bool": "T::Bool",
    "int32": "T::Int",
    "int64": "T::Int",
    "uint32": "T::Int",
    "uint64": "T::Int",
    "sint32": "T::Int",
    "sint64": "T::Int",
    "fixed32": "T::Int",
    "fixed64": "T::Int",
    "double": "T::Float",
    "float": "T::Float",
}


class Source:
    """Reads files of the upstream tree from a directory or a git object store."""

    def __init__(self, tree, git_dir, prefix):
        self.tree, self.git_dir, self.prefix = tree, git_dir, prefix

    def _git(self, *args):
        return subprocess.run(
            ["git", "-C", self.git_dir, *args], check=True, capture_output=True, text=True
        ).stdout

    def read(self, rel):
        if self.tree:
            with open(os.path.join(self.tree, rel), encoding="utf-8") as f:
                return f.read()
        return self._git("show", f"HEAD:{self.prefix}/{rel}")

    def list_dir(self, rel):
        if self.tree:
            return sorted(os.listdir(os.path.join(self.tree, rel)))
        out = self._git("ls-tree", "--name-only", "HEAD", f"{self.prefix}/{rel}/")
        return sorted(os.path.basename(line) for line in out.splitlines())


def short_package(proto_package):
    """`k8s.io.api.core.v1` -> `core.v1`; meta, runtime, intstr, resource likewise."""
    parts = proto_package.split(".")
    if parts[:3] == ["k8s", "io", "api"]:
        return ".".join(parts[3:])
    if parts[-2:] == ["api", "resource"]:
        return "resource"
    if parts[-2:] == ["runtime", "schema"]:
        return "schema"
    if parts[-1] in ("runtime", "intstr"):
        return parts[-1]
    # .../apis/<group>/<version>
    return ".".join(parts[-2:])


def parse_proto(text):
    """Messages of one .proto: name -> (fields, nullable wrapper?)."""
    package = re.search(r"^package ([\w.]+);", text, re.M).group(1)
    messages = {}
    comments = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("//"):
            comments.append(line)
            continue
        m = re.match(r"message (\w+) \{", line)
        if m:
            current = m.group(1)
            nullable = any("+protobuf.nullable=true" in c for c in comments)
            messages[current] = {"fields": [], "nullable": nullable}
            comments = []
            continue
        if line == "}":
            current = None
        comments = []
        if current is None:
            continue
        m = re.match(r"(?:(optional|repeated|required) )?([\w.]+) (\w+) = (\d+)", line)
        if m:
            label, ty, name, num = m.groups()
            messages[current]["fields"].append(
                {"num": int(num), "proto_name": name, "type": ty, "repeated": label == "repeated"}
            )
            continue
        m = re.match(r"map<(\w+), ([\w.]+)> (\w+) = (\d+)", line)
        if m:
            _, value, name, num = m.groups()
            messages[current]["fields"].append(
                {"num": int(num), "proto_name": name, "type": value, "map": True}
            )
    return package, messages


def parse_go(text):
    """Go struct fields with a protobuf tag: (struct, proto name) -> facts."""
    facts = {}
    struct = None
    for raw in text.splitlines():
        m = re.match(r"type (\w+) struct \{", raw)
        if m:
            struct = m.group(1)
            continue
        if raw.startswith("}"):
            struct = None
            continue
        if struct is None:
            continue
        tags = re.search(r"`([^`]*)`", raw)
        if not tags:
            continue
        proto = re.search(r'protobuf:"([^"]*)"', tags.group(1))
        json_tag = re.search(r'json:"([^"]*)"', tags.group(1))
        if not proto:
            continue
        decl = raw[: tags.start()].split()
        # `Name *Type` or an embedded `Type` / `pkg.Type`.
        go_name = decl[0] if len(decl) >= 2 else decl[0].split(".")[-1]
        go_type = decl[1] if len(decl) >= 2 else decl[0]
        opts = proto.group(1).split(",")
        name_opt = [o[5:] for o in opts if o.startswith("name=")]
        proto_name = name_opt[0] if name_opt else go_name[0].lower() + go_name[1:]
        json_parts = (json_tag.group(1) if json_tag else "").split(",")
        facts[(struct, proto_name)] = {
            "json": json_parts[0],
            "inline": "inline" in json_parts[1:],
            "omitempty": "omitempty" in json_parts[1:],
            "pointer": go_type.startswith("*"),
        }
    return facts


def load(source):
    messages = {}  # full message name -> (short package, name, fields, nullable)
    go_facts = {}  # (short package, struct, proto name) -> facts
    for pkg in PACKAGES:
        package, msgs = parse_proto(source.read(f"{pkg}/generated.proto"))
        short = short_package(package)
        for name, msg in msgs.items():
            messages[f"{package}.{name}"] = (short, name, msg["fields"], msg["nullable"])
        for f in source.list_dir(pkg):
            if not f.endswith(".go") or f.endswith("_test.go") or f.startswith("zz_generated"):
                continue
            if f.startswith("generated.") or "swagger_doc" in f:
                continue
            for (struct, pname), fact in parse_go(source.read(f"{pkg}/{f}")).items():
                go_facts[(short, struct, pname)] = fact
    return messages, go_facts


def resolve(ty, package, messages):
    """The full name of a message type as referenced from `package`."""
    ty = ty.lstrip(".")
    if ty in messages:
        return ty
    full = f"{package}.{ty}"
    if full in messages:
        return full
    raise SystemExit(f"unknown message type {ty} (from {package})")


def rust_type(field, package, messages):
    ty = field["type"]
    if ty in SCALARS:
        inner = SCALARS[ty]
    else:
        full = resolve(ty, package, messages)
        short, name, fields, nullable = messages[full]
        qualified = f"{short}.{name}"
        if qualified in SPECIAL:
            inner = SPECIAL[qualified]
        elif nullable and len(fields) == 1 and fields[0]["repeated"]:
            # A named list (`ExtraValue []string`) wrapped for protobuf: in
            # JSON it is the list itself.
            inner = "T::List(&" + rust_type({**fields[0], "repeated": False}, full.rsplit(".", 1)[0], messages) + ")"
        else:
            inner = f'T::Msg("{qualified}")'
    if field.get("map"):
        return f"T::Map(&{inner})"
    if field.get("repeated"):
        return f"T::List(&{inner})"
    return inner


def generate(messages, go_facts):
    entries = []
    keep_zero = []
    for full in sorted(messages, key=lambda n: f"{messages[n][0]}.{messages[n][1]}"):
        short, name, fields, _ = messages[full]
        qualified = f"{short}.{name}"
        if qualified in SPECIAL:
            continue
        package = full.rsplit(".", 1)[0]
        rows = []
        for field in fields:
            fact = go_facts.get((short, name, field["proto_name"]))
            ty = rust_type(field, package, messages)
            json_name = field["proto_name"]
            if fact:
                if fact["inline"] and ty.startswith("T::Msg("):
                    ty = "T::Inline(" + ty[len("T::Msg("):]
                elif fact["json"] and fact["json"] != "-":
                    # "-": not in JSON at all (runtime.Unknown's raw bytes);
                    # the decoder still needs a name for it.
                    json_name = fact["json"]
                scalar = ty in ("T::Int", "T::Bool", "T::Float")
                if scalar and (fact["pointer"] or not fact["omitempty"]):
                    keep_zero.append(f"{qualified}.{json_name}")
            rows.append(f'F({field["num"]}, "{json_name}", {ty})')
        entries.append((qualified, rows))
    return entries, keep_zero


HEADER = """\
//! The field table of the Kubernetes protobuf messages this cluster decodes:
//! for each message, its fields as (number, JSON name, type).
//!
//! GENERATED by `hack/gen-protobuf-schema.py` from the upstream API's
//! `generated.proto` and `types.go` files; do not edit by hand. The field
//! numbers are fixed forever by the API's compatibility rules, so a decoder
//! must know them; the JSON names, inlined structs and meaningful zeros come
//! from the Go types. Messages are named `<group>.<version>.<Kind>`
//! (`core.v1.Pod`, `meta.v1.ObjectMeta`) and sorted by name.

use super::{F, T};

/// Every message, sorted by name.
#[rustfmt::skip]
pub static MESSAGES: &[(&str, &[F])] = &[
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", help="Kubernetes staging/src/k8s.io directory")
    ap.add_argument("--git-dir", help="a git repository holding the tree")
    ap.add_argument("--prefix", help="the tree's path inside --git-dir")
    ap.add_argument(
        "--out",
        default=os.path.join(os.path.dirname(__file__), "..", "apimachinery", "src", "protobuf", "schema.rs"),
    )
    args = ap.parse_args()
    if not args.tree and not (args.git_dir and args.prefix):
        ap.error("give --tree, or --git-dir and --prefix")
    messages, go_facts = load(Source(args.tree, args.git_dir, args.prefix))
    entries, keep_zero = generate(messages, go_facts)
    out = [HEADER]
    for name, rows in entries:
        out.append(f'    ("{name}", &[\n')
        for row in rows:
            out.append(f"        {row},\n")
        out.append("    ]),\n")
    out.append("];\n\n")
    out.append("/// Scalar fields (`message.field`) whose zero value JSON keeps: Go\n")
    out.append("/// pointers, and fields without `omitempty`.\n")
    out.append("#[rustfmt::skip]\npub static KEEP_ZERO: &[&str] = &[\n")
    for q in sorted(set(keep_zero)):
        out.append(f'    "{q}",\n')
    out.append("];\n")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("".join(out))


if __name__ == "__main__":
    sys.exit(main())
