package gateway

// Reading JSON request bodies: the checks every JSON body passes before
// it is decoded into anything, so that hostile input is refused with a
// message naming the field instead of being silently altered by
// encoding/json (which replaces invalid UTF-8, keeps the last of two equal
// keys, and matches keys regardless of case).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"rectify/events"
)

// maxJSONDepth bounds the nesting of a JSON body. The deepest body rectify
// takes (a report import: review, draft, entry, measure) nests five
// levels; anything far deeper is an attack on the decoder, not a request.
const maxJSONDepth = 32

// readJSONBody reads a request body of at most limit bytes that must be
// JSON. what names the body in messages ("the command", "the review").
//
// Errors: a 415 for a Content-Type other than application/json (a
// missing one is taken as JSON); a 413 when the declared Content-Length
// or the body itself exceeds limit, before the body is read; CodeInvalid
// when the body cannot be read.
func readJSONBody(c *gin.Context, limit int64, what string) ([]byte, error) {
	if ct := c.ContentType(); ct != "" && ct != "application/json" {
		return nil, unsupportedType("send %s as JSON with Content-Type: application/json, not %s", what, ct)
	}
	if err := checkLength(c, limit, "the request body"); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge("the request body", limit)
		}
		return nil, events.Wrap(events.CodeInvalid, err, "could not read the request body")
	}
	return body, nil
}

// checkLength refuses, with a 413, a request whose Content-Length says it
// is larger than limit: it is answered at once instead of after reading
// (or waiting for) a body that will be refused anyway.
func checkLength(c *gin.Context, limit int64, what string) error {
	if c.Request.ContentLength > limit {
		return tooLarge(what, limit)
	}
	return nil
}

// checkJSON walks the JSON text data and refuses what encoding/json would
// accept but alter or misread, naming the field concerned (its path, like
// "entries[2].title"; "body" for the whole):
//
//   - bytes that are not UTF-8, or \u escapes of lone surrogates
//     (encoding/json turns both into U+FFFD without a word);
//   - a key given twice in one object, also when the two differ only in
//     case (encoding/json keeps the last, and matches struct fields
//     regardless of case);
//   - nesting deeper than maxJSONDepth.
//
// Syntax errors are left to the decoder, which words them with the byte
// offset; checkJSON stops at the first one without complaint.
func checkJSON(data []byte) error {
	bad := -1
	if !utf8.Valid(data) {
		bad = firstInvalidUTF8(data)
	}
	type frame struct {
		object  bool
		keys    map[string]bool // folded to lower case
		key     string          // objects: the key whose value is being read
		inValue bool            // objects: key holds; the next token is its value
		index   int             // arrays: the index of the element being read
	}
	var stack []frame
	// path names the place of the token being read; key, when not empty,
	// is a key just read in the innermost object.
	path := func(key string) string {
		var b strings.Builder
		for _, f := range stack {
			switch {
			case !f.object:
				if b.Len() == 0 {
					b.WriteString("body")
				}
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			case f.inValue:
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			}
		}
		if key != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(key)
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or a syntax error the decoder will word
		}
		end := dec.InputOffset()
		top := len(stack) - 1
		key, isKey := tok.(string)
		isKey = isKey && top >= 0 && stack[top].object && !stack[top].inValue
		field := path("")
		if isKey {
			field = path(key)
		}
		if bad >= 0 && int64(bad) < end {
			return events.InvalidField(events.Fault(field, events.ProblemBadUTF8, "must be valid UTF-8 text"))
		}
		if s, ok := tok.(string); ok && loneSurrogate(s, data[start:end]) {
			return events.InvalidField(events.Fault(field, events.ProblemBadUTF8, "must be valid Unicode text: it holds a \\u escape of a lone surrogate"))
		}
		switch {
		case isKey:
			folded := strings.ToLower(key)
			if stack[top].keys[folded] {
				return events.InvalidField(events.Fault(field, events.ProblemDuplicate, "is given more than once (keys that differ only in case count as the same key)"))
			}
			stack[top].keys[folded] = true
			stack[top].key, stack[top].inValue = key, true
			continue
		case tok == json.Delim('{') || tok == json.Delim('['):
			if len(stack) >= maxJSONDepth {
				return badJSON(fmt.Sprintf("nests deeper than %d levels", maxJSONDepth))
			}
			f := frame{object: tok == json.Delim('{')}
			if f.object {
				f.keys = map[string]bool{}
			}
			stack = append(stack, f)
			continue
		case tok == json.Delim('}') || tok == json.Delim(']'):
			stack = stack[:top]
		}
		// A value (a scalar, or a container just closed) is complete:
		// its container moves on to the next key or element.
		if n := len(stack) - 1; n >= 0 {
			if stack[n].object {
				stack[n].inValue = false
			} else {
				stack[n].index++
			}
		}
	}
}

// firstInvalidUTF8 is the offset of the first byte of data that is not
// part of valid UTF-8.
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// loneSurrogate reports whether the decoded string s got a U+FFFD from a
// \u escape of a lone surrogate in raw, its JSON text: raw escapes a
// surrogate and holds no U+FFFD of its own.
func loneSurrogate(s string, raw []byte) bool {
	if !strings.ContainsRune(s, utf8.RuneError) {
		return false
	}
	lower := bytes.ToLower(raw)
	if bytes.Contains(lower, []byte(`\ufffd`)) || bytes.Contains(raw, []byte("\uFFFD")) {
		return false
	}
	for i := 0; i+6 <= len(lower); i++ {
		if lower[i] == '\\' && lower[i+1] == 'u' && lower[i+2] == 'd' && lower[i+3] >= '8' && lower[i+3] <= 'f' &&
			(lower[i+3] <= '9' || lower[i+3] >= 'a') {
			return true
		}
	}
	return false
}
