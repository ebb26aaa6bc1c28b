'use strict'

// sdk-js hands params over as strings (runenv.testInstanceParams); a plan converts them.
// The case records what it read, typed, so the runner's encoding can be checked.
module.exports = async (runenv) => {
  const p = runenv.testInstanceParams
  const typed = {
    count: Number.parseInt(p.count, 10),
    ratio: Number.parseFloat(p.ratio),
    verbose: p.verbose === 'true',
    greeting: p.greeting,
    interval: p.interval,
    layout: JSON.parse(p.layout)
  }
  if (!Number.isInteger(typed.count) || Number.isNaN(typed.ratio)) {
    throw new Error(`params did not parse: ${JSON.stringify(p)}`)
  }
  runenv.recordMessage(`params ${JSON.stringify(typed)}`)
}
