"""CURVE: an encrypted server that lets in only the clients whose certificates it trusts."""

import asyncio
import tempfile
from pathlib import Path

import zeromq


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Certificate files: <name>.key is public, <name>.key_secret holds both keys
        # (made readable by its owner only). The server trusts a directory of
        # its clients' public certificates.
        trusted = Path(tmp, "trusted")
        trusted.mkdir()
        _, server_secret = zeromq.write_certificates(tmp, "server")
        client_public, client_secret = zeromq.write_certificates(tmp, "client")
        client_public.rename(trusted / client_public.name)

        server_keys = zeromq.load_certificate(server_secret).keypair
        client_keys = zeromq.load_certificate(client_secret).keypair

        # Start the authenticator before the server binds: it serves every
        # socket of the default context.
        async with zeromq.Authenticator() as auth:
            auth.configure_curve(directory=trusted)

            async with zeromq.Reply(
                linger=0, curve_server=True, curve_secret_key=server_keys.secret_key
            ) as server, zeromq.Request(
                linger=0,
                curve_server_key=server_keys.public_key,  # whom it expects to talk to
                curve_public_key=client_keys.public_key,
                curve_secret_key=client_keys.secret_key,
            ) as client:
                events = server.events
                endpoint = await server.bind("tcp://127.0.0.1:*")
                client.connect(endpoint)
                await client.send("hello")
                [request] = await server.receive()
                await server.send(b"welcome, " + request)
                print(await client.receive(), client.security_mechanism)  # [b'welcome, hello'] curve

                # A client whose key is not in the directory gets nothing through.
                stranger = zeromq.curve_keypair()
                async with zeromq.Request(
                    linger=0,
                    curve_server_key=server_keys.public_key,
                    curve_public_key=stranger.public_key,
                    curve_secret_key=stranger.secret_key,
                ) as intruder:
                    intruder.connect(endpoint)
                    await intruder.send("let me in")
                    while (event := await events.receive()).type != "handshake:error:auth":
                        pass
                    assert event.error is not None
                    print("refused:", event.address, "ZAP status", event.error.status)  # 400
                    assert not server.readable  # its message never arrived


asyncio.run(main())
