"""Parse every Terraform file under a folder with python-hcl2 and print one JSON object,
{relative path: parsed file}, for crates/mlops-cli/tests/it/terraform.rs.

    python tests/python/hcl_json.py terraform

python-hcl2 keeps the quotes of string literals ('"DAY"') and of block labels; they are
removed here, so a literal reads as its value and an expression keeps its `${...}` form. Its
bookkeeping keys (__comments__, __is_block__) are dropped. Exits non-zero, naming the file,
when one does not parse.
"""

import json
import pathlib
import sys

import hcl2


def unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def clean(value):
    if isinstance(value, dict):
        return {
            unquote(k): clean(v)
            for k, v in value.items()
            if k not in ("__comments__", "__is_block__", "__inline_comments__")
        }
    if isinstance(value, list):
        return [clean(v) for v in value]
    return unquote(value)


def main():
    root = pathlib.Path(sys.argv[1])
    out = {}
    for path in sorted(list(root.rglob("*.tf")) + list(root.rglob("*.tfvars"))):
        if ".terraform" in path.parts:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                out[path.relative_to(root).as_posix()] = clean(hcl2.load(f))
        except Exception as e:  # noqa: BLE001 - report which file and why
            sys.exit(f"{path}: does not parse as HCL: {e}")
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
