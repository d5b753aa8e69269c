#!/usr/bin/python3
"""Checks the API's recorded answers against docs/openapi.yaml.

test_api records every answer it gets (method, path, status, content type, body) as one JSON
object per line. Each must be documented: the path and method (or a 404/405 for an unknown
path or method), the status among the operation's responses, and a body of a documented media
type that validates against its schema. Exits 1 naming every answer that does not.

usage: check_openapi.py openapi.yaml responses.jsonl
"""
import json
import sys

import jsonschema
import yaml


def resolve(spec, obj):
    """Follows a local $ref (#/a/b) to what it names."""
    while isinstance(obj, dict) and "$ref" in obj:
        node = spec
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def check(spec, rec):
    """Returns what is wrong with one recorded answer, or None."""
    method = rec["method"].lower()
    path = rec["path"].split("?", 1)[0]
    status = str(rec["status"])
    item = spec["paths"].get(path)
    if item is None:
        return None if status == "404" else f"undocumented path {path} answered {status}"
    op = item.get(method)
    if op is None:
        if method == "head" and "get" in item:
            op = item["get"]
        else:
            return None if status == "405" else f"undocumented method {method} answered {status}"
    responses = op.get("responses", {})
    resp = responses.get(status) or responses.get("default")
    if resp is None:
        return f"status {status} not documented (has {sorted(responses)})"
    resp = resolve(spec, resp)
    body = rec.get("body", "")
    if method == "head" or body == "":
        return None
    ctype = (rec.get("content_type") or "").split(";")[0].strip()
    content = resp.get("content", {})
    media = content.get(ctype)
    if media is None:
        return f"content type {ctype!r} not documented for {status} (has {sorted(content)})"
    schema = media.get("schema")
    if schema is None:
        return None
    try:
        doc = json.loads(body)
    except ValueError as e:
        return f"body is not JSON ({e})"
    # The components travel with the schema, so that its #/components/... references resolve.
    full = dict(resolve(spec, schema))
    full["components"] = spec.get("components", {})
    try:
        jsonschema.Draft202012Validator(full).validate(doc)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        return f"body at {where}: {e.message[:300]}"
    return None


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        spec = yaml.safe_load(f)
    bad, total, seen = [], 0, set()
    with open(sys.argv[2]) as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line)
            total += 1
            seen.add((rec["method"], rec["path"].split("?", 1)[0], rec["status"]))
            why = check(spec, rec)
            if why:
                bad.append(f"line {n}: {rec['method']} {rec['path'][:120]} -> {rec['status']}: {why}")
    if total == 0:
        print("check_openapi: no answers were recorded", file=sys.stderr)
        return 1
    for b in bad:
        print(b, file=sys.stderr)
    print(f"check_openapi: {total} answers, {len(seen)} distinct (method, path, status), "
          f"{len(bad)} not as documented")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
