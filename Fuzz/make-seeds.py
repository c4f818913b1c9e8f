#!/usr/bin/env python3
"""Writes the seed corpora in Fuzz/Corpus/: a handful of small valid and edge-case inputs per
fuzz target, each in the layout its target's header comment describes (control bytes, then the
payload). Run it from anywhere; it rewrites Fuzz/Corpus/ whole."""
import os
import shutil
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Corpus")
KEY = bytes([0x37, 0x12, 0xA5, 0xF0])


def seed(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as file:
        file.write(data)


def frame(opcode, payload, fin=True, rsv1=False, mask=True, long_length=False):
    """An RFC 6455 frame, masked as a client sends it."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    bit = 0x80 if mask else 0
    n = len(payload)
    if long_length or n >= 65536:
        header = bytes([first, bit | 127]) + struct.pack(">Q", n)
    elif n >= 126:
        header = bytes([first, bit | 126]) + struct.pack(">H", n)
    else:
        header = bytes([first, bit | n])
    if not mask:
        return header + payload
    return header + KEY + bytes(byte ^ KEY[i % 4] for i, byte in enumerate(payload))


def deflate(data, compressor=None):
    """RFC 7692 §7.2.1: raw DEFLATE, sync-flushed, without the 00 00 ff ff tail."""
    compressor = compressor or zlib.compressobj(6, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def websocket():
    # [options] [limits] [split seed] stream
    t = "FuzzWebSocket"
    seed(t, "text-whole", bytes([0x00, 0xFF, 0x00]) + frame(1, b"Hello"))
    seed(t, "fragments-with-ping-byte-by-byte", bytes([0x00, 0xFF, 0x01])
         + frame(1, b"Hel", fin=False) + frame(9, b"ping") + frame(0, b"lo", fin=False) + frame(0, b", world"))
    seed(t, "deflate-hello", bytes([0x01, 0xFF, 0x00]) + frame(1, deflate(b"Hello"), rsv1=True))
    shared = zlib.compressobj(6, zlib.DEFLATED, -15)
    seed(t, "deflate-context-takeover-split", bytes([0x01 | (7 << 3), 0xFF, 0x06])
         + frame(1, deflate(b"repeat repeat repeat", shared), rsv1=True)
         + frame(2, deflate(b"repeat repeat repeat", shared), rsv1=True))
    half = deflate(b"first half, second half")
    seed(t, "deflate-no-context-takeover-fragmented", bytes([0x07, 0xFF, 0x03])
         + frame(1, half[:4], rsv1=True, fin=False) + frame(0, half[4:]))
    seed(t, "deflate-bomb-small-limit", bytes([0x01, 0x4F, 0x00]) + frame(2, deflate(b"\x00" * 100000), rsv1=True))
    seed(t, "close-1000-reason", bytes([0x00, 0xFF, 0x00]) + frame(8, struct.pack(">H", 1000) + b"bye") + frame(1, b"after"))
    seed(t, "binary-16bit-length-handler", bytes([0x40, 0xFF, 0x05]) + frame(2, bytes(range(200))))
    seed(t, "ping-flood-handler-writability", bytes([0x40, 0xFF, 0x04]) + b"".join(frame(9, b"p%d" % i) for i in range(40)))
    seed(t, "unmasked", bytes([0x40, 0xFF, 0x00]) + frame(1, b"hi", mask=False))
    seed(t, "reserved-opcode", bytes([0x00, 0xFF, 0x00]) + frame(3, b"x"))
    seed(t, "length-top-bit", bytes([0x00, 0xFF, 0x00, 0x82, 0xFF, 0x80]) + bytes(7) + KEY)
    seed(t, "frame-over-limit", bytes([0x00, 0x44, 0x00]) + frame(2, b"x" * 300))
    seed(t, "invalid-utf8-split", bytes([0x40, 0xFF, 0x02])
         + frame(1, b"\xce\xba\xe1\xbd\xb9\xcf", fin=False) + frame(0, b"\x83\xce\xbc\xce\xb5\xed\xa0\x80"))
    seed(t, "64bit-length", bytes([0x00, 0xFF, 0x00]) + frame(2, b"z" * 10, long_length=True))


def stomp():
    # [options] [split seed] stream
    t = "FuzzStomp"
    seed(t, "connect-no-version", b"\x00\x00CONNECT\naccept-version:1.2\nhost:/\nheart-beat:10000,10000\n\n\x00")
    seed(t, "send-content-length-nul-1.2", b"\x03\x00SEND\ndestination:/queue/a\ncontent-length:5\n\nab\x00cd\x00\n")
    seed(t, "subscribe-escapes-crlf-1.2",
         b"\x03\x01SUBSCRIBE\r\nid:a\\cb\\\\\\n\\r\r\ndestination:/topic/x.*\r\nack:client-individual\r\n\r\n\x00")
    seed(t, "heartbeats-between-frames-1.1", b"\x02\x02\n\r\n\nSEND\ndestination:/topic/t\n\nhello\x00\n\nACK\nid:1\n\n\x00\r\n")
    seed(t, "padded-headers-1.0", b"\x01\x00SEND\ndestination : /queue/a \ncontent-length : 3 \n\nabc\x00")
    seed(t, "small-limits-many-headers", b"\x07\x00SEND\n" + b"".join(b"h%d:v\n" % i for i in range(12)) + b"\n\x00")
    seed(t, "bad-escape-1.1", b"\x02\x00SEND\ndestination:/queue/\\t\n\n\x00")
    seed(t, "repeated-header-byte-by-byte", b"\x03\x01MESSAGE\nfoo:World\nfoo:Hello\nsubscription:0\nmessage-id:007\n\nbody\x00")
    seed(t, "unknown-command", b"\x03\x00HELLO\n\n\x00")
    seed(t, "long-header-small-limits", b"\x04\x05SEND\nx:" + b"y" * 300 + b"\n\n\x00")
    seed(t, "disconnect-receipt", b"\x03\x00DISCONNECT\nreceipt:77\n\n\x00")


def handshake():
    # [mode] [endpoint options] [split seed] payload
    t = "FuzzHandshake"
    rfc = ["Host:server.example.com", "Upgrade:websocket", "Connection:Upgrade",
           "Sec-WebSocket-Key:dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version:13", "Origin:http://example.com",
           "Sec-WebSocket-Protocol:stomp, v12.stomp",
           "Sec-WebSocket-Extensions:permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=10"]
    hixie = ["Host:example.com", "Connection:Upgrade", "Upgrade:WebSocket", "Origin:http://example.com",
             "Sec-WebSocket-Key1:4 @1  46546xW%0l 1 5", "Sec-WebSocket-Key2:12998 5 Y3 1  .P00"]

    def raw(target, lines):
        return (f"GET {target} HTTP/1.1\r\n" + "".join(line.replace(":", ": ", 1) + "\r\n" for line in lines) + "\r\n").encode()

    seed(t, "structured-rfc6455", bytes([0, 0x02, 0]) + ("GET\n/chat\n1.1\n" + "\n".join(rfc)).encode())
    seed(t, "raw-rfc6455", bytes([1, 0x22, 0]) + raw("/chat", rfc))
    seed(t, "raw-rfc6455-split-pipelined", bytes([1, 0x14, 0x03]) + raw("/chat", rfc)
         + b"GET / HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n")
    seed(t, "structured-hixie76", bytes([0, 0x01, 0]) + ("GET\n/demo\n1.1\n" + "\n".join(hixie)).encode())
    seed(t, "raw-hixie76", bytes([1, 0x01, 0x02]) + raw("/demo", hixie) + b"^n:ds[4U")
    seed(t, "structured-bad-key", bytes([0, 0x06, 0]) + b"POST\n/\n1.0\nHost:h\nUpgrade:websocket\n"
         b"Connection:keep-alive, Upgrade\nSec-WebSocket-Key:short\nSec-WebSocket-Version:13, 8")
    seed(t, "hixie76-frames", bytes([2, 0x0F, 0]) + b"Tm[K T2u" + b"\x00hi\xff\x00\xce\xba\xff\xff\x00")
    seed(t, "hixie76-slow-message", bytes([3, 0x08, 0x01]) + b"Tm[K T2u\x00" + b"a" * 200 + b"\xff")
    seed(t, "hixie76-over-limit", bytes([2, 0x00, 0]) + b"Tm[K T2u\x00" + b"x" * 40 + b"\xff")


def destination():
    # pattern \n destination
    pairs = [("/topic/stocks.*.nyse", "/topic/stocks.ibm.nyse"), ("/topic/#", "/topic/a.b.c"),
             ("/topic/#.#.#.#.#.#.#.#.x", "/topic/a.b.c.d.e.f"), ("/queue/a", "/queue/a"),
             ("/topic/a.#.b.*", "/topic/a.b.c.b.d"), ("/topic/a..b", "/topic/a.b"), ("/topic/*", "/queue/x"),
             ("/queue/#", "/queue/a"), ("/topic/x#.y", "/topic/x#.y"), ("/topic/#.*.#", "/topic/one")]
    for index, (pattern, target) in enumerate(pairs):
        seed("FuzzDestination", "seed-%02d" % index, (pattern + "\n" + target).encode())


def sockjs():
    # [close code / 16] callback \n body
    t = "FuzzSockJS"
    seed(t, "array", b"\xbbcb\n" + b'["a","b"]')
    seed(t, "single-string", b"\x00c\n" + b'"single"')
    seed(t, "script-injection", b"\x01jQuery123_456.cb\n" + b'["</script><img src=x onerror=alert(1)>","a & b > c"]')
    seed(t, "unicode-escapes-percent", b"\x02p\n" + '["\\u2028\\ud83d\\ude00 %25 % \\u0000\\n\\r\u00e9\\ufeff"]'.encode())
    seed(t, "not-strings", b"\x03x\n" + b'[1,2,{"a":null}]')
    seed(t, "truncated", b"\x04bad callback!\n" + b'["a",')
    seed(t, "not-utf8", b"\x05cb\n" + b"\xff\xfe\x00\x80ok")
    seed(t, "nested", b"\x06cb\n" + b'[[[["deep"]]]]')


def access():
    # selector byte, then the case's text (see FuzzAccess.swift)
    t = "FuzzAccess"
    seed(t, "glob", b"\x00/topic/**/x*y\n/topic/a/b/xzy")
    seed(t, "glob-stars", b"\x00/" + b"**a" * 40 + b"\n/" + b"a" * 200)
    seed(t, "query", b"\x01/stomp?a=1&token=ey%2E.b.c&token=2#x")
    seed(t, "hook-allow", b"\x02\xc8" + b'{"user":"alice","subscribe":["/topic/**"],"send":[],"expires_in":60,"data":{"a":[1,2.5,null,true]},"body":"x","headers":{"x-a":"1","perigee-user":"m"}}')
    seed(t, "hook-refuse", b"\x02\x93" + b'{"reason":"no"}')
    seed(t, "hook-drop", b"\x02\xc8" + b'{"drop":true}')
    seed(t, "claims", b"\x03" + b'{"sub":"alice","exp":1e300,"nbf":-5,"iss":"i","aud":["perigee"],"perigee":{"subscribe":["/topic/a/**"]}}')
    seed(t, "credentials", b"\x04Authorization:Bearer a.b.c\npasscode:secret-key-1\nlogin:x")


if __name__ == "__main__":
    shutil.rmtree(ROOT, ignore_errors=True)
    websocket()
    stomp()
    handshake()
    destination()
    sockjs()
    access()
