"""`Proxy`: libzmq's steerable proxy between two sockets, run off the event loop.

`run()` lends the sockets to a thread that runs `zmq_proxy_steerable` and
steers it through a PAIR over inproc (PAUSE, STATISTICS, TERMINATE). libzmq
4.3.5's paused proxy spins, using a whole CPU, as long as a message waits, so
`pause()` does not leave it paused: it pauses it, asks for its statistics (so
that the counts carry on) and ends it; the thread then waits for `resume()`,
which enters libzmq's proxy again.
libzmq sockets must not be used from two threads at once, so for the length
of the run the engine lets go of the sockets (it stops watching their fds)
and everything that would touch them from the event loop's thread refuses
(`send`, `receive`, `bind`, `connect`...) or is deferred (`close`). A
thread-safe DRAFT socket is lent for every event loop using it (each loop's
lane lets go in its own thread); its close() from another thread's loop
steers the proxy from run()'s loop.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import struct
import threading
import uuid
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

import zmq

from . import _backends, _threads
from ._engine import Writable
from ._errors import ZMQError, from_zmq
from ._lifecycle import time_left
from ._socket import SocketBase
from ._sockets import Pair, Socket

F = TypeVar("F", bound=Socket)
B = TypeVar("B", bound=Socket)

_READY, _RUNNING, _TERMINATED = "ready", "running", "terminated"
_EFSM = int(zmq.EFSM)
_NOBLOCK = int(zmq.NOBLOCK)
_UINT64 = struct.Struct("=Q")

_STATISTICS_PARTS = 8  # libzmq's answer to STATISTICS: 4 counters per end

# libzmq 4.3.5's rewritten steerable proxy has PAUSE and RESUME the wrong way
# round, and acknowledges both (and TERMINATE) with an empty message whatever
# the control socket's type; the release after it fixes both (libzmq #4600).
_PAUSE = b"RESUME" if zmq.zmq_version_info() == (4, 3, 5) else b"PAUSE"


class _Steering:
    """What the loop's thread tells the proxy's thread beside the control
    socket: whether to enter libzmq's proxy again once it has returned."""

    __slots__ = ("ended", "paused", "stopping", "terminations", "wake")

    def __init__(self) -> None:
        self.paused = False
        self.stopping = False
        self.wake = threading.Event()  # set when any of these changes
        # How many TERMINATEs pause() has sent, and how many runs of libzmq's
        # proxy have ended (the proxy's thread counts those).
        self.terminations = 0
        self.ended = 0


