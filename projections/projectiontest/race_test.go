//go:build race

package projectiontest

// The race detector makes the views' SQLite about ten times slower; under
// it most tests run on smaller histories (see history) to stay within the
// package's time budget. TestRebuildMatchesIncrementalBuild does not: the
// issue asks for its 100,000 events under -race, which takes about three
// to four minutes on two cores.
const raceEnabled = true
