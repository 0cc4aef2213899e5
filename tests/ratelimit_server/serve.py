"""A rate-limit service for tests: envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit over
gRPC (grpcio, the messages and stubs of PyPI's xds-protos), counting in a real Redis.

Limits come from a file in envoyproxy/ratelimit's format (envoy/ratelimit-config.yaml): `domain`,
nested `descriptors` of `key`, optional `value` (none: a wildcard, one counter per distinct value),
`rate_limit: {unit, requests_per_unit}` or `unlimited: true`. A request descriptor is matched as
envoyproxy/ratelimit does: entry by entry, an exact `key`+`value` first, then the key's wildcard; the
node reached by the last entry holds the limit; no match, no limit.

Counting: fixed windows of one `unit` per distinct descriptor, INCRBY in Redis. Unlike
envoyproxy/ratelimit (windows aligned to the clock), a window starts at the descriptor's first hit
(the counter's TTL is set once, `EXPIRE ... NX`), so a test never straddles a window boundary.
Redis unreachable: the call fails with UNAVAILABLE (Envoy then applies its failure mode).

Environment: EG_RLS_CONFIG (the limits file), EG_RLS_REDIS_PORT (Redis on 127.0.0.1), EG_RLS_PORT
(0: any free port). Prints `READY <port>` once it listens; logs one line per descriptor to stderr.
"""

import json
import os
import socket
import sys
from concurrent import futures

import grpc
import yaml
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc

Code = rls_pb2.RateLimitResponse.Code
Unit = rls_pb2.RateLimitResponse.RateLimit.Unit
UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400,
                "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


class Redis:
    """The few Redis commands needed, over RESP on a fresh loopback connection per call."""

    def __init__(self, port):
        self.port = port

    def transaction(self, *commands):
        """MULTI, the commands, EXEC; returns EXEC's replies."""
        payload = b"".join(self._encode(c) for c in (("MULTI",),) + commands + (("EXEC",),))
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(payload)
            f = s.makefile("rb")
            replies = [self._read(f) for _ in range(len(commands) + 2)]
        return replies[-1]

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)

    def _read(self, f):
        line = f.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise RuntimeError("redis: unexpected reply %r" % line)


def find_limit(nodes, entries):
    """The config node the entries lead to (envoyproxy/ratelimit's matching), or None."""
    node = None
    for entry in entries:
        exact = wildcard = None
        for n in nodes or []:
            if n.get("key") != entry.key:
                continue
            if "value" not in n:
                wildcard = wildcard or n
            elif str(n["value"]) == entry.value:
                exact = exact or n
        node = exact or wildcard
        if node is None:
            return None
        nodes = node.get("descriptors")
    return node


class Service(rls_pb2_grpc.RateLimitServiceServicer):
    def __init__(self, config, redis):
        self.config = config
        self.redis = redis

    def ShouldRateLimit(self, request, context):
        if request.domain != self.config["domain"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown domain %r" % request.domain)
        response = rls_pb2.RateLimitResponse(overall_code=Code.OK)
        for d in request.descriptors:
            entries = [(e.key, e.value) for e in d.entries]
            status = response.statuses.add(code=Code.OK)
            node = find_limit(self.config.get("descriptors"), d.entries)
            limit = (node or {}).get("rate_limit")
            if node is None or node.get("unlimited") or not limit:
                log("descriptor", entries, "no limit")
                continue
            unit = str(limit["unit"]).lower()
            per_unit = int(limit["requests_per_unit"])
            hits = d.hits_addend.value if d.HasField("hits_addend") else (request.hits_addend or 1)
            key = json.dumps([request.domain, entries])
            try:
                count, _, ttl = self.redis.transaction(
                    ("INCRBY", key, hits), ("EXPIRE", key, UNIT_SECONDS[unit], "NX"), ("TTL", key))
            except (OSError, RuntimeError) as e:
                log("descriptor", entries, "redis failed:", e)
                context.abort(grpc.StatusCode.UNAVAILABLE, "redis: %s" % e)
            status.current_limit.requests_per_unit = per_unit
            status.current_limit.unit = Unit.Value(unit.upper())
            status.limit_remaining = max(0, per_unit - count)
            status.duration_until_reset.seconds = max(0, ttl)
            if count > per_unit:
                status.code = Code.OVER_LIMIT
                response.overall_code = Code.OVER_LIMIT
            log("descriptor", entries, "count", count, "of", per_unit, "per", unit,
                Code.Name(status.code))
        return response


def main():
    with open(os.environ["EG_RLS_CONFIG"]) as f:
        config = yaml.safe_load(f)
    redis = Redis(int(os.environ["EG_RLS_REDIS_PORT"]))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    rls_pb2_grpc.add_RateLimitServiceServicer_to_server(Service(config, redis), server)
    port = server.add_insecure_port("127.0.0.1:%d" % int(os.environ.get("EG_RLS_PORT", "0")))
    server.start()
    print("READY %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
