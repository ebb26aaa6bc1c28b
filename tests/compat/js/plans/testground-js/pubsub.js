'use strict'

const collect = require('./collect')

// publishSubscribe: announce yourself and read the roster until every peer is in it.
module.exports = async (runenv, client) => {
  const total = runenv.testInstanceCount
  const me = `${runenv.testGroupId}-${process.pid}`

  const { seq, sub } = await client.publishSubscribe('peers', { id: me, at: Date.now() })
  const peers = await collect(sub, total)
  const ids = new Set(peers.map((p) => p.id))
  if (ids.size !== total) {
    throw new Error(`expected ${total} distinct peers, found ${ids.size}`)
  }
  if (peers[seq - 1].id !== me) {
    throw new Error(`my announcement got seq ${seq} but sits elsewhere in the roster`)
  }
  runenv.recordMessage(`found ${ids.size} peers; I am #${seq}`)
}
