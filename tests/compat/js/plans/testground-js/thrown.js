'use strict'

// Testground's plans/example-js `failure` case: an error thrown from the test case is
// recorded by the SDK as a failure. One argument: no sync client, events go to stdout only.
module.exports = async (runenv) => {
  runenv.recordMessage('This is what happens when there is a failure')
  throw new Error('intentional oops')
}
