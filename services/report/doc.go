// Package report turns an annual work report (述职报告) into a draft ledger
// and, once a person has reviewed the draft, into the commands that write
// it.
//
// The flow is three steps, each a plain function so that the CLI, the
// gateway and the dashboard can share it:
//
//  1. Parse reads the report (UTF-8, UTF-16 with a byte order mark, or
//     GB18030) and proposes a Draft: one item per problem with its causes
//     and measures, one commitment per countable promise (ReadQuantity,
//     LedgerFor), every entry with the line it came from, and the lines
//     left out as noise.
//  2. A reviewer edits the draft and fills in Assignments (NewReview gives
//     a Review file to start from): cycle, units, owners, deadlines;
//     entries dropped, moved, accepted or restated.
//  3. Draft.Commands checks the review and returns the Steps (RaiseItem,
//     AssignItem, PlanMeasure, MakeCommitment) with an idempotency key
//     each; Apply runs them through any executor, and running it again
//     finishes an import that was cut off. Draft.Import groups the same
//     steps into the one events.ImportReport command that the gateway and
//     the CLI send: the command side checks every entry before it writes
//     any, under one idempotency key.
//
// The package does no I/O of its own beyond reading the report it is
// given, and imports only the domain package and golang.org/x/text.
package report
