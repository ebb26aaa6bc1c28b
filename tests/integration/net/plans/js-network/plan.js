'use strict'

// sdk-js's own network client: configureNetwork (snake_case JSON on the scoped
// network:<hostname> topic, then the callback barrier), an IPv4 change, getDataNetworkIP.
const dgram = require('dgram')
const { invoke, network } = require('@testground/sdk')

const PORT = 5000

function udp (ip) {
  const sock = dgram.createSocket('udp4')
  return new Promise((resolve, reject) => {
    sock.once('error', reject)
    sock.bind(PORT, ip, () => resolve(sock))
  })
}

function echo (sock, peer, payload) {
  return new Promise((resolve) => {
    sock.once('message', () => resolve())
    sock.send(payload, PORT, peer)
  })
}

invoke(async (runenv, client) => {
  const net = network.newClient(client, runenv)
  const total = runenv.testInstanceCount
  await net.waitNetworkInitialized()
  const shape = { latency: 50 * 1e6, bandwidth: 1 << 20 }
  await net.configureNetwork({
    network: 'default',
    enable: true,
    default: shape,
    routingPolicy: network.DENY_ALL,
    callbackState: 'shaped'
  })

  const seq = await client.signalAndWait('ip-allocation', total)
  const [base, prefix] = runenv.testSubnet
  const octets = base.toByteArray()
  const ipOf = (n) => `${octets[0]}.${octets[1]}.2.${n}`
  await net.configureNetwork({
    network: 'default',
    enable: true,
    default: shape,
    IPv4: `${ipOf(seq)}/${prefix}`,
    callbackState: 'moved'
  })
  const mine = net.getDataNetworkIP()
  if (mine !== ipOf(seq)) throw new Error(`my data network IP is ${mine}, expected ${ipOf(seq)}`)

  const sock = await udp(mine)
  if (seq === 1) {
    sock.on('message', (msg, from) => sock.send(msg, from.port, from.address))
  }
  await client.signalAndWait('bound', total)
  if (seq === 2) {
    let best = Infinity
    for (let i = 0; i < 5; i++) {
      const started = process.hrtime.bigint()
      await echo(sock, ipOf(1), Buffer.from(`ping ${i}`))
      best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e6)
    }
    runenv.recordMessage(`udp rtt ${best.toFixed(1)} ms`)
    if (best < 100 || best > 115) throw new Error(`rtt ${best} ms outside [100, 115]`)
  }
  await client.signalAndWait('done', total)
  sock.close()
})
