'use strict'

// The JavaScript half of the `meet` case; main.py is the Python half, with the same steps.
const { invokeMap } = require('@testground/sdk')

async function collect (sub, count, timeoutMs = 20000) {
  const items = []
  let timer
  const expired = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`got ${items.length} of ${count}`)), timeoutMs)
  })
  try {
    while (items.length < count) {
      const next = await Promise.race([sub.wait.next(), expired])
      items.push(next.value)
    }
  } finally {
    clearTimeout(timer)
    sub.cancel()
  }
  return items
}

async function meet (runenv, client) {
  const total = runenv.testInstanceCount
  const params = runenv.testInstanceParams

  const seq = await client.signalEntry('enrolled')
  await client.publish('roster', {
    lang: 'js',
    group: runenv.testGroupId,
    seq,
    greeting: params.greeting
  })
  const enrolled = await client.barrier('enrolled', total)
  await enrolled.wait

  const roster = await collect(await client.subscribe('roster'), total)
  const seqs = roster.map((entry) => entry.seq).sort((a, b) => a - b)
  if (seqs.join(',') !== Array.from({ length: total }, (_, i) => i + 1).join(',')) {
    throw new Error(`enrolment numbers ${seqs} are not 1..${total}`)
  }
  for (let round = 0; round < Number.parseInt(params.rounds); round++) {
    await client.signalAndWait(`round-${round}`, total)
  }
  const langs = [...new Set(roster.map((entry) => entry.lang))].sort()
  const greetings = [...new Set(roster.map((entry) => `${entry.group}:${entry.greeting}`))].sort()
  runenv.recordMessage(`roster langs=${langs.join(',')} greetings=${greetings.join(',')}`)
}

;(async () => {
  await invokeMap({ meet })
})()
