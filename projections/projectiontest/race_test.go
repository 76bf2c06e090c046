//go:build race

package projectiontest

// The race detector makes the views' SQLite about ten times slower; under
// it the tests run on smaller histories to stay within the package's time
// budget (TestRebuildMatchesIncrementalBuild on about 3,000 events instead of
// 100,000).
const raceEnabled = true
