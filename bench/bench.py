#!/usr/bin/env python3
"""edgeguard benchmark driver (stdlib only). Run through `bench/run.sh` (or `make bench`).

One run starts Envoy (same binary, same listener, `--concurrency 1`, a `direct_response` route after the
auth filter so the "upstream" costs nothing) once per filter set-up and round:

  none              no auth filter
  native_apikey     envoy.filters.http.api_key_auth
  native_jwt        envoy.filters.http.jwt_authn, no cache
  native_jwt_cache  envoy.filters.http.jwt_authn, jwt_cache_config {jwt_cache_size: 1000}
  edgeguard_apikey  edgeguard (wasm, V8) with the same API key
  edgeguard_apikey_unpublished  the same with `publish_identity: false` (the A/B of publishing)
  edgeguard_basic   edgeguard with an HTTP Basic user (bcrypt cost 10; scenario basic_cached: the
                    verified-credential cache; also times a first verification)
  edgeguard_apikey_remote  edgeguard with the same key from a remote key set (served by a second
                    listener of the same Envoy: a direct_response)
  edgeguard_jwt     edgeguard (wasm, V8) with the same issuer, audience and JWKS
  edgeguard_introspection  edgeguard introspecting every token (RFC 7662) at an endpoint served by a
                    second listener of the same Envoy (a direct_response `active: true`); answers cached
  edgeguard_anon    edgeguard allowing every request anonymously (diagnostic: edgeguard before credentials)
  wasm_noop_raw     the floor: a no-op filter on the raw proxy-wasm ABI (bench/raw-noop, no SDK; reads the
                    request header map once and continues): the least any wasm filter costs
  wasm_noop_sdk     the same no-op on the proxy-wasm Rust SDK (bench/noop-filter; for information: the
                    SDK's own per-request cost is the difference)

and drives it with wrk (bench/rotate.lua) for each scenario, in interleaved rounds (the set-up order is
rotated every round). Per run it records req/s, p50/p99 latency and Envoy CPU µs per request (utime+stime
of the Envoy process from /proc/<pid>/stat over the run / requests); the report takes medians over the
rounds and divides by the matching native baseline of the same run. "Own work" is a wasm set-up's CPU per
request minus the raw-ABI no-op's (the floor, measured on the no-auth scenario of the same run), and
"× floor" its CPU divided by the floor's. Writes bench/results.json and bench/results.md and prints the
table.

Fails loudly (exit 1) when an auth set-up does not enforce (a request without credentials is not 401).
A scenario whose valid requests are not all 200 (or whose mix is not ~10% 401) is reported FAILED, with
no numbers.
"""

import argparse
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PATH = "/orders/1"

# ----------------------------------------------------------------------------------------------------
# Set-ups and scenarios


def http_filters(kind, fx, wasm):
    """The auth filter (or none) placed before the router. `wasm`: {set-up or "edgeguard": path}."""
    if kind == "none":
        return []
    if kind == "native_apikey":
        return [{
            "name": "envoy.filters.http.api_key_auth",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth",
                "credentials": [{"key": fx["apikey"], "client": "bench"}],
                "key_sources": [{"header": "x-api-key"}],
                # edgeguard strips the key before the request goes upstream; so does this.
                "forwarding": {"hide_credentials": True},
            },
        }]
    if kind in ("native_jwt", "native_jwt_cache"):
        provider = {
            "issuer": fx["issuer"],
            "audiences": [fx["audience"]],
            "local_jwks": {"inline_string": fx["jwks"]},
            "forward": False,
        }
        if kind == "native_jwt_cache":
            provider["jwt_cache_config"] = {"jwt_cache_size": 1000}
        return [{
            "name": "envoy.filters.http.jwt_authn",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                "providers": {"idp": provider},
                "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
            },
        }]
    if kind == "edgeguard_apikey":
        plugin = {"api_keys": {"keys": [{"id": "bench", "sha256": fx["apikey_sha256"]}]}}
    elif kind == "edgeguard_apikey_unpublished":
        # The same without publishing who the caller is (four set_property calls per request).
        plugin = {"api_keys": {"keys": [{"id": "bench", "sha256": fx["apikey_sha256"]}]},
                  "publish_identity": False}
    elif kind == "edgeguard_apikey_remote":
        # No inline key: the key comes from the set the `keyset` listener serves (see envoy_config).
        plugin = {"api_keys": {"remote": {"cluster": "keyset", "authority": "keyset.bench",
                                          "path": "/keys", "refresh_seconds": 30}}}
    elif kind == "edgeguard_introspection":
        # No key set: every token is introspected at the `keyset` listener (see envoy_config); the
        # answer is cached (300 s), so the scenario measures a cache hit.
        plugin = {"providers": {"idp": {
            "issuer": fx["issuer"],
            "audiences": [fx["audience"]],
            "introspection": {"cluster": "keyset", "authority": "as.bench", "path": "/introspect",
                              "client_id": "bench", "client_secret": "bench-secret",
                              "cache": {"max_ttl_seconds": 300}},
        }}}
    elif kind == "edgeguard_anon":
        # Diagnostic: every request allowed anonymously. What the wasm filter costs before any
        # credential work (headers fetched, rule evaluated, counters, client copies of edgeguard's
        # headers removed).
        plugin = {"api_keys": {"keys": [{"id": "bench", "sha256": fx["apikey_sha256"]}]},
                  "rules": [{"allow": "anonymous"}]}
    elif kind == "edgeguard_basic":
        # bcrypt cost 10: the scenario measures the verified-credential cache (one HMAC per request).
        plugin = {"basic_auth": {"users": fx["basic_users"]}}
    elif kind in NOOP_SETUPS:
        plugin = {}
    elif kind == "edgeguard_jwt":
        plugin = {"providers": {"idp": {
            "issuer": fx["issuer"],
            "audiences": [fx["audience"]],
            "jwks": {"inline": json.loads(fx["jwks"])},
        }}}
    else:
        raise ValueError(kind)
    return [{
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "edgeguard",
                "root_id": "edgeguard",
                "vm_config": {
                    "vm_id": "edgeguard",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": wasm.get(kind, wasm["edgeguard"])}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": json.dumps(plugin),
                },
                "fail_open": False,
            },
        },
    }]


