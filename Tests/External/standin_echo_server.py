#!/usr/bin/env python3
"""Stand-in for the Perigee server's conformance mode, used to develop and
check the external test harness before the real server exists.

Serves a WebSocket echo endpoint at ws://HOST:PORT/echo/websocket with a
16 MiB message limit and permessage-deflate, using the `websockets` library
(install with Tests/External/setup-venvs.sh; run with .venv/bin/python).

    PERIGEE_CMD='.venv/bin/python Tests/External/standin_echo_server.py --port {port}' \
        Tests/External/autobahn.sh
"""
import argparse
import asyncio
import os
import signal
import sys

# websockets refuses messages of more than 4096 fragments by default (a DoS
# guard, close code 1009); Autobahn 9.3.1/9.4.1 send 4 MiB in 64-byte
# fragments. Only the 16 MiB size limit should apply, as in Perigee.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.datastructures import Headers

ECHO_PATH = "/echo/websocket"
MAX_MESSAGE = 16 * 1024 * 1024


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


def only_echo_path(connection, request):
    if request.path.split("?", 1)[0] != ECHO_PATH:
        return Response(404, "Not Found", Headers([("Content-Length", "10")]), b"Not Found\n")
    return None


async def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--conformance", action="store_true",
                        help="accepted for command-line compatibility; always on")
    args = parser.parse_args(argv)

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)

    async with serve(
        echo,
        args.host,
        args.port,
        process_request=only_echo_path,
        max_size=MAX_MESSAGE,
        max_queue=None,
        ping_interval=None,
        compression="deflate",
    ):
        print(f"stand-in echo server on ws://{args.host}:{args.port}{ECHO_PATH}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
