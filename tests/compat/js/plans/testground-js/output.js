'use strict'

// Testground's plans/example-js `output` case, plus text that needs escaping.
module.exports = async (runenv) => {
  runenv.recordMessage('Hello, World.')
  runenv.recordMessage(`Additional arguments: ${process.argv.length - 2}`)
  runenv.recordMessage('quotes " and unicode \u2713 survive')
}
