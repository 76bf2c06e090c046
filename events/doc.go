// Package events is rectify's domain vocabulary: the envelope every stored
// fact travels in, the named events and their payloads, the commands that
// produce them, the registry that maps names to payload types and upcasts old
// schema versions, and the one error type every layer speaks.
//
// It imports only the standard library so that the command side, the
// projections and the gateway can all share it without sharing each other.
package events
