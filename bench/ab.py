#!/usr/bin/env python3
"""A/B of two edgeguard builds in one run, for changes smaller than the noise between `make bench` runs.

Each set-up (no filter, the raw-ABI no-op floor, old and new edgeguard per scenario) is started once
and kept running; short wrk runs are interleaved over rounds, and medians are printed with the own work
over the floor. Run `make bench` once first (it builds the floor and the fixtures).

    bench/ab.py OLD.wasm [ROUNDS=8] [SECONDS=2]     (NEW is target/edgeguard.wasm)
"""
import json
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench as B  # noqa: E402

envoy = os.path.join(ROOT, ".venv/bin/envoy")
out = os.path.join(HERE, "out")
new = os.path.join(ROOT, "target/edgeguard.wasm")
old = os.path.abspath(sys.argv[1])
raw = os.path.join(ROOT, "target/bench-raw-noop/wasm32-wasip1/release/edgeguard_bench_raw_noop.wasm")
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
dur = int(sys.argv[3]) if len(sys.argv) > 3 else 2
fx = B.load_fixtures(out)
scs = {s["name"]: s for s in B.scenarios(out, {B.FLOOR: raw})}
plan = [  # (label, kind, wasm, scenario)
    ("none", "none", new, "no_auth"),
    ("raw-noop", B.FLOOR, raw, "no_auth"),
    ("anon old", "edgeguard_anon", old, "no_auth"),
    ("anon new", "edgeguard_anon", new, "no_auth"),
    ("apikey old", "edgeguard_apikey", old, "apikey"),
    ("apikey new", "edgeguard_apikey", new, "apikey"),
    ("es256 old", "edgeguard_jwt", old, "jwt_repeated_es256"),
    ("es256 new", "edgeguard_jwt", new, "jwt_repeated_es256"),
    ("rs256 cold old", "edgeguard_jwt", old, "jwt_cold_rs256"),
    ("rs256 cold new", "edgeguard_jwt", new, "jwt_cold_rs256"),
]
work = tempfile.mkdtemp(prefix="ab-", dir=out)
envs = {}
for label, kind, wasm, _ in plan:
    key = (kind, wasm)
    if key in envs:
        continue
    e = B.Envoy(envoy, kind, B.envoy_config(kind, fx, {"edgeguard": wasm, B.FLOOR: raw}), work)
    e.wait_ready()
    envs[key] = e
res = {p[0]: [] for p in plan}
try:
    for r in range(rounds):
        order = plan[r % len(plan):] + plan[:r % len(plan)]
        for label, kind, wasm, sc in order:
            e = envs[(kind, wasm)]
            x = B.run_wrk(e.port, scs[sc], out, dur, 16, e.pid)
            res[label].append(x["cpu_us_per_req"])
        print(f"round {r+1}", {k: round(v[-1], 1) for k, v in res.items()}, flush=True)
finally:
    for e in envs.values():
        e.stop()
med = {k: statistics.median(v) for k, v in res.items()}
floor = med["raw-noop"]
print(json.dumps({"median_cpu_us": med, "floor": floor, "all": res}, indent=1))
for k, v in med.items():
    print(f"{k:16s} {v:7.1f} µs/req   own {v-floor:6.1f}")
