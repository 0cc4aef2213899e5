# edgeguard as a Wasm OCI image (the "compat" variant Istio and Envoy Gateway pull): one layer holding
# plugin.wasm. Build the module first (`make build`), then:
#   docker build -t REGISTRY/edgeguard:0.1.0 . && docker push REGISTRY/edgeguard:0.1.0
# Without a container engine, `make image` writes the same image as an OCI layout (target/oci/).
FROM scratch
COPY target/edgeguard.wasm ./plugin.wasm
