'use strict'

// The plan's entry point, as in Testground's plans/example-js: one module per case.
const { invokeMap } = require('@testground/sdk')

const testcases = {
  barrier: require('./barrier'),
  history: require('./history'),
  pubsub: require('./pubsub'),
  failure: require('./failure'),
  thrown: require('./thrown'),
  crash: require('./crash'),
  output: require('./output'),
  params: require('./params')
}

;(async () => {
  await invokeMap(testcases)
})()
