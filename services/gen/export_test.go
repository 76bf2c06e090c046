package gen

// SetLoadChunk makes Load append n events per chunk until restore is
// called, so that a test crosses chunk boundaries with a small history.
func SetLoadChunk(n int) (restore func()) {
	old := loadChunk
	loadChunk = n
	return func() { loadChunk = old }
}
