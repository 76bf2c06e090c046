package verify

// Page lets tests walk $all in pages smaller than their history.
var Page = &page
