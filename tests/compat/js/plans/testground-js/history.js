'use strict'

const crypto = require('crypto')
const collect = require('./collect')

// Every instance publishes, then (once all have) subscribes: a late subscriber must get
// every earlier message, in the order the topic numbered them.
module.exports = async (runenv, client) => {
  const total = runenv.testInstanceCount
  const count = Number.parseInt(runenv.testInstanceParams.messages)
  const me = `${runenv.testGroupId}-${process.pid}`

  const seqs = []
  for (let n = 0; n < count; n++) {
    seqs.push(await client.publish('history', { from: me, n }))
  }
  await client.signalAndWait('published', total)

  const seen = await collect(await client.subscribe('history'), total * count)
  seqs.forEach((seq, n) => {
    const item = seen[seq - 1]
    if (item.from !== me || item.n !== n) {
      throw new Error(`message ${n} was published as #${seq} but #${seq} is ${JSON.stringify(item)}`)
    }
  })
  const next = {}
  for (const item of seen) {
    const expected = next[item.from] || 0
    if (item.n !== expected) {
      throw new Error(`${item.from}: got message ${item.n} where ${expected} was due`)
    }
    next[item.from] = expected + 1
  }
  if (Object.keys(next).length !== total) {
    throw new Error(`heard from ${Object.keys(next).length} publishers, expected ${total}`)
  }
  const digest = crypto.createHash('sha256').update(JSON.stringify(seen)).digest('hex')
  runenv.recordMessage(`history of ${seen.length} messages, digest ${digest}`)
}
