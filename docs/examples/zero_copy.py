"""Large messages: send bytes without a copy, receive into memoryviews."""

import array
import asyncio

import zeromq


async def main() -> None:
    async with zeromq.Pull(linger=0) as pull, zeromq.Push(linger=0) as push:
        endpoint = await pull.bind("inproc://large")
        push.connect(endpoint)

        blob = bytes(1_000_000)  # bytes of 64 KiB or more go to libzmq without a copy
        samples = array.array("d", range(100_000))  # other buffers are copied:
        await push.send(["frame", blob, samples])  # changing `samples` later changes nothing sent

        header, data, values = await pull.receive_buffers()  # read-only views, no copy
        received = values.cast("d")  # or numpy.frombuffer(values, dtype=float)
        print(bytes(header), len(data), len(received), received[-1])  # b'frame' 1000000 100000 99999.0
        assert data.readonly and len(data) == len(blob) and received[-1] == 99999.0


asyncio.run(main())
