#!/usr/bin/env python3
"""Writes edgeguard's wasm module as an OCI image layout, without a container engine.

    tools/oci_image.py MODULE.wasm OUT_DIR [TAG]

The image is the *compat* variant of the Wasm OCI image spec (solo-io/wasm spec-compat.md), the form
Istio (`WasmPlugin`) and Envoy Gateway (`EnvoyExtensionPolicy`) pull: one
`application/vnd.oci.image.layer.v1.tar+gzip` layer whose tar holds `plugin.wasm` — what
`FROM scratch` + `COPY edgeguard.wasm ./plugin.wasm` builds — an OCI image config whose
`rootfs.diff_ids` names the uncompressed layer, and the annotation `module.wasm.image/variant=compat`.
Never a single raw-wasm layer (`application/vnd.module.wasm.content.layer.v1+wasm` alone): Istio
refuses it (higress#4528).

OUT_DIR gets `oci-layout`, `index.json` (one manifest, `org.opencontainers.image.ref.name` = TAG) and
`blobs/sha256/<digest>` for the manifest, the config and the layer; `OUT_DIR.tar` is the same layout
as one archive. Push either with `skopeo copy oci:OUT_DIR:TAG docker://REGISTRY/edgeguard:TAG` (or
`oci-archive:OUT_DIR.tar:TAG`), `crane push OUT_DIR REGISTRY/edgeguard:TAG`, or `oras`. The output is
reproducible: the same module gives the same digests (fixed times, owners and modes).
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def layer_tar(module: bytes) -> bytes:
    """The layer's tar: one regular file `plugin.wasm`, root-owned, 0644, time 0."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("plugin.wasm")
        info.size = len(module)
        info.mode = 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(module))
    return buf.getvalue()


def gzipped(data: bytes) -> bytes:
    """gzip with no name and time 0 (reproducible)."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as g:
        g.write(data)
    return buf.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def build(module: bytes, out: str, tag: str) -> dict:
    tar = layer_tar(module)
    layer = gzipped(tar)
    config = canonical({
        "architecture": "wasm",
        "os": "wasip1",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [digest(tar)]},
        "history": [{"created_by": "tools/oci_image.py: COPY edgeguard.wasm ./plugin.wasm"}],
    })
    annotations = {
        "module.wasm.image/variant": "compat",
        "org.opencontainers.image.title": "edgeguard",
        "org.opencontainers.image.description": "edgeguard proxy-wasm plugin (root_id edgeguard)",
        "io.edgeguard.module.sha256": hashlib.sha256(module).hexdigest(),
    }
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": LAYER, "digest": digest(layer), "size": len(layer)}],
        "annotations": annotations,
    })
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{
            "mediaType": MANIFEST,
            "digest": digest(manifest),
            "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    }
    if os.path.exists(out):
        shutil.rmtree(out)
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs)
    for blob in (layer, config, manifest):
        with open(os.path.join(blobs, hashlib.sha256(blob).hexdigest()), "wb") as f:
            f.write(blob)
    with open(os.path.join(out, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(canonical(index))
    # The same layout as one archive (skopeo's oci-archive:, `docker load` of recent Docker).
    with tarfile.open(out + ".tar", "w", format=tarfile.USTAR_FORMAT) as t:
        for root, _dirs, files in sorted(os.walk(out)):
            for name in sorted(files):
                path = os.path.join(root, name)
                info = t.gettarinfo(path, arcname=os.path.relpath(path, out))
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as f:
                    t.addfile(info, f)
    return {"manifest": digest(manifest), "layer": digest(layer), "config": digest(config),
            "module": "sha256:" + hashlib.sha256(module).hexdigest()}


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        module = f.read()
    if module[:4] != b"\0asm":
        print(f"{sys.argv[1]} is not a wasm module", file=sys.stderr)
        return 1
    tag = sys.argv[3] if len(sys.argv) == 4 else "latest"
    d = build(module, sys.argv[2], tag)
    print(f"{sys.argv[2]} (and {sys.argv[2]}.tar): OCI image layout, tag {tag}")
    print(f"  manifest {d['manifest']}  (pin the image by this: url ...@{d['manifest']})")
    print(f"  layer    {d['layer']}  (tar+gzip holding plugin.wasm)")
    print(f"  module   {d['module']}  (the sha256 of a module fetched over http(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
