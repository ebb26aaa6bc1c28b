'use strict'

// The Node client of the tracer-overhead study (groups built with exec:node); main.py is
// the Python client and the controller. Same steps as the Python client: learn the
// controller's URL from topic `controller`, fetch `batch` units at a time, run each
// (`unit_iters` SHA-256 rounds), pause `sleep_ms`; with `traced` every unit is a span of
// the OpenTelemetry JS SDK, exported over OTLP/HTTP (JSON) to the mock collector (no
// gRPC here: `exporter = "grpc"` is refused).
// Metrics go to results.out in Choreograph's format, one JSON line per observation, with
// the same names as the Python client's.
const crypto = require('crypto')
const fs = require('fs')
const path = require('path')
const { setTimeout: sleep } = require('timers/promises')
const { invokeMap } = require('@testground/sdk')

const TOPIC = 'controller'
const DONE = 'clients-done'

function recorder (outputs) {
  const file = path.join(outputs, 'results.out')
  const lines = []
  return {
    record (name, value, type = 'point', unit = '') {
      const ts = (BigInt(Date.now()) * 1000000n).toString()
      lines.push(`{"name":${JSON.stringify(name)},"type":"${type}","unit":"${unit}","ts":${ts},"value":${value}}`)
    },
    flush () { fs.appendFileSync(file, lines.splice(0).map((l) => l + '\n').join('')) }
  }
}

function durationSeconds (text) {
  const units = { ms: 1e-3, s: 1, m: 60, h: 3600 }
  const match = /^([0-9.]+)(ms|s|m|h)$/.exec(text)
  if (!match) throw new Error(`duration ${text}: expected a number and ms, s, m or h`)
  return Number(match[1]) * units[match[2]]
}

function tracing (params, instance) {
  const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base')
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http')
  const { Resource } = require('@opentelemetry/resources')
  const timeoutMillis = durationSeconds(params.export_timeout) * 1000
  const url = `http://${process.env.CHOREO_SERVICE_COLLECTOR_ADDR}/v1/traces`
  const inner = new OTLPTraceExporter({ url, timeoutMillis })
  const counts = { exported: 0, failed: 0 }
  const counting = {
    export (spans, done) {
      inner.export(spans, (result) => {
        if (result.code === 0) counts.exported += spans.length
        else counts.failed += spans.length
        done(result)
      })
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush()
  }
  const provider = new BasicTracerProvider({
    resource: new Resource({ 'service.name': `client-${instance}` })
  })
  provider.addSpanProcessor(new BatchSpanProcessor(counting, { exportTimeoutMillis: timeoutMillis }))
  return { counts, timeoutMillis, provider, tracer: provider.getTracer('tracer-overhead') }
}

function unit (item, iters) {
  let digest = Buffer.alloc(8)
  digest.writeBigUInt64LE(BigInt(item))
  for (let i = 0; i < iters; i++) digest = crypto.createHash('sha256').update(digest).digest()
  return digest
}

function cpuSeconds () {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

async function overhead (runenv, client) {
  const params = runenv.testInstanceParams
  if (params.traced === 'true' && (params.exporter || 'http') !== 'http') {
    throw new Error(`exporter ${params.exporter}: the Node client exports over OTLP/HTTP only`)
  }
  const instance = `${runenv.testGroupId}/${process.env.CHOREO_GROUP_INDEX || '0'}`
  const sub = await client.subscribe(TOPIC)
  const { value: { url } } = await sub.wait.next()
  sub.cancel()

  const iters = Number.parseInt(params.unit_iters)
  const pause = Number(params.sleep_ms)
  const batch = Number.parseInt(params.batch)
  const traced = params.traced === 'true'
  const otel = traced ? tracing(params, instance) : null
  const out = recorder(runenv.testOutputsPath)
  let started = 0
  let units = 0
  const cpu0 = cpuSeconds()
  const clock0 = performance.now()
  for (;;) {
    const answer = await fetch(`${url}?client=${encodeURIComponent(instance)}&n=${batch}`)
    const work = await answer.json()
    if (work.done) break
    const batchCpu = cpuSeconds()
    for (const item of work.items) {
      const t0 = performance.now()
      if (otel) {
        otel.tracer.startActiveSpan('unit', { attributes: { item } }, (span) => {
          unit(item, iters)
          span.end()
        })
        started++
      } else {
        unit(item, iters)
      }
      out.record('unit_time', performance.now() - t0, 'timer', 'ms')
      await sleep(pause)
    }
    units += work.items.length
    out.record('unit_cpu', (cpuSeconds() - batchCpu) / work.items.length * 1e6, 'histogram', 'us')
  }
  const program = cpuSeconds() - cpu0
  const clock = (performance.now() - clock0) / 1000
  if (otel) {
    const closing = performance.now()
    // A collector that refuses everything would hold the run in retries: give up then.
    // A refused last export rejects the shut-down: those spans count as dropped.
    const shutdown = otel.provider.shutdown().catch(() => {})
    await Promise.race([shutdown, sleep(otel.timeoutMillis * 2)])
    out.record('close_time', (performance.now() - closing) / 1000, 'point', 's')
  }
  const exported = otel ? otel.counts.exported : 0
  const failed = otel ? otel.counts.failed : 0
  out.record('program_time', program, 'point', 's')
  out.record('clock_time', clock, 'point', 's')
  out.record('cpu_share', 100 * program / clock, 'point', '%')
  out.record('units', units)
  out.record('spans_started', started)
  out.record('spans_exported', exported)
  out.record('spans_failed', failed)
  out.record('spans_dropped', started - exported)
  out.flush()
  runenv.recordMessage(
    `${units} units in ${clock.toFixed(1)}s, cpu ${(100 * program / clock).toFixed(1)}%, ` +
    `spans started ${started} exported ${exported} failed ${failed}`
  )
  await client.signalEntry(DONE)
  if (!units) throw new Error('the controller handed out no work')
}

;(async () => {
  await invokeMap({ overhead })
})()
