#!/usr/bin/env python3
"""The JSON Schema side of tests/schema.rs: python-jsonschema (the reference implementation of
Draft 4 and 2020-12), installed into ./.venv by `make schema-validator`.

    schema_check.py check-schema SCHEMA DRAFT
        SCHEMA is a valid schema of DRAFT ("2020-12" or "4") against the draft's metaschema:
        prints "ok" (a JSON string), else fails.
    schema_check.py validate SCHEMA DRAFT  < {"NAME": DOC, ...}
        prints {"NAME": [ERROR, ...], ...}: every error, with the errors inside oneOf/anyOf branches
        (`context`) too, each as {"path": [...], "keyword": ..., "message": ...}. An
        additionalProperties error (reported at the object) is listed once per unexpected member
        with that member appended to the path, so it names the member as the parser does.
    schema_check.py envoy-configs FILE...
        prints [{"file": FILE, "index": I, "config": TEXT}, ...]: the StringValue `configuration` of
        every wasm filter in the Envoy YAML files whose `vm_config` loads edgeguard.wasm.

Exit status 2 with a message on stderr for bad usage or a missing module.
"""

import json
import re
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("python module jsonschema is missing: run `make schema-validator` (pip install into .venv)")

VALIDATORS = {"2020-12": jsonschema.Draft202012Validator, "4": jsonschema.Draft4Validator}


def validator(path, draft):
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = VALIDATORS[draft]
    cls.check_schema(schema)
    return cls(schema)


def flatten(error, out):
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        extras = [k for k in error.instance
                  if k not in known and not any(re.search(p, k) for p in patterns)]
        for k in extras:
            out.append({"path": path + [k], "keyword": error.validator, "message": error.message})
    else:
        out.append({"path": path, "keyword": error.validator, "message": error.message})
    for sub in error.context or []:
        flatten(sub, out)


def validate(schema_path, draft):
    v = validator(schema_path, draft)
    docs = json.load(sys.stdin)
    result = {}
    for name, doc in docs.items():
        errors = []
        for e in v.iter_errors(doc):
            flatten(e, errors)
        result[name] = errors
    json.dump(result, sys.stdout)


def envoy_configs(files):
    import yaml  # PyYAML: `make ratelimit-server` installs it (also a part of `make test`)

    found = []

    def walk(node, file):
        if isinstance(node, dict):
            code = (((node.get("vm_config") or {}).get("code") or {}).get("local") or {}).get("filename", "")
            cfg = node.get("configuration")
            if isinstance(cfg, dict) and code.endswith("edgeguard.wasm"):
                if cfg.get("@type") != "type.googleapis.com/google.protobuf.StringValue":
                    sys.exit(f"{file}: an edgeguard filter's configuration is not a StringValue")
                found.append({"file": file, "index": len([f for f in found if f["file"] == file]),
                              "config": cfg.get("value", "")})
            # The deployment manifests of deploy/: Istio's WasmPlugin (pluginConfig), Envoy
            # Gateway's wasm entries (config), Kong's filter chains (filters[].config): objects.
            plugin = None
            if node.get("kind") == "WasmPlugin":
                plugin = (node.get("spec") or {}).get("pluginConfig")
            elif node.get("rootID") == "edgeguard" or (node.get("name") == "edgeguard" and "config" in node):
                plugin = node.get("config")
            if isinstance(plugin, dict):
                found.append({"file": file, "index": len([f for f in found if f["file"] == file]),
                              "config": json.dumps(plugin)})
            for v in node.values():
                walk(v, file)
        elif isinstance(node, list):
            for v in node:
                walk(v, file)

    for file in files:
        with open(file, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                walk(doc, file)
    json.dump(found, sys.stdout)


def main(argv):
    if len(argv) == 4 and argv[1] == "check-schema" and argv[3] in VALIDATORS:
        validator(argv[2], argv[3])
        print(json.dumps("ok"))
    elif len(argv) == 4 and argv[1] == "validate" and argv[3] in VALIDATORS:
        validate(argv[2], argv[3])
    elif len(argv) >= 3 and argv[1] == "envoy-configs":
        envoy_configs(argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
