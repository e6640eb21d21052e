"""PLAIN: user name and password, checked by an Authenticator (clear text: trusted networks only)."""

import asyncio

import zeromq


async def check(username: str, password: str) -> bool:
    # Look it up wherever passwords live; only True lets the client in.
    return (username, password) == ("alice", "wonderland")


async def main() -> None:
    async with zeromq.Authenticator() as auth:
        auth.configure_plain(callback=check)  # or passwords={"alice": "wonderland"}
        auth.allow("127.0.0.1")  # and only from here

        async with zeromq.Pull(linger=0, plain_server=True) as server:
            events = server.events
            endpoint = await server.bind("tcp://127.0.0.1:*")

            async with zeromq.Push(
                linger=0, plain_username="alice", plain_password="wonderland"
            ) as alice:
                alice.connect(endpoint)
                await alice.send("hi from alice")
                print(await server.receive())  # [b'hi from alice']

            async with zeromq.Push(linger=0, plain_username="alice", plain_password="guess") as eve:
                eve.connect(endpoint)
                await eve.send("hi from eve")
                while (event := await events.receive()).type != "handshake:error:auth":
                    pass
                assert event.error is not None and event.error.status == 400
                print("wrong password refused with ZAP status", event.error.status)
                assert not server.readable


asyncio.run(main())
