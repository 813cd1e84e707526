#!/usr/bin/env python3
"""One node's appends against a Redis, as fast as Redis answers, for bench/redis-floor.sh.

Sends CALLS round trips, each carrying PER_CALL messages (100-byte texts, each with a client
id) spread over ROOMS_PER_CALL rooms taken in turn from ROOMS, and waits for each answer
before the next (what a node's worker does with a hub batch). MODE says what a round trip is:

  pipe    per room part, an XADD per message to the room's capped stream and one PUBLISH of
          its lines, pipelined (the bare minimum a durable chat needs, no script)
  script  the same commands in one EVALSHA per round trip (floor.lua below)
  ours    one EVALSHA of crates/broker-redis/src/append.lua with the arguments the node gives

usage: redis-floor.py PORT MODE CALLS PER_CALL ROOMS_PER_CALL ROOMS PREFIX [APPEND_LUA]
Only 127.0.0.1. Prints nothing unless an answer is an error (then exits 1).
"""
import os
import socket
import sys

# The bare minimum as one script: each message's XADD (capped, id from Redis) and one PUBLISH
# of the room part's lines. KEYS: per room its stream; ARGV: cap, then per room its channel,
# its count and its messages' d.
FLOOR_LUA = """
local cap, at, out = ARGV[1], 2, {}
for room = 1, #KEYS do
  local channel, count, lines = ARGV[at], tonumber(ARGV[at + 1]), {}
  for i = 1, count do
    local d = ARGV[at + 1 + i]
    local id = redis.call('XADD', KEYS[room], 'MAXLEN', cap, '*', 'd', d)
    out[#out + 1] = id
    lines[i] = id .. ':' .. d .. '\\n'
  end
  redis.call('PUBLISH', channel, table.concat(lines))
  at = at + 2 + count
end
return out
"""
CAP = 10000


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.at = 0

    def _line(self):
        while True:
            end = self.buf.find(b"\r\n", self.at)
            if end >= 0:
                line = self.buf[self.at:end]
                self.at = end + 2
                return line
            self._more()

    def _more(self):
        self.buf = self.buf[self.at:] + self.sock.recv(1 << 20)
        self.at = 0

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            sys.exit("redis answered an error: " + rest.decode())
        if kind in (b"+", b":"):
            return rest
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buf) - self.at < size + 2:
                self._more()
            value = self.buf[self.at:self.at + size]
            self.at += size + 2
            return value
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        sys.exit("unexpected reply " + repr(line))

    def call(self, payload, replies):
        self.sock.sendall(payload)
        return [self.reply() for _ in range(replies)]


def main():
    port, mode, calls, per_call, rooms_per_call, rooms = (
        int(sys.argv[1]), sys.argv[2], *map(int, sys.argv[3:7]))
    prefix = sys.argv[7]
    conn = Conn(port)
    if mode == "script":
        sha = conn.call(command("SCRIPT", "LOAD", FLOOR_LUA), 1)[0].decode()
    elif mode == "ours":
        with open(sys.argv[8], "rb") as f:
            sha = conn.call(command("SCRIPT", "LOAD", f.read()), 1)[0].decode()
    text = "x" * 100
    room_at, sent = 0, 0
    for call in range(calls):
        # The call's room parts: PER_CALL messages dealt over ROOMS_PER_CALL rooms.
        parts = []
        for p in range(rooms_per_call):
            count = per_call // rooms_per_call + (1 if p < per_call % rooms_per_call else 0)
            if count == 0:
                continue
            room = f"r{room_at % rooms}"
            room_at += 1
            ds = []
            for _ in range(count):
                sent += 1
                cid = f"{os.getpid()}-{sent}"
                ds.append((cid, f'{{"u":"u_1","n":"user 1","c":"{cid}","x":"{text}"}}'))
            parts.append((room, ds))
        if mode == "pipe":
            payload, replies = [], 0
            for room, ds in parts:
                lines = []
                for _, d in ds:
                    payload.append(command("XADD", f"{prefix}:{{{room}}}:log", "MAXLEN", CAP,
                                           "*", "d", d))
                    lines.append(d)
                payload.append(command("PUBLISH", f"{prefix}:{{{room}}}",
                                       "\n".join(lines) + "\n"))
                replies += len(ds) + 1
            conn.call(b"".join(payload), replies)
        elif mode == "script":
            keys = [f"{prefix}:{{{room}}}:log" for room, _ in parts]
            argv = [CAP]
            for room, ds in parts:
                argv += [f"{prefix}:{{{room}}}", len(ds)] + [d for _, d in ds]
            conn.call(command("EVALSHA", sha, len(keys), *keys, *argv), 1)
        else:
            keys, argv = [], [CAP, 0, "PUBLISH"]
            for room, ds in parts:
                base = f"{prefix}:{{{room}}}"
                keys += [f"{base}:seq", f"{base}:log", f"{base}:ids", f"{base}:state",
                         f"{base}:changed"]
                argv += [base, len(ds)]
                for cid, d in ds:
                    argv += [cid, "", d]
            conn.call(command("EVALSHA", sha, len(keys), *keys, *argv), 1)


main()
