"""Closing without losing the last messages: the receiver says it has them all."""

import asyncio

import zeromq

MESSAGES = 500


async def receiver(address: str) -> int:
    # A slow reader: it holds one message at a time, so the sender's queue and
    # the connection fill up and stay full until the very end.
    async with zeromq.Dealer(receive_high_water_mark=1) as dealer:
        dealer.connect(address)
        count = 0
        async for [message] in dealer:
            if message == b"done":
                await dealer.send(b"got them all")
                return count
            count += 1
    raise AssertionError("the sender closed before its last message")


async def main() -> None:
    async with zeromq.Dealer(send_high_water_mark=1, linger=1000) as sender:
        address = await sender.bind("tcp://127.0.0.1:*")
        receiving = asyncio.create_task(receiver(address))
        for n in range(MESSAGES):
            await sender.send(b"%d" % n)
        await sender.send(b"done")
        # Only the receiver knows it has every message: linger alone would
        # not tell (see above). Wait for its word before closing.
        assert await sender.receive() == [b"got them all"]
    assert await receiving == MESSAGES
    print(f"{MESSAGES} messages, none lost at close")


if __name__ == "__main__":
    asyncio.run(main())