class _Answer:
    """Where a statistics() call gets its STATISTICS answer."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[int] | None = None


class ProxyEndStatistics(NamedTuple):
    """What went through one end of a proxy. libzmq counts message parts
    (frames), not whole messages."""

    received_parts: int
    """Parts the proxy received from this end."""
    received_bytes: int
    """Bytes in those parts."""
    sent_parts: int
    """Parts the proxy sent out of this end."""
    sent_bytes: int
    """Bytes in those parts."""


class ProxyStatistics(NamedTuple):
    """What went through a proxy since `run()` began, per end."""

    front_end: ProxyEndStatistics
    back_end: ProxyEndStatistics


# Seconds between the paused proxy thread's looks at its context (see _serve).
_PAUSED_LOOK = 0.25


def _serve(
    natives: list[zmq.Socket[bytes]],
    capture: zmq.Socket[bytes] | None,
    control: zmq.Socket[bytes],
    steering: _Steering,
    runner: _backends.Runner,
    report: Callable[[BaseException | None], None],
) -> None:
    """The proxy's thread.

    A thread of its own rather than asyncio's executor or trio's thread
    cache: a proxy may run for the life of the program, and must not take
    one of the few threads those keep for short blocking calls.
    """
    error: BaseException | None = None
    try:
        while True:
            # Returns after a TERMINATE, sent by pause() or terminate().
            zmq.proxy_steerable(natives[0], natives[1], capture, control)
            steering.ended += 1
            while True:
                steering.wake.clear()  # before looking: a change after sets it again
                if steering.stopping or not steering.paused:
                    break
                if steering.terminations > steering.ended:
                    # A pause() after a resume() this thread has not acted on
                    # yet: run libzmq's proxy again to answer its commands,
                    # its TERMINATE ends that run at once.
                    break
                # Paused: libzmq's proxy does not run, so nothing here would
                # notice the context terminating (at process exit, say) and
                # close the sockets it waits for (see below), should run()'s
                # loop not run any more: look now and then (ZMQ_EVENTS says
                # ETERM), touching nothing else.
                while not steering.wake.wait(_PAUSED_LOOK):
                    for native in natives:
                        native.get(zmq.EVENTS)
            if steering.stopping:
                break
    except BaseException as exc:  # reported to run(), in the loop's thread
        error = exc
    finally:
        control.close(linger=0)
    if isinstance(error, zmq.ContextTerminated):
        # A context terminating (at process exit, say) waits until its
        # sockets are closed, and run()'s loop, which would close the ends,
        # may never run again (stopped, or blocked in a daemon thread): the
        # exit would hang. They are closed here, by the thread that has them
        # (run() closes them afterwards anyway); the capture socket too when
        # it shares their context, which is then the one terminating.
        doomed = set(natives)
        if capture is not None and {n.context for n in natives} == {capture.context}:
            doomed.add(capture)
        for native in doomed:
            native.close()
    try:
        runner.call_soon(report, error)
    except RuntimeError:
        # The event loop (or trio run) is gone: no one will run `report`, and no one else
        # uses the sockets now. Close what run() would have closed.
        for native in set(natives):
            native.close()


class Proxy(Generic[F, B]):
    """Forwards messages between two sockets: libzmq's proxy, steerable.

    Conceptually messages flow from the front end to the back end and
    replies, where the socket types have them, the other way; the proxy is
    symmetric. Typical pairs: `Router` / `Dealer` (request-reply broker),
    `XSubscriber` / `XPublisher` (pub-sub forwarder), `Pull` / `Push`
    (pipeline streamer).

    Bind or connect both ends (and set their options) first, then
    ``await proxy.run()``. While it runs, the sockets belong to the proxy's
    thread: their `send` and `receive` raise a `ZMQError` (``ENOTSOCK``,
    saying that a running Proxy uses the socket), in every event loop that
    uses a thread-safe DRAFT socket (`Server`, `Gather`, ...); `bind`,
    `connect`, `unbind` and `disconnect` too (``EBUSY``), and their
    `close()`, from any thread, terminates the proxy.

    Args:
        front_end: the front-end socket.
        back_end: the back-end socket.
        capture: optional (beyond the reference): a sending socket to which
            the proxy also sends every message it forwards. It must not
            block the proxy: a `Publisher` is best (a `Push` or `Pair` waits
            at its high water mark, and with it the proxy). It stays open
            when the proxy terminates.

    Raises:
        TypeError: an end is not a zeromq socket, or `capture` cannot send.
        ValueError: `capture` is one of the ends.
    """

    __slots__ = (
        "_back_end",
        "_base",
        "_capture",
        "_control",
        "_done",
        "_error",
        "_expected",
        "_front_end",
        "_let_go",
        "_lock",
        "_runner",
        "_state",
        "_steering",
    )

    def __init__(self, front_end: F, back_end: B, *, capture: Socket | None = None) -> None:
        for name, sock in (("front_end", front_end), ("back_end", back_end)):
            if not isinstance(sock, Socket):
                raise TypeError(f"Proxy {name} must be a zeromq socket, not {type(sock).__name__}")
        if capture is not None:
            if not isinstance(capture, Socket) or not isinstance(capture, Writable):
                raise TypeError(
                    f"Proxy capture must be a zeromq socket that can send, not {type(capture).__name__}"
                )
            if capture is front_end or capture is back_end:
                raise ValueError("Proxy capture must not be one of its ends")
        self._front_end = front_end
        self._back_end = back_end
        self._capture = capture
        self._state = _READY
        self._control: Pair | None = None
        # Set once the proxy's thread has ended, with what it raised.
        self._done: _backends.Event | None = None
        self._error: BaseException | None = None
        # Made on first use, for the library then running.
        self._lock: _backends.Lock | None = None
        # The loop (or trio run) of run(), which alone steers the proxy.
        self._runner: _backends.Runner | None = None
        self._steering = _Steering()
        # Set once run()'s loop has closed the ends after the proxy's thread
        # let go of them (for the process exit, which waits for it).
        self._let_go = threading.Event()
        # The counts of libzmq's proxy runs that pause() ended, summed.
        self._base = [0] * _STATISTICS_PARTS
        # Who each STATISTICS answer still to come is for, in the order they
        # were asked: None for pause()'s (added to _base), or a statistics() call.
        self._expected: collections.deque[_Answer | None] = collections.deque()

    def __repr__(self) -> str:
        return f"<zeromq.Proxy {self._state} {self._front_end!r} {self._back_end!r}>"

    @property
    def front_end(self) -> F:
        """The front-end socket."""
        return self._front_end

    @property
    def back_end(self) -> B:
        """The back-end socket."""
        return self._back_end

    @property
    def capture(self) -> Socket | None:
        """The capture socket, or None."""
        return self._capture

    # -- running -------------------------------------------------------------

    def _roles(self) -> list[tuple[str, SocketBase]]:
        roles: list[tuple[str, SocketBase]] = [("front-end", self._front_end)]
        if self._back_end is not self._front_end:
            roles.append(("back-end", self._back_end))
        if self._capture is not None:
            roles.append(("capture", self._capture))
        return roles

    async def run(self) -> None:
        """Proxy messages until `terminate()`, in a thread of its own: the
        event loop keeps running meanwhile. Afterwards both ends are closed
        (the capture socket is not).

        Cancelling `run()` terminates the proxy (and closes the ends).

        Raises:
            ZMQError: with a message naming the problem: an end (or the
                capture socket) is neither bound nor connected (``EINVAL``),
                is closed (``ENOTSOCK``), has a `send` or `receive` pending
                or is used by another proxy (``EBUSY``); the proxy is already
                running (``EBUSY``) or was terminated (``EFSM``); or the
                proxy failed, e.g. its context was terminated (``ETERM``).
        """
        backend = _backends.current()
        if self._state == _RUNNING:
            raise ZMQError(errno.EBUSY, "Proxy is already running")
        if self._state == _TERMINATED:
            raise ZMQError(_EFSM, "Proxy was terminated and its sockets closed: make a new Proxy")
        roles = self._roles()
        for role, sock in roles:
            _check_can_lend(role, sock)

        address = f"inproc://zeromq.proxy.{uuid.uuid4().hex}"
        context = self._front_end.context
        theirs: zmq.Socket[bytes] = _threads.native_socket(context._native, zmq.PAIR)
        theirs.linger = 0
        theirs.bind(address)
        # No high water mark: the proxy's thread must never wait to answer.
        control = Pair(context=context, linger=0, receive_high_water_mark=0)
        control.connect(address)

        for _, sock in roles:
            sock._lend(self)
        self._control = control
        self._state = _RUNNING
        runner = self._runner = backend.runner()
        done = self._done = backend.event()
        capture = self._capture
        thread = threading.Thread(
            target=_serve,
            args=(
                [self._front_end._native, self._back_end._native],
                None if capture is None else capture._native,
                theirs,
                self._steering,
                runner,
                self._stopped,
            ),
            name="zeromq.Proxy",
            daemon=True,
        )
        try:
            _threads.start(thread)
        except BaseException:
            for _, sock in roles:
                sock._give_back()
            self._state = _READY
            self._control = None
            control.close()
            theirs.close(linger=0)
            raise

        try:
            await done.wait()
        except BaseException:  # cancelled (a task's cancel, a trio cancel scope)
            if self._state == _RUNNING:
                self.terminate()
            # Wait for the thread to let go of the sockets (it does at once
            # after TERMINATE); under asyncio a second cancellation stops
            # only the wait.
            await backend.wait_uncancelled(done)
            raise
        error, self._error = self._error, None
        if error is not None:
            if isinstance(error, zmq.ZMQError):
                raise from_zmq(error, "Proxy stopped") from None
            raise error

    def _stopped(self, error: BaseException | None) -> None:
        """The proxy's thread has ended (in the loop's thread)."""
        self._state = _TERMINATED
        if self._control is not None:
            self._control.close()
        ends = {id(s): s for s in (self._front_end, self._back_end)}.values()
        for sock in ends:
            sock._give_back()
            if sock._closed:
                sock._close_after_proxy()  # its close() came during the run
            else:
                sock.close()
        capture = self._capture
        if capture is not None:
            capture._give_back()
            if capture._closed:
                capture._close_after_proxy()
        done = self._done
        if done is not None and not done.is_set():
            self._error = error
            done.set()
        self._let_go.set()

    def _wait_stopped(self, deadline: float) -> None:
        """At process exit, after an end's close(): wait until `deadline`
        (monotonic) for run()'s loop, running in another (daemon) thread, to
        have stopped the proxy, so that run() returns as after any close()
        instead of failing (ETERM) when the exit terminates the context."""
        runner = self._runner
        if runner is not None and runner.is_running() and not runner.is_current():
            self._let_go.wait(time_left(deadline))

    def _end_closed(self) -> None:
        """`close()` of a socket the proxy's thread uses: stop the proxy,
        which closes the socket when the thread has let go of it.

        From any thread (a thread-safe socket is closed by the last of its
        loops to let go of it): the steering is run()'s loop's, so it is
        handed to that loop, unless that has ended (then no other thread
        steers the proxy any more)."""
        runner = self._runner
        if runner is not None and not runner.is_current():
            try:
                runner.call_soon(self._end_closed_here)
                return
            except RuntimeError:
                pass  # run()'s loop has ended
        self._end_closed_here()

    def _end_closed_here(self) -> None:
        if self._state == _RUNNING:
            # A failure means the proxy's thread has already gone.
            with contextlib.suppress(ZMQError):
                self.terminate()

    # -- steering -------------------------------------------------------------

    def _check_running(self, what: str) -> Pair:
        if self._state == _READY:
            raise ZMQError(
                _EFSM, f"Cannot {what}: the proxy is not running (run() has not started)"
            )
        if self._state == _TERMINATED or self._control is None:
            raise ZMQError(_EFSM, f"Cannot {what}: the proxy was terminated")
        return self._control

    def _take_answer(self, frames: list[bytes]) -> None:
        """Hand a message from libzmq's proxy to whom it is for. libzmq 4.3.5
        acknowledges TERMINATE with an empty message: it is dropped."""
        if len(frames) != _STATISTICS_PARTS or not self._expected:
            return
        values = [_UINT64.unpack(frame)[0] for frame in frames]
        waiter = self._expected.popleft()
        if waiter is None:
            self._base = [a + b for a, b in zip(self._base, values, strict=True)]
        elif waiter.values is None:
            waiter.values = values

    def _command(self, what: str, command: bytes) -> None:
        control = self._check_running(what)
        native = control._native
        try:
            if self._lock is None or not self._lock.locked():
                # Take what has come meanwhile (statistics() does, while it
                # holds the lock), so that it does not pile up.
                while True:
                    frames = [native.recv(_NOBLOCK)]
                    while native.get(zmq.RCVMORE):
                        frames.append(native.recv(_NOBLOCK))
                    self._take_answer(frames)
        except zmq.Again:
            pass
        except zmq.ZMQError as exc:
            raise from_zmq(exc, f"Cannot {what}") from None
        try:
            native.send(command, _NOBLOCK)
        except zmq.ZMQError as exc:
            raise from_zmq(exc, f"Cannot {what}") from None
        # Calls past the engine may consume the fd's edge a pending
        # statistics() waits for.
        control._poll()

    def pause(self) -> None:
        """Suspend forwarding: messages wait in the sockets' queues until
        `resume()`. Takes effect as soon as the proxy's thread reads the
        command; `statistics()` after `pause()` returns once it has. A paused
        proxy uses no CPU. Pausing a paused proxy does nothing.

        Raises:
            ZMQError: ``EFSM`` when the proxy is not running.
        """
        self._check_running("pause the proxy")
        steering = self._steering
        if steering.paused:
            return
        steering.paused = True
        # libzmq's proxy reads one command between bursts of forwarding, so
        # stop the forwarding first: the counts asked for next are then final.
        # (Its PAUSE alone would do, but spins while messages wait.)
        self._command("pause the proxy", _PAUSE)
        self._command("pause the proxy", b"STATISTICS")
        self._expected.append(None)
        self._command("pause the proxy", b"TERMINATE")
        steering.terminations += 1
        steering.wake.set()  # a thread waiting from an earlier pause runs them

    def resume(self) -> None:
        """Resume forwarding after `pause()`; does nothing if not paused.

        Raises:
            ZMQError: ``EFSM`` when the proxy is not running.
        """
        self._check_running("resume the proxy")
        steering = self._steering
        if steering.paused:
            steering.paused = False
            steering.wake.set()

    def terminate(self) -> None:
        """Stop the proxy: `run()` returns shortly after, with both ends
        closed.

        Raises:
            ZMQError: ``EFSM`` when the proxy is not running (before `run()`
                has started, or after `terminate()`).
        """
        self._check_running("terminate the proxy")
        steering = self._steering
        steering.stopping = True
        if steering.paused:
            steering.wake.set()  # libzmq's proxy has ended, or will at pause()'s TERMINATE
        else:
            self._command("terminate the proxy", b"TERMINATE")
        self._state = _TERMINATED

    async def statistics(self) -> ProxyStatistics:
        """What went through the proxy since `run()` began (beyond the
        reference), from the steerable proxy's STATISTICS command.

        Raises:
            ZMQError: ``EFSM`` when the proxy is not running or terminates
                before it answers.
        """
        control = self._check_running("read the proxy's statistics")
        if self._lock is None:
            self._lock = _backends.current().lock()
        async with self._lock:  # one reader of the answers at a time
            control = self._check_running("read the proxy's statistics")
            answer: _Answer | None = None
            try:
                if not self._steering.paused:
                    await control.send(b"STATISTICS")
                    answer = _Answer()
                    self._expected.append(answer)
                # Paused: the counts are those of the runs pause() ended, once
                # their answers are in.
                while self._expected and (answer is None or answer.values is None):
                    self._take_answer(await control.receive())
            except ZMQError:
                if control.closed:
                    raise ZMQError(
                        _EFSM, "Cannot read the proxy's statistics: the proxy was terminated"
                    ) from None
                raise
            values = self._base
            if answer is not None and answer.values is not None:
                values = [a + b for a, b in zip(values, answer.values, strict=True)]
        return ProxyStatistics(ProxyEndStatistics(*values[:4]), ProxyEndStatistics(*values[4:8]))


def _check_can_lend(role: str, sock: SocketBase) -> None:
    if sock.closed:
        raise ZMQError(errno.ENOTSOCK, f"Proxy {role} socket is closed")
    if sock._proxy is not None:
        raise ZMQError(errno.EBUSY, f"Proxy {role} socket is in use by another running Proxy")
    if sock._endpoints <= 0:
        raise ZMQError(errno.EINVAL, f"Proxy {role} socket must be bound or connected before run()")
    for receiving in (True, False):
        if sock._pending(receiving):
            raise ZMQError(
                errno.EBUSY,
                f"Proxy {role} socket has a pending {'receive' if receiving else 'send'}: "
                "the proxy cannot take it over",
            )


__all__ = ["Proxy", "ProxyEndStatistics", "ProxyStatistics"]
