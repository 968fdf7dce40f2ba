// PayFlow's replacement for kafkajs 2.2.4 src/consumer/filterAbortedMessages.js, copied over it
// by scripts/patch-dependencies.mjs on `npm ci` / `npm install`.
//
// The original opened at most one aborted transaction per message and assumed the broker's list
// sorted by first offset. A fetch that starts inside two aborted transactions (both began before
// the fetched offset: the first fetch stopped at the last stable offset between them) then
// delivered the first record of the second one to a read_committed consumer. Here, as in the
// Java client's Fetcher, every aborted transaction whose first offset is at or below the record's
// offset is opened, in first-offset order, before the record is judged; and only a control
// record ends one (the original also took an ordinary record whose key is four zero bytes).
const Long = require('../utils/long')
const ABORTED_MESSAGE_KEY = Buffer.from([0, 0, 0, 0])

const isAbortMarker = ({ key, isControlRecord }) => {
  // Handle null/undefined keys.
  if (!isControlRecord || !key) return false
  // Cast key to buffer defensively
  return Buffer.from(key).equals(ABORTED_MESSAGE_KEY)
}

/**
 * Remove messages marked as aborted according to the aborted transactions list.
 *
 * Start of an aborted transaction is determined by message offset.
 * End of an aborted transaction is determined by control messages.
 * @param {Message[]} messages
 * @param {Transaction[]} [abortedTransactions]
 * @returns {Message[]} Messages which did not participate in an aborted transaction
 *
 * @typedef {object} Message
 * @param {Buffer} key
 * @param {lastOffset} key  Int64
 * @param {RecordBatch}  batchContext
 *
 * @typedef {object} Transaction
 * @param {string} firstOffset  Int64
 * @param {string} producerId  Int64
 *
 * @typedef {object} RecordBatch
 * @param {string}  producerId  Int64
 * @param {boolean}  inTransaction
 */
module.exports = ({ messages, abortedTransactions }) => {
  if (!abortedTransactions || !abortedTransactions.length) {
    return messages
  }

  const remainingAbortedTransactions = [...abortedTransactions].sort((a, b) =>
    Long.fromValue(a.firstOffset).compare(Long.fromValue(b.firstOffset))
  )
  const currentAbortedTransactions = new Set()

  return messages.filter(message => {
    // Every aborted transaction that began at or before this offset is open from here on.
    while (
      remainingAbortedTransactions.length &&
      Long.fromValue(message.offset).gte(remainingAbortedTransactions[0].firstOffset)
    ) {
      currentAbortedTransactions.add(String(remainingAbortedTransactions.shift().producerId))
    }

    const producerId = String(message.batchContext.producerId)

    if (isAbortMarker(message)) {
      // Transaction is over, we no longer need to ignore messages from this producer
      currentAbortedTransactions.delete(producerId)
    } else if (currentAbortedTransactions.has(producerId) && message.batchContext.inTransaction) {
      return false
    }

    return true
  })
}
