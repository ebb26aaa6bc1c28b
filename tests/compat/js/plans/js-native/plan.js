'use strict'

// One case, started with sdk-js's `invoke` (no case map); the entry is package.json's `main`.
const { invoke } = require('@testground/sdk')

invoke(async (runenv, client) => {
  const total = runenv.testInstanceCount
  const seq = await client.signalAndWait('here', total)
  const { sub } = await client.publishSubscribe('ring', { seq })
  const seen = new Set()
  while (seen.size < total) {
    const { value } = await sub.wait.next()
    seen.add(value.seq)
  }
  sub.cancel()
  runenv.recordMessage(`everyone is here: ${seen.size} of ${total}`)
})
