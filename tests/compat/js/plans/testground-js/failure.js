'use strict'

// A failure recorded through the SDK. The case then returns normally, so the SDK goes on
// to record a success as well: the first outcome an instance reports is the one that counts.
module.exports = async (runenv, client) => {
  runenv.recordMessage('checking the answer')
  await runenv.recordFailure(new Error('expected 54, got 42'))
}
