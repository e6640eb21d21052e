"""A zmq.asyncio program: a request-reply over tcp with a timeout and a multipart reply."""

import asyncio

import zmq
import zmq.asyncio


async def main() -> None:
    ctx = zmq.asyncio.Context()
    server = ctx.socket(zmq.REP)
    server.setsockopt(zmq.LINGER, 0)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = ctx.socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    client.setsockopt(zmq.RCVTIMEO, 1000)
    client.connect(f"tcp://127.0.0.1:{port}")

    await client.send_string("hello")
    request = await server.recv_string()
    await server.send_multipart([b"reply", request.encode()])
    try:
        parts = await client.recv_multipart()
    except zmq.Again:  # a zmq.ZMQError, not a TimeoutError
        parts = []
    print(parts)  # [b'reply', b'hello']
    assert parts == [b"reply", b"hello"]

    client.close()
    server.close()
    ctx.term()


asyncio.run(main())
