'use strict'

// Reads `count` items from a subscription, or throws after `timeoutMs`: a missing
// message must fail the case, not hang it.
module.exports = async function collect (sub, count, timeoutMs = 20000) {
  const items = []
  let timer
  const expired = new Promise((resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`got ${items.length} of ${count} messages in ${timeoutMs} ms`)),
      timeoutMs
    )
  })
  try {
    while (items.length < count) {
      const next = await Promise.race([sub.wait.next(), expired])
      if (next.done) throw new Error(`subscription ended after ${items.length} of ${count}`)
      items.push(next.value)
    }
  } finally {
    clearTimeout(timer)
    sub.cancel()
  }
  return items
}
