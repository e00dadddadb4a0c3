"""A TCP forwarder: `python -m tests.multihost.forward LISTEN_HOST:PORT=TARGET_HOST:PORT ...`.

PostgreSQL and Redis listen on 127.0.0.1 only, which a network namespace cannot reach (its own
loopback is its own, and 127/8 is never routed over an interface). iptables' DNAT with
route_localnet would do it in the kernel, but it is not installed everywhere; socat is not either.
This forwarder listens on the bridge's address (reachable from the namespaces, from no other
machine) and copies bytes both ways. It prints "ready" once every listener is bound.
"""
import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def _handler(target_host: str, target_port: int):
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))

    return handle


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def main(routes: list[str]) -> None:
    servers = []
    for route in routes:
        listen, _, target = route.partition("=")
        servers.append(await asyncio.start_server(_handler(*_address(target)), *_address(listen), reuse_address=True))
    print("ready", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
