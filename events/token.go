package events

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// TokenPrefix starts every API token rectify issues, so that a leaked token
// is recognisable (secret scanners, logs). The rest is 32 random bytes in
// unpadded base64url.
const TokenPrefix = "rfy_"

// TokenHash returns the lowercase hex SHA-256 of a token's whole text,
// prefix included: the value recorded in rectify.user.token_issued, and the
// one to look a presented token up by. The token itself is never stored.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// LooksLikeToken reports whether s has the shape of a rectify API token, so
// that an edge can refuse garbage before hashing and looking it up.
func LooksLikeToken(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok || len(rest) != 43 { // base64url of 32 bytes, unpadded
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
