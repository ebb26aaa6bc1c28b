'use strict'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Three ways a Node plan crashes, chosen by enrolment order, one after the other; the
// other instances succeed first, so their outcome events are in before any crash.
//   3: the plan records the crash itself, then exits
//   1: an exception thrown from a timer: Node dies, no outcome event is written
//   2: a promise rejection nobody handles: Node dies the same way
module.exports = async (runenv, client) => {
  const seq = await client.signalEntry('roles')
  if (seq > 3) {
    runenv.recordMessage(`instance ${seq} carries on`)
    await client.signalEntry('survivors')
    return
  }
  const survivors = await client.barrier('survivors', runenv.testInstanceCount - 3)
  await survivors.wait
  await sleep(200)
  if (seq === 3) {
    await runenv.recordCrash(new Error('state is corrupt'))
    await client.signalEntry('crash-recorded')
    process.exit(3)
  }
  const recorded = await client.barrier('crash-recorded', 1)
  await recorded.wait
  await sleep(200 * seq)
  if (seq === 1) {
    setTimeout(() => {
      throw new Error('boom in a timer')
    }, 10)
  } else {
    Promise.reject(new Error('nobody handled this rejection'))
  }
  await new Promise(() => {})
}
