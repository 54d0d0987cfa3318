// Package agent is the pipeline of the offbox agent: it takes records from
// on-device collectors into a bounded queue, encodes each record once into
// the open batch, seals batches into a signed hash chain, streams them to the
// collector service with a small window in flight, and reports acknowledged
// file checkpoints back to the collectors.
//
// The agent never writes to the device's disk: no spool, no positions file,
// no registry. Log files are the buffer, a byte budget bounds memory, and
// loss (a full queue, a rejected batch) is counted into the next batch
// header and recorded in the chain, never silent. A down collector service
// must never block or slow the device: nothing grows past the budget, and
// reconnects back off.
package agent
