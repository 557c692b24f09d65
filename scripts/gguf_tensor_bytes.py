#!/usr/bin/python3
"""Print (or write) one tensor's raw bytes from a GGUF file, using bn-info's JSON
table (name, offset relative to the data section, byte size).

usage: gguf_tensor_bytes.py BN_INFO FILE.gguf TENSOR [OUT]   (no OUT: print sha256)
Used by scripts/make_kquant_golden.sh; make check does not need it."""
import hashlib
import json
import subprocess
import sys


def tensor_bytes(bn_info, path, name):
    d = json.loads(subprocess.check_output([bn_info, "--json", path]))
    t = [x for x in d["tensors"] if x["name"] == name]
    if not t:
        sys.exit(f"{path}: no tensor {name}")
    with open(path, "rb") as f:
        f.seek(d["data_offset"] + t[0]["offset"])
        return t[0]["type"], f.read(t[0]["bytes"])


if __name__ == "__main__":
    ty, b = tensor_bytes(sys.argv[1], sys.argv[2], sys.argv[3])
    if len(sys.argv) > 4:
        open(sys.argv[4], "wb").write(b)
    else:
        print(ty, len(b), hashlib.sha256(b).hexdigest())
