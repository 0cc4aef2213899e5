#!/usr/bin/env python3
"""Keep only the exports edgeguard means to have in a built .wasm module.

Envoy (proxy-wasm-cpp-host) calls into the VM for each exported callback on every request, and skips
the call when the export is missing; each call into V8 costs CPU. edgeguard's ABI layer (abi/)
exports only the callbacks it uses, so a request costs two VM calls (context_create,
request_headers); this check keeps it so (anything else a build exports, such as allocator or
runtime symbols, is dropped) and fails when an expected export is missing.

Only the export section is rewritten; the functions stay in the module (wasm-opt may remove them).

    tools/trim_exports.py IN.wasm OUT.wasm
"""
import sys

# Callbacks the plugin needs: VM and root lifecycle, timer, HTTP callouts, request headers. No
# on_done/on_log/on_delete: nothing is kept per request.
KEEP = {
    "memory",
    "_initialize",
    "proxy_abi_version_0_2_1",
    "proxy_on_memory_allocate",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_context_create",
    "proxy_on_tick",
    "proxy_on_http_call_response",
    "proxy_on_request_headers",
}


def read_leb(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def leb(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def trim(module):
    if module[:8] != b"\0asm\x01\0\0\0":
        raise ValueError("not a wasm module (version 1)")
    out = bytearray(module[:8])
    pos = 8
    kept, dropped = [], []
    while pos < len(module):
        section_id = module[pos]
        size, body = read_leb(module, pos + 1)
        end = body + size
        if section_id != 7:
            out += module[pos:end]
            pos = end
            continue
        count, p = read_leb(module, body)
        entries = bytearray()
        n = 0
        for _ in range(count):
            start = p
            name_len, p = read_leb(module, p)
            name = module[p : p + name_len].decode()
            p += name_len
            p += 1  # kind
            _, p = read_leb(module, p)
            if name in KEEP:
                entries += module[start:p]
                kept.append(name)
                n += 1
            else:
                dropped.append(name)
        if p != end:
            raise ValueError("export section did not parse to its end")
        payload = leb(n) + bytes(entries)
        out += bytes([7]) + leb(len(payload)) + payload
        pos = end
    missing = KEEP - set(kept)
    if missing:
        raise ValueError(f"exports missing from the module: {sorted(missing)}")
    return bytes(out), dropped


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        module = f.read()
    try:
        trimmed, dropped = trim(module)
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        sys.exit(f"trim_exports: {sys.argv[1]}: {e}")
    with open(sys.argv[2], "wb") as f:
        f.write(trimmed)
    print(f"trim_exports: dropped {len(dropped)} unused callback exports", file=sys.stderr)


if __name__ == "__main__":
    main()
