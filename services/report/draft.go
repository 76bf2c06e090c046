package report

// Draft is what Parse proposes from one report, for a person to review
// before anything is written: the problems as items with their causes and
// measures, and the countable promises as commitments. Every entry names
// the file line it came from (1-based, as an editor counts them), and
// every text is the report's own, character for character; only titles
// lose the line breaks of hard-wrapped sentences.
//
// Keys (p1, p1.m2, c3, u1) identify entries in a review (Assignments) and,
// with the import key, make a confirmed import idempotent. They are stable
// for the same text.
type Draft struct {
	// Title is the report's title line (东风街道工委2019年度抓基层党建工作述职报告).
	Title string `json:"title"`
	// Unit is the author unit when the title or the lines under it name
	// one (东风街道工委).
	Unit string `json:"unit,omitempty"`
	// Year is the year the report looks back on, from 2019年度 in the
	// title; its next-year work is for Year+1.
	Year int `json:"year,omitempty"`
	// Encoding is how the file was read: utf-8, utf-8-bom, utf-16le,
	// utf-16be or gb18030.
	Encoding string `json:"encoding"`
	// Digest is the hex SHA-256 of the file's bytes.
	Digest string `json:"digest"`
	// Lines is the number of lines in the file.
	Lines int `json:"lines"`
	// Sections lists the sections found and how each was read.
	Sections []DraftSection `json:"sections"`
	// Items are the problems found, one per problem.
	Items []DraftItem `json:"items"`
	// Commitments are the countable promises of the next-year work.
	Commitments []DraftCommitment `json:"commitments"`
	// Unmatched are next-year measures that answer no problem clearly.
	// Commands writes them only when the review attaches them to an item.
	Unmatched []DraftMeasure `json:"unmatched,omitempty"`
	// UnmatchedCauses are causes, from a section of their own, that could
	// not be tied to one problem.
	UnmatchedCauses []Excerpt `json:"unmatched_causes,omitempty"`
	// Skipped lists the lines left out as not part of the report.
	Skipped []SkippedLine `json:"skipped"`
	// Warnings says what the reader should check: no problems section
	// found, characters that could not be decoded, and the like.
	Warnings []string `json:"warnings,omitempty"`
}

// Section kinds.
const (
	SectionWork     = "work"               // achievements, background: read for nothing
	SectionProblems = "problems"           // 存在的问题: one item per problem
	SectionCauses   = "causes"             // 原因分析 on its own: causes of the problems
	SectionPlans    = "plans"              // 下一步工作: measures and commitments
	SectionMixed    = "problems_and_plans" // 存在问题及整改措施: both in each entry
)

// Ways a measure was tied to its item.
const (
	MatchOrder     = "order"     // the n-th work area answers the n-th problem
	MatchKeywords  = "keywords"  // the work area shares the most words with the problem
	MatchInline    = "inline"    // written under the problem itself
	MatchUnmatched = "unmatched" // no problem clearly
)

// DraftSection is one top-level section of the report.
type DraftSection struct {
	Kind  string `json:"kind"`
	Title string `json:"title"`
	Line  int    `json:"line"`
	// Match says how the section's measures or causes were tied to the
	// problems: order or keywords (empty for other sections).
	Match string `json:"match,omitempty"`
}

// DraftItem is a problem the report names, to become an item.
type DraftItem struct {
	Key string `json:"key"`
	// Title is the problem's first sentence.
	Title string `json:"title"`
	// Text is the problem as written, without its causes and measures.
	Text string `json:"text"`
	// Causes are the reasons the report gives for it.
	Causes []string `json:"causes"`
	// Measures are what the report plans against it.
	Measures []DraftMeasure `json:"measures"`
	// Category is a suggestion from the problem's words (组织建设, 作风建设 …),
	// empty when none fits.
	Category string `json:"category,omitempty"`
	Line     int    `json:"line"`
}

// DraftMeasure is a measure of next year's work.
type DraftMeasure struct {
	Key  string `json:"key"`
	Text string `json:"text"`
	Line int    `json:"line"`
	// Area is the title of the work area it belongs to.
	Area string `json:"area,omitempty"`
	// Match says how it was tied to its item (MatchOrder …).
	Match string `json:"match"`
}

// DraftCommitment is a countable promise, to become a commitment.
type DraftCommitment struct {
	Key string `json:"key"`
	// Title is the clause the promise was read from, without its
	// enumeration (班子成员每周至少到分包社区走访2次).
	Title string `json:"title"`
	// Text is the clause as written.
	Text string `json:"text"`
	Quantity
	// Item is the key of the item whose measures the promise stands among,
	// when its work area was tied to one.
	Item string `json:"item,omitempty"`
	// Ledger is the week, month or quarter form proposed for the ledger.
	Ledger Ledger `json:"ledger"`
	Line   int    `json:"line"`
}

// Excerpt is a piece of the report with its line.
type Excerpt struct {
	Text string `json:"text"`
	Line int    `json:"line"`
}

// SkippedLine is a line left out of the draft, and why (Reason*).
type SkippedLine struct {
	Line   int    `json:"line"`
	Text   string `json:"text"`
	Reason string `json:"reason"`
}
