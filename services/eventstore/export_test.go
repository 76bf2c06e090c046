package eventstore

// HeadPage lets tests read $all in pages smaller than their history.
var HeadPage = &headPage