def envoy_config(kind, fx, wasm):
    """Envoy bootstrap (JSON is YAML): listener and admin on port 0, direct_response after the filter."""
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "bench",
        "codec_type": "HTTP1",
        "route_config": {
            "name": "bench",
            "virtual_hosts": [{
                "name": "all",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"},
                            "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}],
            }],
        },
        "http_filters": http_filters(kind, fx, wasm) + [{
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
        }],
    }
    cfg = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": [{
            "name": "bench",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}],
        }]},
    }
    if kind == "edgeguard_apikey_remote":
        doc = json.dumps({"keys": [{"id": "bench", "sha256": fx["apikey_sha256"]}]})
        add_key_set_server(cfg, "/keys", doc)
    elif kind == "edgeguard_introspection":
        # The authorization server: `active: true` for the benchmark's token only (a Lua filter reads
        # the form body), `active: false` for any other (the preflight's invalid one).
        active = json.dumps({"active": True, "sub": "bench", "iss": fx["issuer"], "aud": fx["audience"],
                             "client_id": "bench", "exp": int(time.time()) + 86400})
        lua = (
            "function envoy_on_request(h)\n"
            "  local b = h:body()\n"
            "  local s = b and b:getBytes(0, b:length()) or ''\n"
            f"  local ok = string.find(s, 'token={fx['es256_token']}&', 1, true)\n"
            f"  local doc = ok and '{active}' or '{{\"active\": false}}'\n"
            "  h:respond({[':status'] = '200', ['content-type'] = 'application/json'}, doc)\n"
            "end\n"
        )
        add_key_set_server(cfg, "/introspect", '{"active": false}', lua)
    return cfg


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_key_set_server(cfg, path, doc, lua=None):
    """A second listener answering `doc` at `path` (direct_response, no filter: the key-set document
    or an introspection answer) and the cluster `keyset` edgeguard calls it through. Called once per
    refresh (30 s) or per token (answers are cached): not on the request path."""
    port = free_port()
    route = {"match": {"prefix": path},
             "direct_response": {"status": 200, "body": {"inline_string": doc}}}
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "keyset",
        "route_config": {"name": "keyset",
                         "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]},
        "http_filters": ([{"name": "envoy.filters.http.lua", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": lua}}}] if lua else []) + [
            {"name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    address = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
    cfg["static_resources"]["listeners"].append({
        "name": "keyset",
        "address": address,
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": hcm}]}],
    })
    cfg["static_resources"]["clusters"] = [{
        "name": "keyset", "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": "keyset",
                            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}]},
    }]


# Scenario: (name, credential file, header, prefix, expected 401 share, set-ups, baseline set-up, target,
# own_target). The target is a bound on edgeguard's CPU µs/request divided by the baseline's (issue #5);
# own_target a bound on edgeguard's own work in µs/request, i.e. above the raw-ABI no-op (issue #10).
ALGS = [("rs256", "RS256"), ("es256", "ES256"), ("eddsa", "EdDSA")]
JWT_SETUPS = ["native_jwt", "native_jwt_cache", "edgeguard_jwt"]
APIKEY_SETUPS = ["native_apikey", "edgeguard_apikey"]
BEARER = ("authorization", "Bearer ")
# The no-op wasm filters; the raw-ABI one is the floor that "own work" is measured from.
FLOOR = "wasm_noop_raw"
NOOP_SETUPS = (FLOOR, "wasm_noop_sdk")
# Set-ups that let requests without credentials through by design (everything else must answer 401).
OPEN_SETUPS = ("none", "edgeguard_anon") + NOOP_SETUPS


def is_wasm(kind):
    return kind.startswith("edgeguard") or kind in NOOP_SETUPS


def scenarios(out, noops):
    """`noops`: the no-op set-ups that were built (the floor always is; run.sh stops without it)."""
    s = [
        dict(name="no_auth", label="no auth (ES256 bearer sent, ignored)", file="es256.token",
             header=BEARER, invalid_share=0.0,
             setups=["none"] + [k for k in NOOP_SETUPS if k in noops] + ["edgeguard_anon"],
             baseline="none", target=None, own_target=5.0),
        dict(name="apikey", label="API key (valid)", file="apikey.txt", header=("x-api-key", ""),
             invalid_share=0.0, setups=APIKEY_SETUPS, baseline="native_apikey", target=1.0,
             own_target=10.0),
        # Target (issue 11): a key from a remote set costs at most 1.05× an inline one.
        dict(name="apikey_remote", label="API key from a remote set (valid)", file="apikey.txt",
             header=("x-api-key", ""), invalid_share=0.0,
             setups=["edgeguard_apikey", "edgeguard_apikey_remote"], baseline="edgeguard_apikey",
             target=1.05),
        # Target (issue 11): a token whose introspection answer is cached costs at most 1.1× a
        # token whose signature check is cached (the same ES256 token to both: the introspecting
        # provider has no key set, so it introspects it like any opaque token).
        dict(name="introspection_cached", label="introspected token (cached answer)",
             file="es256.token", header=BEARER, invalid_share=0.0,
             setups=["edgeguard_jwt", "edgeguard_introspection"], baseline="edgeguard_jwt",
             target=1.1),
        # Target (issue 12): publishing the caller's identity as filter state costs at most 2 µs CPU
        # per request: the difference of the same key with and without it.
        dict(name="apikey_publish", label="API key, identity published vs not", file="apikey.txt",
             header=("x-api-key", ""), invalid_share=0.0,
             setups=["edgeguard_apikey_unpublished", "edgeguard_apikey"],
             baseline="edgeguard_apikey_unpublished", target=None, delta_target=2.0),
        # Target (issue 13): a cached HTTP Basic verification costs at most 1.1× an API key.
        # The baseline gets its own credential (`per_setup`: file and header by set-up).
        dict(name="basic_cached", label="HTTP Basic, bcrypt-10 user (cached verification)",
             file="basic.txt", header=("authorization", "Basic "), invalid_share=0.0,
             setups=["edgeguard_apikey", "edgeguard_basic"], baseline="edgeguard_apikey", target=1.1,
             per_setup={"edgeguard_apikey": dict(file="apikey.txt", header=("x-api-key", ""))}),
        dict(name="apikey_mix", label="API key 90% valid / 10% unknown", file="apikey.mix",
             header=("x-api-key", ""), invalid_share=0.1, setups=APIKEY_SETUPS, baseline="native_apikey",
             target=None),
    ]
    for a, A in ALGS:
        s.append(dict(name=f"jwt_repeated_{a}", label=f"JWT {A} repeated token", file=f"{a}.token",
                      header=BEARER, invalid_share=0.0, setups=JWT_SETUPS, baseline="native_jwt_cache",
                      target=1.05, own_target=15.0))
    cold_targets = {"rs256": 3.0, "es256": 2.0, "eddsa": 1.5}
    for a, A in ALGS:
        s.append(dict(name=f"jwt_cold_{a}", label=f"JWT {A} cold (distinct tokens)", file=f"{a}.pool",
                      header=BEARER, invalid_share=0.0, setups=JWT_SETUPS, baseline="native_jwt",
                      target=cold_targets[a]))
    s.append(dict(name="jwt_mix_es256", label="JWT ES256 90% valid (repeated) / 10% bad signature",
                  file="es256.mix", header=BEARER, invalid_share=0.1, setups=JWT_SETUPS,
                  baseline="native_jwt_cache", target=None))
    return s


def make_mix(valid_line, invalid_path, dest):
    """Every 10th credential is invalid, each invalid one appearing once per cycle (so a cache of
    outcomes can only help once the run is longer than the cycle); the rest is the repeated valid one."""
    with open(invalid_path) as f:
        bad = [l.strip() for l in f if l.strip()]
    lines = []
    for i in range(10 * len(bad)):
        lines.append(bad[i // 10] if i % 10 == 9 else valid_line)
    with open(dest, "w") as f:
        f.write("\n".join(lines) + "\n")


def first_line(path):
    with open(path) as f:
        return f.readline().strip()


def load_fixtures(out):
    meta = json.load(open(os.path.join(out, "meta.json")))
    fx = {
        "issuer": meta["issuer"],
        "audience": meta["audience"],
        "pool_size": meta["pool_size"],
        "jwks": open(os.path.join(out, "jwks.json")).read().strip(),
        "apikey": first_line(os.path.join(out, "apikey.txt")),
        "apikey_sha256": first_line(os.path.join(out, "apikey.sha256")),
        "es256_token": first_line(os.path.join(out, "es256.token")),
        "basic_users": json.load(open(os.path.join(out, "basic.users.json"))),
        "basic_password": open(os.path.join(out, "basic.password")).read(),
    }
    make_mix(fx["apikey"], os.path.join(out, "apikey.invalid"), os.path.join(out, "apikey.mix"))
    make_mix(first_line(os.path.join(out, "es256.token")), os.path.join(out, "es256.invalid"),
             os.path.join(out, "es256.mix"))
    return fx


# ----------------------------------------------------------------------------------------------------
# Envoy process


NICE = 0  # --nice: scheduling priority of Envoy and wrk (negative = ahead of other work on the box)


def child_setup():
    """In the child before exec: die with the driver (PR_SET_PDEATHSIG, as the venv wrapper does, since we
    exec the real binary directly) and apply --nice."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if NICE:
        os.nice(NICE)


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat(5))


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Envoy:
    """One Envoy; the Python process stays its live parent (PR_SET_PDEATHSIG in the venv wrapper)."""

    _base_id = 40000 + (os.getpid() % 5000) * 4

    def __init__(self, binary, kind, cfg, workdir):
        Envoy._base_id += 1
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir)
        self.cfg_path = os.path.join(self.dir, "envoy.json")
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f)
        self.admin_path = os.path.join(self.dir, "admin.addr")
        self.log_path = os.path.join(self.dir, "envoy.log")
        self.log = open(self.log_path, "w")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [binary, "-c", self.cfg_path, "--concurrency", "1", "--disable-hot-restart",
             "--base-id", str(Envoy._base_id), "--admin-address-path", self.admin_path,
             "--log-level", "warn"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=child_setup)
        self.pid = self.proc.pid
        self.admin = None
        self.port = None
        self.startup_s = None

    def log_tail(self, n=15):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def wait_ready(self, timeout=60.0):
        deadline = self.t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Envoy ({self.kind}) exited with {self.proc.returncode}:\n"
                                   + self.log_tail())
            if self.admin is None:
                try:
                    addr = open(self.admin_path).read().strip()
                    if addr:
                        self.admin = addr
                except OSError:
                    pass
            if self.admin is not None:
                try:
                    status, body = admin_get(self.admin, "/ready")
                    if status == 200 and body.strip() == "LIVE":
                        self.startup_s = time.monotonic() - self.t0
                        break
                except OSError:
                    pass
            time.sleep(0.005)
        else:
            raise RuntimeError(f"Envoy ({self.kind}) not LIVE after {timeout}s:\n" + self.log_tail())
        _, body = admin_get(self.admin, "/listeners?format=json")
        for ls in json.loads(body).get("listener_statuses", []):
            if ls.get("name") == "bench":
                self.port = ls["local_address"]["socket_address"]["port_value"]
        if not self.port:
            raise RuntimeError(f"Envoy ({self.kind}): no bound port for listener 'bench'")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


def admin_get(addr, path, timeout=2.0):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def probe(port, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", PATH, headers=headers)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


# ----------------------------------------------------------------------------------------------------
# wrk


def run_wrk(port, sc, out, duration, conns, envoy_pid):
    header, prefix = sc["header"]
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "2s",
           "-s", os.path.join(HERE, "rotate.lua"), f"http://127.0.0.1:{port}{PATH}", "--",
           os.path.join(out, sc["file"]), header, prefix]
    c0 = proc_cpu_ticks(envoy_pid)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30, preexec_fn=child_setup)
    wall = time.monotonic() - t0
    c1 = proc_cpu_ticks(envoy_pid)
    m = re.search(r"^WRKJSON (.*)$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({p.returncode}): {p.stderr.strip()} {p.stdout[-500:]}")
    w = json.loads(m.group(1))
    req = w["requests"]
    return {
        "requests": req,
        "rps": req / (w["duration_us"] / 1e6) if w["duration_us"] else 0.0,
        "p50_us": w["p50_us"],
        "p99_us": w["p99_us"],
        "cpu_us_per_req": (c1 - c0) * 1e6 / CLK_TCK / req if req else None,
        "envoy_cpu_share": (c1 - c0) / CLK_TCK / wall if wall else None,
        "non_2xx": w["errors_status"],
        "socket_errors": w["errors_connect"] + w["errors_read"] + w["errors_write"] + w["errors_timeout"],
    }


def check_run(sc, r):
    """None if the run is sound, else why it FAILED."""
    if r["requests"] == 0:
        return "no requests completed"
    share = r["non_2xx"] / r["requests"]
    want = sc["invalid_share"]
    if want == 0 and r["non_2xx"]:
        return f"{r['non_2xx']} of {r['requests']} valid requests were refused"
    if want and abs(share - want) > 0.02:
        return f"{share:.1%} of requests refused, expected {want:.0%}"
    return None


# ----------------------------------------------------------------------------------------------------
# Preflight: enforcement and scenario sanity, before measuring


def preflight(env, kind, scs, out):
    """Returns {scenario: failure reason} for scenarios that cannot be measured on this set-up.
    Raises (the whole bench fails) when an auth set-up lets a request without credentials through."""
    failed = {}
    if kind not in OPEN_SETUPS:
        st = probe(env.port, {})
        if st != 401:
            raise SystemExit(f"FATAL: {kind}: a request without credentials got {st}, expected 401 — "
                             "auth is not enforced, refusing to benchmark")
        hdr = "x-api-key" if "apikey" in kind else "authorization"
        val = "not-a-valid-key" if "apikey" in kind else "Bearer " + first_line(os.path.join(out, "es256.invalid"))
        st = probe(env.port, {hdr: val})
        if st != 401:
            raise SystemExit(f"FATAL: {kind}: an invalid credential got {st}, expected 401")
    for sc in scs:
        header, prefix = sc["header"]
        with open(os.path.join(out, sc["file"])) as f:
            lines = [l.strip() for _, l in zip(range(10), f)]
        for i, cred in enumerate(lines):
            if not cred:
                continue
            want = 401 if (sc["invalid_share"] and i % 10 == 9) else 200
            st = probe(env.port, {header: prefix + cred})
            if st != want:
                failed[sc["name"]] = f"preflight: credential #{i} of {sc['file']} got {st}, expected {want}"
                break
    return failed


def first_verify_ms(env, fx):
    """The cost of a first bcrypt-10 verification in Envoy: the latency of a request whose user
    has not verified on the VM yet, above the median of cached ones (users `first1..5`, after V8
    warmed up on user `bench`)."""
    import base64

    def timed(user):
        cred = base64.b64encode(f"{user}:{fx['basic_password']}".encode()).decode()
        t = time.perf_counter()
        st = probe(env.port, {"authorization": "Basic " + cred})
        if st != 200:
            raise SystemExit(f"FATAL: edgeguard_basic: user {user} got {st}, expected 200")
        return (time.perf_counter() - t) * 1000

    timed("bench")
    cached = med([timed("bench") for _ in range(30)])
    firsts = []
    for u in ["first1", "first2", "first3", "first4", "first5"]:
        firsts.append(timed(u) - cached)
        time.sleep(0.25)  # stay within slow_verifies_per_second (5)
    return med(firsts)


def warm_up(env, out, kind, conns):
    """1 s of traffic so V8 has compiled/tiered the hot paths before the first measured run."""
    if "apikey" in kind:
        f, h, p = "apikey.mix", "x-api-key", ""
    elif kind == "edgeguard_basic":
        f, h, p = "basic.txt", "authorization", "Basic "
    else:
        f, h, p = "warm.tokens", "authorization", "Bearer "
    sc = {"file": f, "header": (h, p)}
    try:
        run_wrk(env.port, sc, out, 1, conns, env.pid)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"  warm-up failed: {e}", file=sys.stderr)


# ----------------------------------------------------------------------------------------------------
# Report


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def summarize(results, scs, setups_meta, wasm_size, rounds_done, args, elapsed):
    rows = []
    # CPU per request with no auth filter at all: what Envoy itself costs; the rest is the auth filter.
    floor = med([r["cpu_us_per_req"] for r in results.get(("no_auth", "none"), []) if not r.get("failed")])
    # The wasm floor: the raw-ABI no-op (no SDK), the least any proxy-wasm filter costs in this Envoy.
    # A wasm set-up's own work is its CPU per request above this one.
    wasm_floor = med([r["cpu_us_per_req"] for r in results.get(("no_auth", FLOOR), []) if not r.get("failed")])
    for sc in scs:
        per = {}
        for kind in sc["setups"]:
            runs = results.get((sc["name"], kind), [])
            fails = [r["failed"] for r in runs if r.get("failed")]
            ok = [r for r in runs if not r.get("failed")]
            if fails or not ok:
                per[kind] = {"status": "FAILED", "why": fails[0] if fails else "not run", "runs": runs}
                continue
            per[kind] = {
                "status": "ok",
                "rounds": len(ok),
                "rps": med([r["rps"] for r in ok]),
                "p50_us": med([r["p50_us"] for r in ok]),
                "p99_us": med([r["p99_us"] for r in ok]),
                "cpu_us_per_req": med([r["cpu_us_per_req"] for r in ok]),
                "requests": sum(r["requests"] for r in ok),
                "socket_errors": sum(r["socket_errors"] for r in ok),
                "runs": ok,
            }
        base = per.get(sc["baseline"]) if sc["baseline"] else None
        for kind, m in per.items():
            row = {"scenario": sc["name"], "label": sc["label"], "setup": kind, **m}
            if m["status"] == "ok" and floor is not None and kind not in OPEN_SETUPS:
                row["cpu_us_over_no_auth"] = m["cpu_us_per_req"] - floor
            if m["status"] == "ok" and wasm_floor and is_wasm(kind) and kind != FLOOR:
                row["cpu_us_own_work"] = m["cpu_us_per_req"] - wasm_floor
                row["cpu_x_floor"] = m["cpu_us_per_req"] / wasm_floor
            if kind.startswith("edgeguard") and sc.get("own_target") is not None:
                own = row.get("cpu_us_own_work")
                row["own_target"] = {"metric": "cpu_us_own_work", "max": sc["own_target"],
                                     "met": None if own is None else own <= sc["own_target"]}
            if m["status"] == "ok" and base and base.get("status") == "ok" and kind != sc["baseline"]:
                row["baseline"] = sc["baseline"]
                row["ratio"] = {
                    "cpu_us_per_req": ratio(m["cpu_us_per_req"], base["cpu_us_per_req"]),
                    "rps": ratio(m["rps"], base["rps"]),
                    "p50": ratio(m["p50_us"], base["p50_us"]),
                    "p99": ratio(m["p99_us"], base["p99_us"]),
                }
                if sc.get("delta_target") is not None:
                    row["delta_us"] = m["cpu_us_per_req"] - base["cpu_us_per_req"]
                    row["target"] = {"metric": "cpu_us_per_req delta", "max": sc["delta_target"],
                                     "met": row["delta_us"] <= sc["delta_target"]}
                if kind.startswith("edgeguard") and sc["target"] is not None:
                    row["target"] = {"metric": "cpu_us_per_req ratio", "max": sc["target"],
                                     "met": row["ratio"]["cpu_us_per_req"] <= sc["target"]}
            elif kind.startswith("edgeguard") and sc["target"] is not None and kind != sc["baseline"]:
                row["target"] = {"metric": "cpu_us_per_req ratio", "max": sc["target"], "met": False}
            rows.append(row)
    footprint = {}
    for kind, ms in setups_meta.items():
        footprint[kind] = {
            "startup_ms": med([x["startup_s"] * 1000 for x in ms if x.get("startup_s") is not None]),
            "rss_idle_mb": med([x["rss_idle_kb"] / 1024 for x in ms if x.get("rss_idle_kb")]),
            "rss_loaded_mb": med([x["rss_loaded_kb"] / 1024 for x in ms if x.get("rss_loaded_kb")]),
            "starts": len(ms),
            **({"first_bcrypt10_ms": med([x.get("first_bcrypt10_ms") for x in ms])}
               if kind == "edgeguard_basic" else {}),
            "errors": [x["error"] for x in ms if x.get("error")],
        }
    return {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "envoy": args.envoy_version,
        "wrk": f"wrk -t1 -c{args.connections} -d{args.duration}s, --concurrency 1"
               + (f", Envoy and wrk at nice {args.nice}" if args.nice else ""),
        "rounds": rounds_done,
        "elapsed_s": round(elapsed, 1),
        "pool_size": args.pool_size,
        "loadavg_start": args.loadavg_start,
        "loadavg_end": list(os.getloadavg()),
        "cpus": os.cpu_count(),
        "wasm_bytes": wasm_size,
        "wasm_target_bytes": 400 * 1024,
        "floor": {"setup": FLOOR, "cpu_us_per_req": wasm_floor},
        "rows": rows,
        "footprint": footprint,
    }


def fmt(x, d=0):
    return "—" if x is None else f"{x:,.{d}f}"


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}×"


def markdown(rep):
    L = []
    L.append(f"Envoy {rep['envoy']}; {rep['wrk']}; median of {rep['rounds']} interleaved round(s); "
             f"{rep['elapsed_s']:.0f} s; generated {rep['generated']}; {rep['cpus']} CPUs, load average "
             f"{rep['loadavg_start'][0]:.1f} at start, {rep['loadavg_end'][0]:.1f} at end.")
    L.append("")
    fl = rep["floor"]["cpu_us_per_req"]
    L.append("CPU = Envoy utime+stime per request (all threads). **Floor: `" + FLOOR + "`**, a no-op filter on "
             "the raw proxy-wasm ABI (`bench/raw-noop`, no SDK: context creation, the request-headers callback, "
             "one read of the header map, continue), measured on the no-auth scenario of this run: "
             + (f"{fl:.1f} µs/req." if fl else "**not measured** (no own work below).")
             + " **own work = CPU − raw-ABI no-op** (what a wasm set-up spends per request above the least any "
             "wasm filter costs; whatever an SDK costs per request counts, see `wasm_noop_sdk`, the same no-op "
             "on the proxy-wasm Rust SDK); **× floor = CPU ÷ raw-ABI no-op**. \"over no-auth\" = CPU − the "
             "no-filter set-up's (≈ a native filter's own cost). The ratios CPU ×, req/s ×, p50 ×, p99 × divide "
             "by the scenario's native baseline (CPU, p50, p99: lower is better; req/s: higher is better). "
             "Targets: CPU × native baseline (issue #5) and own work in µs (issue #10).")
    L.append("")
    L.append("| Scenario | Filter | req/s | p50 µs | p99 µs | CPU µs/req | over no-auth | own work µs | × floor "
             "| baseline | CPU × | req/s × | p50 × | p99 × | target |")
    L.append("|---|---|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|---|")
    for r in rep["rows"]:
        if r["status"] != "ok":
            tgt = "; ".join(x for x in (
                f"≤ {r['target']['max']}× **FAILED**" if r.get("target") else "",
                f"own ≤ {r['own_target']['max']:g} µs **FAILED**" if r.get("own_target") else "") if x)
            L.append(f"| {r['label']} | {r['setup']} | **FAILED** | | | | | | | | | | | | {tgt} |")
            continue
        ra = r.get("ratio", {})
        tgts = []
        if r.get("target") and r.get("delta_us") is not None:
            t = r["target"]
            tgts.append(f"Δ {r['delta_us']:+.1f} µs, ≤ {t['max']:g} µs {'met' if t['met'] else '**missed**'}")
        elif r.get("target"):
            t = r["target"]
            tgts.append(f"≤ {t['max']}× {'met' if t['met'] else '**missed**'}")
        if r.get("own_target"):
            t = r["own_target"]
            tgts.append(f"own ≤ {t['max']:g} µs "
                        + ("— (no floor)" if t["met"] is None else "met" if t["met"] else "**missed**"))
        base = r.get("baseline") or "(baseline)"
        L.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["label"], r["setup"] + (" (floor)" if r["setup"] == FLOOR else ""), fmt(r["rps"]),
            fmt(r["p50_us"]), fmt(r["p99_us"]),
            fmt(r["cpu_us_per_req"], 1), fmt(r.get("cpu_us_over_no_auth"), 1),
            fmt(r.get("cpu_us_own_work"), 1), fmt_ratio(r.get("cpu_x_floor")), base,
            fmt_ratio(ra.get("cpu_us_per_req")), fmt_ratio(ra.get("rps")), fmt_ratio(ra.get("p50")),
            fmt_ratio(ra.get("p99")), "; ".join(tgts)))
    fails = [r for r in rep["rows"] if r["status"] != "ok"]
    if fails:
        L.append("")
        L.append("FAILED cases (no numbers reported):")
        for r in fails:
            L.append(f"- {r['scenario']} / {r['setup']}: {r['why']}")
    L.append("")
    L.append("| Filter set-up | start-up ms (spawn → /ready LIVE) | RSS idle MB | RSS after load MB |")
    L.append("|---|--:|--:|--:|")
    for k, f in rep["footprint"].items():
        L.append(f"| {k} | {fmt(f['startup_ms'])} | {fmt(f['rss_idle_mb'], 1)} | {fmt(f['rss_loaded_mb'], 1)} |")
    first = rep["footprint"].get("edgeguard_basic", {}).get("first_bcrypt10_ms")
    if first is not None:
        L.append("")
        L.append(f"HTTP Basic: a first bcrypt-10 verification costs ≈ {first:.1f} ms in Envoy (median over "
                 "5 users of a request's latency above a cached one's; it runs on the worker thread).")
    wb = rep["wasm_bytes"]
    L.append("")
    if wb is not None:
        L.append(f"edgeguard.wasm: {wb:,} bytes ({wb / 1024:.0f} KiB); target ≤ 400 KiB: "
                 f"{'met' if wb <= rep['wasm_target_bytes'] else '**missed**'}.")
    return "\n".join(L) + "\n"


# ----------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--raw-noop-wasm", default="",
                    help="bench/raw-noop build: adds the wasm_noop_raw set-up, the floor for own work")
    ap.add_argument("--noop-wasm", default="", help="bench/noop-filter build: adds the wasm_noop_sdk set-up")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--budget", type=float, default=570.0,
                    help="seconds; no new round starts when the next would not finish in time")
    ap.add_argument("--only", default="", help="comma-separated scenario name prefixes (development)")
    ap.add_argument("--results", default=HERE)
    ap.add_argument("--nice", type=int, default=0,
                    help="nice value for Envoy and wrk (e.g. -10 on a busy shared machine; needs root)")
    args = ap.parse_args()
    global NICE
    NICE = args.nice

    t_start = time.monotonic()
    args.loadavg_start = list(os.getloadavg())
    for tool in ("wrk",):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found (apt-get install -y wrk)")
    fx = load_fixtures(args.out)
    args.pool_size = fx["pool_size"]
    v = subprocess.run([args.envoy, "--version"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"version: \S+/(\d+\.\d+\.\d+)", v)
    args.envoy_version = m.group(1) if m else v.strip()[:80]
    wasm_size = os.path.getsize(args.wasm) if os.path.exists(args.wasm) else None

    noop_paths = {FLOOR: args.raw_noop_wasm, "wasm_noop_sdk": args.noop_wasm}
    noop_paths = {k: os.path.abspath(v) for k, v in noop_paths.items() if v}
    if FLOOR not in noop_paths:
        print(f"bench: no --raw-noop-wasm: no {FLOOR} set-up, so no own work or × floor", file=sys.stderr)
    scs = scenarios(args.out, noop_paths)
    if args.only:
        pre = [p for p in args.only.split(",") if p]
        scs = [s for s in scs if any(s["name"].startswith(p) for p in pre)]
    setups = []
    for s in scs:
        for k in s["setups"]:
            if k not in setups:
                setups.append(k)
    per_round_runs = sum(len(s["setups"]) for s in scs)
    # Envoy start + preflight + 1 s warm-up + stop; wasm set-ups add V8 compiling the module.
    per_round_s = (per_round_runs * (args.duration + 0.4) + len(setups) * 3.0
                   + sum(5.0 for k in setups if k.startswith("edgeguard")))
    print(f"bench plan: {len(setups)} Envoy set-ups × {args.rounds} rounds; {per_round_runs} wrk runs of "
          f"{args.duration}s per round (+1 s warm-up per set-up); ≈{per_round_s:.0f} s per round, "
          f"≈{per_round_s * args.rounds:.0f} s total; budget {args.budget:.0f} s", flush=True)

    os.makedirs(args.results, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="run-", dir=args.out)
    results = {}
    setups_meta = {k: [] for k in setups}
    envoy_holder = []

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    rounds_done = 0
    interrupted = False
    try:
        for rnd in range(args.rounds):
            spent = time.monotonic() - t_start
            if rnd > 0 and spent + per_round_s > args.budget:
                print(f"budget: stopping after {rnd} round(s) ({spent:.0f} s spent)", flush=True)
                break
            order = setups[rnd % len(setups):] + setups[:rnd % len(setups)]
            print(f"round {rnd + 1}/{args.rounds}: {' '.join(order)}", flush=True)
            for kind in order:
                my = [{**s, **s.get("per_setup", {}).get(kind, {})} for s in scs if kind in s["setups"]]
                meta = {}
                setups_meta[kind].append(meta)
                wasm = {"edgeguard": os.path.abspath(args.wasm), **noop_paths}
                env = Envoy(args.envoy, kind, envoy_config(kind, fx, wasm), workdir)
                envoy_holder.append(env)
                try:
                    try:
                        env.wait_ready()
                    except RuntimeError as e:
                        meta["error"] = str(e).splitlines()[0]
                        print(f"  {kind}: Envoy did not start: {e}", file=sys.stderr, flush=True)
                        for s in my:
                            results.setdefault((s["name"], kind), []).append(
                                {"failed": f"Envoy did not start with this set-up: {str(e).splitlines()[-1][:300]}"})
                        continue
                    meta["startup_s"] = env.startup_s
                    meta["rss_idle_kb"] = proc_rss_kb(env.pid)
                    if kind == "edgeguard_basic":
                        meta["first_bcrypt10_ms"] = first_verify_ms(env, fx)
                        print(f"  {kind}: first bcrypt-10 verification ≈ {meta['first_bcrypt10_ms']:.1f} ms "
                              "(request latency above a cached one)", flush=True)
                    failed = preflight(env, kind, my, args.out)
                    warm_up(env, args.out, kind, args.connections)
                    for s in my:
                        key = (s["name"], kind)
                        if s["name"] in failed:
                            results.setdefault(key, []).append({"failed": failed[s["name"]]})
                            print(f"  {s['name']:<20} {kind:<17} FAILED: {failed[s['name']]}", flush=True)
                            continue
                        r = run_wrk(env.port, s, args.out, args.duration, args.connections, env.pid)
                        why = check_run(s, r)
                        if why:
                            r["failed"] = why
                        results.setdefault(key, []).append(r)
                        print(f"  {s['name']:<20} {kind:<17} {r['rps']:>8.0f} req/s  p50 {r['p50_us']:>6} µs  "
                              f"p99 {r['p99_us']:>6} µs  CPU {r['cpu_us_per_req']:>6.1f} µs/req  "
                              f"envoy {r['envoy_cpu_share']:.0%}"
                              + (f"  FAILED: {why}" if why else "")
                              + (f"  socket errors {r['socket_errors']}" if r["socket_errors"] else ""),
                              flush=True)
                    meta["rss_loaded_kb"] = proc_rss_kb(env.pid)
                finally:
                    env.stop()
                    envoy_holder.remove(env)
            rounds_done += 1
    except KeyboardInterrupt as e:
        interrupted = True
        print(f"interrupted ({e}); reporting what was measured to {args.out}/results.partial.*",
              file=sys.stderr)
    finally:
        for env in envoy_holder:
            env.stop()

    elapsed = time.monotonic() - t_start
    rep = summarize(results, scs, setups_meta, wasm_size, rounds_done, args, elapsed)
    md = markdown(rep)
    # An interrupted run does not replace the last complete results.
    dest, stem = (args.out, "results.partial") if interrupted else (args.results, "results")
    with open(os.path.join(dest, stem + ".json"), "w") as f:
        json.dump(rep, f, indent=2)
    with open(os.path.join(dest, stem + ".md"), "w") as f:
        f.write(md)
    shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(md)
    print(f"wrote {os.path.join(dest, stem)}.json and .md in {elapsed:.0f} s")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
