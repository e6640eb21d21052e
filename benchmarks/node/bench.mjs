// The Node.js side of benchmarks/bench_node.py: the npm package `zeromq` (6.x)
// measured the way zeromq._cli._measure measures the Python libraries.
//
// A process of this script reads one JSON command per line on stdin and
// answers with JSON lines on stdout, like a Python benchmark worker. The
// driver (bench_node.py) runs two of them, so that both ends of a tcp
// measurement are Node.js processes:
//
//   {"op": "version"}
//       -> {"node", "zeromq", "libzmq"}
//   {"op": "receive", "case", "limit"}   bind the PULL (ROUTER) on tcp://127.0.0.1:*
//       -> {"endpoint"}, then, counted from the first message until the limit,
//       -> {"messages", "seconds", "received"}
//   {"op": "echo", "case"}               bind a REP that echoes until an empty request
//       -> {"endpoint"}, then {"done": true}
//   {"op": "send", "case", "endpoint"}   connect a PUSH (DEALER) and send as fast as it can
//       -> {"sending": true}; on the next line, {"op": "stop"}: -> {"sent"}
//   {"op": "trips", "case", "limit", "endpoint"}   connect a REQ: the mean round
//       -> {"value"}                      trip in microseconds, after a warm-up
//
// "case" and "limit" are _measure's Case and Limit as JSON. As there, sockets
// have linger 0 and a high-water mark of 1000 messages (fewer for large ones,
// so that a queue stays near 32 MiB), a receive that waits 10 s fails the
// measurement, and the clock is read every `stride` messages. A failure is
// answered with {"error"}.

import { createRequire } from "node:module"
import { performance } from "node:perf_hooks"
import { createInterface } from "node:readline"

import * as zmq from "zeromq"

const STALL_MS = 10_000 // a receive waiting this long fails the measurement
const STOP_CHECK_MS = 100 // a blocked sender gives up this often to look for "stop"
const STOP = Buffer.alloc(0) // the request that ends an echoing REP

const PATTERNS = {
  // name: [socket class of the bound end, of the connected end]
  "push-pull": [zmq.Pull, zmq.Push],
  "dealer-router": [zmq.Router, zmq.Dealer],
  "req-rep": [zmq.Reply, zmq.Request],
}

function hwm(size) {
  return Math.max(4, Math.min(1000, Math.floor((32 * 2 ** 20) / size)))
}

function stride(size) {
  return Math.max(1, Math.min(256, Math.floor(65536 / size)))
}

function socket(Kind, size) {
  // Each option only where the socket type has it (a PULL has no send side).
  const options = { linger: 0 }
  const wanted = { sendHighWaterMark: hwm(size), receiveHighWaterMark: hwm(size), receiveTimeout: STALL_MS }
  for (const [name, value] of Object.entries(wanted)) {
    if (name in Kind.prototype) options[name] = value
  }
  return new Kind(options)
}

function seconds(limit) {
  return limit.seconds ?? Infinity
}

function count(limit) {
  return limit.count ?? Number.MAX_SAFE_INTEGER
}

// -- stdin, one line at a time, also while a measurement runs --------------------

const lines = []
let waiting = null
let ended = false
const input = createInterface({ input: process.stdin })
input.on("line", (line) => {
  lines.push(line)
  if (waiting) waiting()
})
input.on("close", () => {
  ended = true
  if (waiting) waiting()
})

async function nextLine() {
  while (lines.length === 0) {
    if (ended) return null
    await new Promise((resolve) => {
      waiting = resolve
    })
    waiting = null
  }
  return lines.shift()
}

function emit(reply) {
  process.stdout.write(JSON.stringify(reply) + "\n")
}

// -- the measurements -----------------------------------------------------------------

async function receive({ case: c, limit }) {
  const [Bound] = PATTERNS[c.pattern]
  const sock = socket(Bound, c.size)
  try {
    await sock.bind("tcp://127.0.0.1:*")
    emit({ endpoint: sock.lastEndpoint })
    const first = await sock.receive()
    const received = first[first.length - 1].constructor.name
    const every = stride(c.size)
    const most = count(limit)
    const start = performance.now()
    const end = start + seconds(limit) * 1000
    let done = 0
    while (done < most) {
      const batch = Math.min(every, most - done)
      for (let i = 0; i < batch; i++) await sock.receive()
      done += batch
      if (performance.now() >= end) break
    }
    return { messages: done, seconds: (performance.now() - start) / 1000, received }
  } finally {
    sock.close()
  }
}

async function echo({ case: c }) {
  const sock = socket(zmq.Reply, c.size)
  try {
    await sock.bind("tcp://127.0.0.1:*")
    emit({ endpoint: sock.lastEndpoint })
    for (;;) {
      const message = await sock.receive()
      await sock.send(message)
      if (message.length === 1 && message[0].length === 0) return { done: true }
    }
  } finally {
    sock.close()
  }
}

async function send({ case: c, endpoint }) {
  const [, Connected] = PATTERNS[c.pattern]
  const sock = socket(Connected, c.size)
  sock.sendTimeout = STOP_CHECK_MS
  const payload = Buffer.alloc(c.size, "x")
  const every = stride(c.size)
  let stopped = false
  let sent = 0
  try {
    sock.connect(endpoint)
    emit({ sending: true })
    const flood = (async () => {
      while (!stopped) {
        try {
          for (let i = 0; i < every; i++) {
            await sock.send(payload)
            sent++
          }
        } catch (err) {
          if (err.code !== "EAGAIN") throw err
        }
        // A send that needs no wait resolves without going back to the event
        // loop: let it read stdin now and then.
        await new Promise(setImmediate)
      }
    })()
    const line = await nextLine()
    stopped = true
    await flood
    if (line === null || JSON.parse(line).op !== "stop") throw new Error("expected a stop command")
    return { sent }
  } finally {
    stopped = true
    sock.close()
  }
}

async function trips({ case: c, limit, endpoint }) {
  const sock = socket(zmq.Request, c.size)
  const payload = Buffer.alloc(c.size, "x")
  try {
    sock.connect(endpoint)
    // The warm-up: at most 100 round trips, and at most a tenth of the time limit.
    const warmEnd = performance.now() + (seconds(limit) * 1000) / 10
    for (let i = 0; i < 100; i++) {
      await sock.send(payload)
      await sock.receive()
      if (performance.now() >= warmEnd) break
    }
    const most = count(limit)
    const start = performance.now()
    const end = start + seconds(limit) * 1000
    let done = 0
    while (done < most) {
      await sock.send(payload)
      await sock.receive()
      done++
      if (performance.now() >= end) break
    }
    const mean = ((performance.now() - start) / done) * 1000
    await sock.send(STOP)
    await sock.receive()
    return { value: mean }
  } finally {
    sock.close()
  }
}

function version() {
  const require = createRequire(import.meta.url)
  return { node: process.version, zeromq: require("zeromq/package.json").version, libzmq: zmq.version }
}

const OPS = { receive, echo, send, trips, version }

for (;;) {
  const line = await nextLine()
  if (line === null) break
  if (!line.trim()) continue
  let command
  try {
    command = JSON.parse(line)
    const op = OPS[command.op]
    if (!op) throw new Error(`unknown op ${command.op}`)
    emit(await op(command))
  } catch (err) {
    const what = command?.case ? `${command.case.pattern} ${command.case.size} B: ` : ""
    const message = err?.code === "EAGAIN" ? `no message for ${STALL_MS / 1000} s` : String(err?.message ?? err)
    emit({ error: what + message })
  }
}
