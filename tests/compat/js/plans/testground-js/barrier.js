'use strict'

const collect = require('./collect')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// signalEntry gives every instance a distinct sequence number, and a barrier releases
// nobody before the last instance has entered it.
module.exports = async (runenv, client) => {
  const total = runenv.testInstanceCount
  const rounds = Number.parseInt(runenv.testInstanceParams.rounds)

  const seq = await client.signalEntry('enrolled')
  runenv.recordMessage(`my sequence ID: ${seq}`)
  if (!(seq >= 1 && seq <= total)) {
    throw new Error(`sequence ID ${seq} is outside 1..${total}`)
  }

  for (let round = 0; round < rounds; round++) {
    await sleep(Math.random() * 150)
    const entered = Date.now()
    await client.signalEntry(`round-${round}`)
    const barrier = await client.barrier(`round-${round}`, total)
    await barrier.wait
    await client.publish(`times-${round}`, { seq, entered, released: Date.now() })
  }

  for (let round = 0; round < rounds; round++) {
    const times = await collect(await client.subscribe(`times-${round}`), total)
    const lastEntry = Math.max(...times.map((t) => t.entered))
    const early = times.filter((t) => t.released < lastEntry)
    if (early.length > 0) {
      throw new Error(`round ${round}: ${early.length} released before the last entered`)
    }
  }
  runenv.recordMessage(`passed ${rounds} barriers with ${total} instances`)
}
