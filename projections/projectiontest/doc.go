// Package projectiontest holds the end-to-end tests of the projections:
// the real views fed from a real embedded event store through the relay
// and a real in-process NATS server with JetStream, under redelivery,
// runner crashes (a child process killed mid-batch), NATS restarts, a
// deleted stream, rebuilds, and replicas answering through the query queue
// group. It has no code of its own besides the tests; they live apart from
// package projections so that they build against its exported API only.
package projectiontest
